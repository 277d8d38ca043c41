//! Per-sender media keys and per-packet ChaCha20-Poly1305 (SFrame-style, RFC 9605 as the model).
//!
//! Datagram layout (fixed by the wire format):
//!
//! ```text
//! MediaHeader (16) || epoch (1) || ChaCha20-Poly1305(payload || [QualityReport 4]) || tag (16)
//! ```
//!
//! AAD is the 16 header bytes and the epoch byte, so a relay cannot alter any
//! header field unnoticed. The nonce is `salt XOR (sender u16 || stream u8 ||
//! epoch u8 || 0u32 || seq u32)`, all from the packet itself: loss and
//! reordering cannot desynchronise it, unlike the reference's local counters.
//! Keys are per sender and per epoch and are derived with the sender's
//! fingerprint and participant id, so two senders never share a key, let alone
//! a nonce; the sender refuses to seal a sequence number that is not after the
//! last one on the same stream, so one key never sees one nonce twice.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use hkdf::Hkdf;
use rand_core::CryptoRngCore;
use sha2::Sha256;
use wzp_proto::{Fingerprint, MEDIA_HEADER_LEN, MediaHeader, ParticipantId, StreamId};
use zeroize::Zeroizing;

use crate::aead::{NONCE_LEN, PacketKey};
use crate::error::{CryptoError, Result};
use crate::replay::{ReplayVerdict, ReplayWindow, window_for};

/// Bytes of overhead a sealed packet adds to its plaintext: header, epoch byte, tag.
pub const OVERHEAD: usize = MEDIA_HEADER_LEN + 1 + TAG_LEN;
/// AEAD tag length.
pub const TAG_LEN: usize = crate::aead::TAG_LEN;
/// Default number of packets sealed under one key before it is ratcheted.
pub const DEFAULT_MAX_PACKETS_PER_KEY: u32 = 1 << 16;
/// Default time an old key is kept for packets still in flight.
pub const DEFAULT_KEY_GRACE: Duration = Duration::from_secs(2);

/// How media keys are used and retired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaConfig {
    /// Packets sealed under one key before the sender moves to the next epoch.
    pub max_packets_per_key: u32,
    /// How long a receiver keeps a superseded key for late packets.
    pub key_grace: Duration,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            max_packets_per_key: DEFAULT_MAX_PACKETS_PER_KEY,
            key_grace: DEFAULT_KEY_GRACE,
        }
    }
}

/// The key of one sender in one epoch, with everything derived from it.
/// The packet key and the secrets are zeroized on drop.
pub(crate) struct EpochKey {
    epoch: u32,
    secret: Zeroizing<[u8; 32]>,
    next_secret: Zeroizing<[u8; 32]>,
    aead: PacketKey,
    salt: [u8; 12],
}

impl EpochKey {
    /// Derives the packet key, nonce salt and ratchet successor of `secret`
    /// for this sender and epoch.
    pub(crate) fn derive(
        secret: &[u8; 32],
        fp: &Fingerprint,
        pid: ParticipantId,
        epoch: u32,
    ) -> Self {
        let hk = Hkdf::<Sha256>::new(Some(b"wzp-v2 media"), secret);
        let mut ctx = [0u8; 22];
        ctx[..16].copy_from_slice(&fp.0);
        ctx[16..18].copy_from_slice(&pid.0.to_be_bytes());
        ctx[18..].copy_from_slice(&epoch.to_be_bytes());
        let mut key = Zeroizing::new([0u8; 32]);
        let mut salt = [0u8; 12];
        let mut next = Zeroizing::new([0u8; 32]);
        // Output lengths are far below HKDF's limit: these cannot fail.
        let _ = hk.expand_multi_info(&[b"wzp-v2 media key", &ctx], key.as_mut());
        let _ = hk.expand_multi_info(&[b"wzp-v2 media nonce", &ctx], &mut salt);
        let _ = hk.expand_multi_info(&[b"wzp-v2 media ratchet", &ctx], next.as_mut());
        Self {
            epoch,
            secret: Zeroizing::new(*secret),
            next_secret: next,
            aead: PacketKey::new(&key),
            salt,
        }
    }

    /// The next epoch's key by ratchet (used after `max_packets_per_key`):
    /// one-way, so holding it reveals nothing earlier.
    pub(crate) fn ratchet(&self, fp: &Fingerprint, pid: ParticipantId) -> Self {
        Self::derive(&self.next_secret, fp, pid, self.epoch.wrapping_add(1))
    }

    pub(crate) fn epoch(&self) -> u32 {
        self.epoch
    }

    pub(crate) fn secret(&self) -> &[u8; 32] {
        &self.secret
    }

    /// The wire epoch byte (low 8 bits of the epoch).
    fn wire_epoch(&self) -> u8 {
        self.epoch as u8
    }

    fn nonce(&self, pid: ParticipantId, header_bytes: &[u8]) -> [u8; NONCE_LEN] {
        let mut n = self.salt;
        let [p0, p1] = pid.0.to_be_bytes();
        n[0] ^= p0;
        n[1] ^= p1;
        n[2] ^= header_bytes[4]; // stream id
        n[3] ^= self.wire_epoch();
        for i in 0..4 {
            n[8 + i] ^= header_bytes[6 + i]; // seq, big-endian
        }
        n
    }

    #[cfg(test)]
    pub(crate) fn nonce_for(&self, pid: ParticipantId, header: &MediaHeader) -> [u8; 12] {
        self.nonce(pid, &header.encode())
    }
}

/// The local participant's outgoing media state: current key, packet count,
/// last sealed sequence per stream.
pub struct MediaSender {
    pid: ParticipantId,
    fp: Fingerprint,
    key: EpochKey,
    sealed_under_key: u32,
    max_packets: u32,
    last_seq: Vec<Option<u32>>,
}

impl MediaSender {
    /// A sender with a fresh random key at epoch 0.
    pub fn new(
        pid: ParticipantId,
        fp: Fingerprint,
        config: &MediaConfig,
        rng: &mut impl CryptoRngCore,
    ) -> Self {
        let mut secret = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(secret.as_mut());
        Self {
            pid,
            fp,
            key: EpochKey::derive(&secret, &fp, pid, 0),
            sealed_under_key: 0,
            max_packets: config.max_packets_per_key.max(1),
            last_seq: vec![None; 256],
        }
    }

    /// A sender starting from a given secret and epoch (known-answer tests,
    /// or an engine restoring state).
    #[must_use]
    pub fn with_secret(
        pid: ParticipantId,
        fp: Fingerprint,
        epoch: u32,
        secret: &[u8; 32],
        config: &MediaConfig,
    ) -> Self {
        Self {
            pid,
            fp,
            key: EpochKey::derive(secret, &fp, pid, epoch),
            sealed_under_key: 0,
            max_packets: config.max_packets_per_key.max(1),
            last_seq: vec![None; 256],
        }
    }

    /// Current epoch.
    #[must_use]
    pub fn epoch(&self) -> u32 {
        self.key.epoch()
    }

    pub(crate) fn current_secret(&self) -> (u32, &[u8; 32]) {
        (self.key.epoch(), self.key.secret())
    }

    /// Moves to a fresh random key (join or leave): nobody who lacks the new
    /// secret can read what follows, and the new key says nothing about the old.
    pub(crate) fn rotate_random(&mut self, rng: &mut impl CryptoRngCore) -> u32 {
        let mut secret = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(secret.as_mut());
        self.key = EpochKey::derive(
            &secret,
            &self.fp,
            self.pid,
            self.key.epoch().wrapping_add(1),
        );
        self.sealed_under_key = 0;
        self.key.epoch()
    }

    /// Encrypts one packet into `out` (cleared first; no allocation once
    /// `out` has capacity `plaintext.len() + OVERHEAD`). `plaintext` is the
    /// payload followed by the 4-byte QualityReport when the header's Q flag is
    /// set. Returns `true` when this call moved to a new (ratcheted) epoch.
    pub fn seal(
        &mut self,
        header: &MediaHeader,
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<bool> {
        if header.flags.quality_report && plaintext.len() < 4 {
            return Err(CryptoError::MissingQualityTrailer);
        }
        let slot = usize::from(header.stream.0);
        if let Some(Some(last)) = self.last_seq.get(slot) {
            if header.seq.diff(wzp_proto::Seq(*last)) <= 0 {
                return Err(CryptoError::SeqNotIncreasing {
                    stream: header.stream,
                    seq: header.seq,
                });
            }
        }
        let mut rotated = false;
        if self.sealed_under_key >= self.max_packets {
            self.key = self.key.ratchet(&self.fp, self.pid);
            self.sealed_under_key = 0;
            rotated = true;
            tracing::debug!(
                epoch = self.key.epoch(),
                "media key ratcheted after packet limit"
            );
        }
        let hb = header.encode();
        out.clear();
        out.reserve(plaintext.len() + OVERHEAD);
        out.extend_from_slice(&hb);
        out.push(self.key.wire_epoch());
        out.extend_from_slice(plaintext);
        let nonce = self.key.nonce(self.pid, &hb);
        let (aad, body) = out.split_at_mut(MEDIA_HEADER_LEN + 1);
        let tag = self
            .key
            .aead
            .seal(nonce, aad, body)
            .map_err(|_| CryptoError::NoLocalKey)?;
        out.extend_from_slice(&tag);
        self.sealed_under_key += 1;
        if let Some(s) = self.last_seq.get_mut(slot) {
            *s = Some(header.seq.0);
        }
        Ok(rotated)
    }
}

/// Counters of what [`MediaReceiver::open`] accepted and rejected, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MediaStats {
    /// Packets decrypted.
    pub opened: u64,
    /// Rejected: sequence already received.
    pub replayed: u64,
    /// Rejected: sequence behind the window.
    pub too_old: u64,
    /// Rejected: tag did not verify (forged or altered).
    pub forged: u64,
    /// Rejected: no key for the sender or epoch.
    pub no_key: u64,
    /// Rejected: too short or bad header.
    pub malformed: u64,
}

struct PeerKeys {
    fp: Fingerprint,
    current: Option<EpochKey>,
    /// Superseded keys and when they are dropped (and so zeroized).
    old: Vec<(EpochKey, Instant)>,
    replay: HashMap<StreamId, ReplayWindow>,
}

/// Incoming media state: each sender's keys and replay windows.
pub struct MediaReceiver {
    peers: HashMap<ParticipantId, PeerKeys>,
    grace: Duration,
    stats: MediaStats,
}

enum KeyChoice {
    Current,
    Old(usize),
    Ratchet(EpochKey),
}

impl MediaReceiver {
    /// An empty receiver.
    #[must_use]
    pub fn new(config: &MediaConfig) -> Self {
        Self {
            peers: HashMap::new(),
            grace: config.key_grace,
            stats: MediaStats::default(),
        }
    }

    /// Counters so far.
    #[must_use]
    pub fn stats(&self) -> MediaStats {
        self.stats
    }

    /// Installs `sender`'s key for `epoch`. A newer epoch becomes current and
    /// the previous key is kept for the grace period; an older one is kept
    /// only for the grace period.
    ///
    /// Normally called by [`Session`](crate::Session) when a sender-key
    /// envelope opens; public for engines that distribute keys otherwise and
    /// for known-answer tests.
    pub fn install(
        &mut self,
        sender: ParticipantId,
        fp: Fingerprint,
        epoch: u32,
        secret: &[u8; 32],
        now: Instant,
    ) {
        let grace = self.grace;
        let peer = self.peers.entry(sender).or_insert_with(|| PeerKeys {
            fp,
            current: None,
            old: Vec::new(),
            replay: HashMap::new(),
        });
        if peer.fp != fp {
            // Same participant id, new identity: nothing from the old one is valid.
            *peer = PeerKeys {
                fp,
                current: None,
                old: Vec::new(),
                replay: HashMap::new(),
            };
        }
        let key = EpochKey::derive(secret, &fp, sender, epoch);
        match &peer.current {
            Some(cur) if cur.epoch() == epoch => peer.current = Some(key),
            Some(cur) if (epoch.wrapping_sub(cur.epoch()) as i32) < 0 => {
                peer.old.retain(|(k, _)| k.epoch() != epoch);
                peer.old.push((key, now + grace));
            }
            _ => {
                if let Some(prev) = peer.current.replace(key) {
                    peer.old.push((prev, now + grace));
                }
            }
        }
        Self::trim(peer);
    }

    /// Keeps at most a few old keys, dropping the oldest: bounded memory even
    /// under a flood of rotations.
    fn trim(peer: &mut PeerKeys) {
        while peer.old.len() > 4 {
            peer.old.remove(0);
        }
    }

    /// Forgets a sender entirely (it left); its keys are zeroized now.
    pub(crate) fn remove(&mut self, sender: ParticipantId) {
        self.peers.remove(&sender);
    }

    /// Drops superseded keys whose grace period is over.
    pub fn handle_timeout(&mut self, now: Instant) {
        for p in self.peers.values_mut() {
            p.old.retain(|(_, until)| *until > now);
        }
    }

    /// The earliest time an old key expires, if any.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.peers
            .values()
            .flat_map(|p| p.old.iter().map(|(_, t)| *t))
            .min()
    }

    /// Decrypts a datagram from `sender` into `out` (cleared first; no
    /// allocation once `out` has capacity). Returns the authenticated header;
    /// `out` then holds the payload and, if the header's Q flag is set, the
    /// 4-byte QualityReport at its end.
    pub fn open(
        &mut self,
        sender: ParticipantId,
        datagram: &[u8],
        now: Instant,
        out: &mut Vec<u8>,
    ) -> Result<MediaHeader> {
        let r = self.open_inner(sender, datagram, now, out);
        match &r {
            Ok(_) => self.stats.opened += 1,
            Err(CryptoError::Replayed { .. }) => self.stats.replayed += 1,
            Err(CryptoError::TooOld { .. }) => self.stats.too_old += 1,
            Err(CryptoError::MediaAuth { .. }) => self.stats.forged += 1,
            Err(CryptoError::NoSenderKey(_) | CryptoError::UnknownEpoch { .. }) => {
                self.stats.no_key += 1
            }
            Err(_) => self.stats.malformed += 1,
        }
        r
    }

    fn open_inner(
        &mut self,
        sender: ParticipantId,
        d: &[u8],
        now: Instant,
        out: &mut Vec<u8>,
    ) -> Result<MediaHeader> {
        if d.len() < OVERHEAD {
            return Err(CryptoError::DatagramTooShort { got: d.len() });
        }
        let header = MediaHeader::decode(d)?;
        let epoch = d[MEDIA_HEADER_LEN];
        let peer = self
            .peers
            .get_mut(&sender)
            .ok_or(CryptoError::NoSenderKey(sender))?;
        let stream = header.stream;
        let window = peer
            .replay
            .entry(stream)
            .or_insert_with(|| ReplayWindow::new(window_for(header.media_type)));
        window.check(header.seq).map_err(|v| match v {
            ReplayVerdict::Duplicate => CryptoError::Replayed {
                sender,
                stream,
                seq: header.seq,
            },
            ReplayVerdict::TooOld => CryptoError::TooOld {
                sender,
                stream,
                seq: header.seq,
            },
        })?;
        let choice = match &peer.current {
            None => return Err(CryptoError::NoSenderKey(sender)),
            Some(cur) if cur.wire_epoch() == epoch => KeyChoice::Current,
            Some(cur) => {
                if let Some(i) = peer
                    .old
                    .iter()
                    .position(|(k, until)| k.wire_epoch() == epoch && *until > now)
                {
                    KeyChoice::Old(i)
                } else if cur.epoch().wrapping_add(1) as u8 == epoch {
                    // The sender may have ratcheted after its packet limit.
                    KeyChoice::Ratchet(cur.ratchet(&peer.fp, sender))
                } else {
                    return Err(CryptoError::UnknownEpoch { sender, epoch });
                }
            }
        };
        let key = match &choice {
            KeyChoice::Current => peer.current.as_ref(),
            KeyChoice::Old(i) => peer.old.get(*i).map(|(k, _)| k),
            KeyChoice::Ratchet(k) => Some(k),
        }
        .ok_or(CryptoError::UnknownEpoch { sender, epoch })?;
        let (aad, rest) = d.split_at(MEDIA_HEADER_LEN + 1);
        let (body, tag) = rest.split_at(rest.len() - TAG_LEN);
        out.clear();
        out.extend_from_slice(body);
        let nonce = key.nonce(sender, aad);
        key.aead
            .open(nonce, aad, out, tag)
            .map_err(|_| CryptoError::MediaAuth { sender })?;
        if let KeyChoice::Ratchet(k) = choice {
            tracing::debug!(%sender, epoch = k.epoch(), "peer media key ratcheted");
            if let Some(prev) = peer.current.replace(k) {
                peer.old.push((prev, now + self.grace));
            }
            Self::trim(peer);
        }
        if let Some(w) = peer.replay.get_mut(&stream) {
            w.record(header.seq);
        }
        if header.flags.quality_report && out.len() < 4 {
            return Err(CryptoError::MissingQualityTrailer);
        }
        Ok(header)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::collections::HashSet;

    use proptest::prelude::*;
    use wzp_proto::{CodecId, Seq, TimestampMs};

    use super::*;

    const FP: Fingerprint = Fingerprint([5; 16]);

    fn header(stream: u8, seq: u32, video: bool) -> MediaHeader {
        let codec = if video {
            CodecId::H264Main
        } else {
            CodecId::Opus48k
        };
        MediaHeader::new(codec, StreamId(stream), Seq(seq), TimestampMs(seq))
    }

    #[test]
    fn nonces_unique_across_senders_streams_epochs_and_seqs() {
        // Worst case: every sender starts from the same secret.
        let secret = [0x42u8; 32];
        let mut seen = HashSet::new();
        for pid in [0u16, 1, 2, 0x0100, u16::MAX] {
            for epoch in [0u32, 1, 255, 256] {
                let k = EpochKey::derive(&secret, &FP, ParticipantId(pid), epoch);
                for stream in [0u8, 1, 2, 255] {
                    for seq in [0u32, 1, 2, 0x0100, 0x0001_0000, u32::MAX] {
                        let n = k.nonce_for(ParticipantId(pid), &header(stream, seq, false));
                        assert!(
                            seen.insert(n),
                            "nonce repeated: {pid} {epoch} {stream} {seq}"
                        );
                    }
                }
            }
        }
    }

    proptest! {
        #[test]
        fn nonce_is_injective_within_a_key(a in (any::<u8>(), any::<u32>()), b in (any::<u8>(), any::<u32>())) {
            prop_assume!(a != b);
            let k = EpochKey::derive(&[1; 32], &FP, ParticipantId(3), 9);
            let na = k.nonce_for(ParticipantId(3), &header(a.0, a.1, true));
            let nb = k.nonce_for(ParticipantId(3), &header(b.0, b.1, true));
            prop_assert_ne!(na, nb);
        }

        #[test]
        fn seal_open_round_trip(payload in proptest::collection::vec(any::<u8>(), 4..1500),
                                seqs in proptest::collection::btree_set(any::<u32>(), 1..20),
                                stream in any::<u8>(), video in any::<bool>(), q in any::<bool>()) {
            let cfg = MediaConfig::default();
            let pid = ParticipantId(7);
            let mut tx = MediaSender::with_secret(pid, FP, 3, &[9; 32], &cfg);
            let mut rx = MediaReceiver::new(&cfg);
            let now = Instant::now();
            rx.install(pid, FP, 3, &[9; 32], now);
            let mut sealed = Vec::new();
            let mut opened = Vec::new();
            // Sorted seqs are increasing, as the sender requires; open in reverse order.
            let mut packets = Vec::new();
            for s in &seqs {
                let mut h = header(stream, *s, video);
                h.flags.quality_report = q;
                if tx.seal(&h, &payload, &mut sealed).is_ok() {
                    prop_assert_eq!(sealed.len(), payload.len() + OVERHEAD);
                    packets.push((h, sealed.clone()));
                }
            }
            for (h, d) in packets.iter().rev() {
                match rx.open(pid, d, now, &mut opened) {
                    Ok(got) => {
                        prop_assert_eq!(&got, h);
                        prop_assert_eq!(&opened, &payload);
                    }
                    // Sequence numbers further apart than the window are legitimately too old.
                    Err(CryptoError::TooOld { .. }) => {}
                    Err(e) => prop_assert!(false, "{}", e),
                }
            }
        }
    }
}
