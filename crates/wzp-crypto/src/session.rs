//! One participant's end-to-end key state for one room or call: the sans-IO
//! state machine the engine drives.
//!
//! Inputs: roster changes ([`Session::add_participant`],
//! [`Session::remove_participant`]), key envelopes from peers
//! ([`Session::handle_envelope`]), media to seal or open, and time. Outputs:
//! envelope payloads to send ([`Session::poll_transmit`]), events
//! ([`Session::poll_event`]) and the next time it wants a
//! [`Session::handle_timeout`] call ([`Session::poll_timeout`]).
//!
//! Pairwise channel (one per pair of participants, the lower participant id
//! initiates): `Offer -> Answer -> Finish`, X25519 ephemeral DH, both sides
//! signing the full transcript with their identity key. The channel then
//! carries each side's media sender key, sealed with a per-direction key.
//!
//! ```no_run
//! # use wzp_crypto::{Identity, Session, SessionConfig, envelope::Context};
//! # use wzp_proto::{ParticipantId, RoomId};
//! # fn run(identity: Identity, rng: &mut rand_core::OsRng) -> wzp_crypto::Result<()> {
//! let config = SessionConfig::new(Context::Room(RoomId::from_name("x")), ParticipantId(1));
//! let mut session = Session::new(identity, config, rng);
//! session.add_participant(ParticipantId(2), None, rng)?; // from the roster
//! while let Some(env) = session.poll_transmit() {
//!     // send SignalMessage::KeyEnvelope { from: ParticipantId(1), to: env.to, payload: env.payload }
//! #   let _ = env;
//! }
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::time::Instant;

use hkdf::Hkdf;
use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256};
use wzp_proto::{Fingerprint, MediaHeader, ParticipantId};
use x25519_dalek::{PublicKey as XPublic, StaticSecret};
use zeroize::Zeroizing;

use crate::aead::{NONCE_LEN, PacketKey};
use crate::envelope::{
    Context, ENVELOPE_VERSION, Reader, Role, TYPE_ANSWER, TYPE_FINISH, TYPE_OFFER, TYPE_SENDER_KEY,
    Transcript, check_header, offer_tbs, pids,
};
use crate::error::{CryptoError, Result};
use crate::identity::{Identity, PublicIdentity};
use crate::media::{MediaConfig, MediaReceiver, MediaSender, MediaStats};
use crate::verify::{SafetyNumber, ShortCode, safety_number};

/// Session settings.
#[derive(Debug, Clone, Copy)]
pub struct SessionConfig {
    /// The room or call; bound into every transcript.
    pub context: Context,
    /// Our relay-assigned participant id.
    pub local: ParticipantId,
    /// Media key lifetime settings.
    pub media: MediaConfig,
}

impl SessionConfig {
    /// Default media settings for `context` and `local`.
    #[must_use]
    pub fn new(context: Context, local: ParticipantId) -> Self {
        Self {
            context,
            local,
            media: MediaConfig::default(),
        }
    }
}

/// A key-envelope payload to send; the engine wraps it in
/// `SignalMessage::KeyEnvelope { from: local, to, payload }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingEnvelope {
    /// Addressee.
    pub to: ParticipantId,
    /// Opaque payload (layout in [`crate::envelope`]).
    pub payload: Vec<u8>,
}

/// Something the engine or UI should know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The pairwise channel with `peer` is authenticated both ways.
    ChannelEstablished {
        /// The peer.
        peer: ParticipantId,
        /// Its verified identity.
        identity: PublicIdentity,
        /// The code both sides can compare.
        short_code: ShortCode,
    },
    /// A media key from `peer` was installed.
    SenderKeyReceived {
        /// The peer.
        peer: ParticipantId,
        /// Its epoch.
        epoch: u32,
    },
    /// Our own media key changed (join, leave or packet limit).
    LocalKeyRotated {
        /// The new epoch.
        epoch: u32,
    },
}

struct ChannelKeys {
    send: PacketKey,
    recv: PacketKey,
    send_ctr: u64,
    recv_ctr: u64,
    short_code: ShortCode,
}

enum Channel {
    /// Known from the roster; waiting for its offer (it has the lower id).
    Waiting,
    /// We sent an offer.
    Offered {
        eph: StaticSecret,
        eph_pub: [u8; 32],
        nonce: [u8; 16],
    },
    /// We answered; we can send, but accept nothing sealed until Finish.
    AwaitingFinish {
        keys: ChannelKeys,
        transcript: Transcript,
        identity: PublicIdentity,
    },
    /// Authenticated both ways.
    Established {
        keys: ChannelKeys,
        identity: PublicIdentity,
    },
}

struct Peer {
    expected: Option<Fingerprint>,
    channel: Channel,
}

/// One participant's key state for one room or call.
pub struct Session {
    identity: Identity,
    ctx: [u8; 17],
    local: ParticipantId,
    sender: MediaSender,
    receiver: MediaReceiver,
    peers: BTreeMap<ParticipantId, Peer>,
    seen_offers: HashSet<[u8; 32]>,
    transmits: VecDeque<OutgoingEnvelope>,
    events: VecDeque<Event>,
}

fn derive_channel(t: &Transcript, shared: &[u8; 32], role: Role) -> ChannelKeys {
    let th = Sha256::digest(t.body());
    let (prk, hk) = Hkdf::<Sha256>::extract(Some(&th), shared);
    let mut prk32 = Zeroizing::new([0u8; 32]);
    prk32.copy_from_slice(&prk);
    let mut ir = Zeroizing::new([0u8; 32]);
    let mut ri = Zeroizing::new([0u8; 32]);
    // 32-byte outputs never exceed HKDF's limit.
    let _ = hk.expand(b"wzp-v2 channel initiator->responder", ir.as_mut());
    let _ = hk.expand(b"wzp-v2 channel responder->initiator", ri.as_mut());
    let (send, recv) = match role {
        Role::Initiator => (&ir, &ri),
        Role::Responder => (&ri, &ir),
    };
    ChannelKeys {
        send: PacketKey::new(send),
        recv: PacketKey::new(recv),
        send_ctr: 0,
        recv_ctr: 0,
        short_code: ShortCode::from_prk(&prk32),
    }
}

fn ctr_nonce(ctr: u64) -> [u8; NONCE_LEN] {
    let mut n = [0u8; NONCE_LEN];
    n[4..].copy_from_slice(&ctr.to_be_bytes());
    n
}

fn dh(secret: &StaticSecret, peer: &[u8; 32]) -> Result<Zeroizing<[u8; 32]>> {
    let shared = secret.diffie_hellman(&XPublic::from(*peer));
    // A low-order peer key gives an all-zero secret anyone can compute.
    if !shared.was_contributory() {
        return Err(CryptoError::InvalidPublicKey);
    }
    Ok(Zeroizing::new(shared.to_bytes()))
}

impl Session {
    /// A session with a fresh random media key at epoch 0.
    pub fn new(identity: Identity, config: SessionConfig, rng: &mut impl CryptoRngCore) -> Self {
        let sender = MediaSender::new(config.local, identity.fingerprint(), &config.media, rng);
        Self {
            identity,
            ctx: config.context.encode(),
            local: config.local,
            sender,
            receiver: MediaReceiver::new(&config.media),
            peers: BTreeMap::new(),
            seen_offers: HashSet::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Our participant id.
    #[must_use]
    pub fn local_id(&self) -> ParticipantId {
        self.local
    }

    /// Our public identity.
    #[must_use]
    pub fn local_identity(&self) -> PublicIdentity {
        self.identity.public()
    }

    /// Our current media key epoch.
    #[must_use]
    pub fn epoch(&self) -> u32 {
        self.sender.epoch()
    }

    /// A participant joined (roster). `expected` is the fingerprint the roster
    /// announced; if given, a handshake signed by any other identity is
    /// rejected with [`CryptoError::WrongSigner`].
    ///
    /// Rotates our media key first, so the newcomer never receives a key that
    /// protected earlier media; starts the handshake if our id is lower.
    pub fn add_participant(
        &mut self,
        id: ParticipantId,
        expected: Option<Fingerprint>,
        rng: &mut impl CryptoRngCore,
    ) -> Result<()> {
        if id == self.local {
            return Ok(());
        }
        self.rotate(rng)?;
        self.peers.insert(
            id,
            Peer {
                expected,
                channel: Channel::Waiting,
            },
        );
        if self.local < id {
            let mut eph_bytes = Zeroizing::new([0u8; 32]);
            rng.fill_bytes(eph_bytes.as_mut());
            let eph = StaticSecret::from(*eph_bytes);
            let eph_pub = XPublic::from(&eph).to_bytes();
            let mut nonce = [0u8; 16];
            rng.fill_bytes(&mut nonce);
            let init_id = self.identity.public().to_bytes();
            let p = pids(self.local, id);
            let sig = self
                .identity
                .sign(&offer_tbs(&self.ctx, p, &init_id, &eph_pub, &nonce));
            let mut m = Vec::with_capacity(crate::envelope::OFFER_LEN);
            m.extend_from_slice(&[ENVELOPE_VERSION, TYPE_OFFER]);
            m.extend_from_slice(&self.ctx);
            m.extend_from_slice(&p);
            m.extend_from_slice(&init_id);
            m.extend_from_slice(&eph_pub);
            m.extend_from_slice(&nonce);
            m.extend_from_slice(&sig);
            self.transmits
                .push_back(OutgoingEnvelope { to: id, payload: m });
            if let Some(peer) = self.peers.get_mut(&id) {
                peer.channel = Channel::Offered {
                    eph,
                    eph_pub,
                    nonce,
                };
            }
        }
        Ok(())
    }

    /// A participant left (roster). Its keys are dropped (zeroized) and our
    /// media key rotates, so it cannot read anything we send from now on.
    pub fn remove_participant(
        &mut self,
        id: ParticipantId,
        rng: &mut impl CryptoRngCore,
    ) -> Result<()> {
        if self.peers.remove(&id).is_none() {
            return Err(CryptoError::UnknownParticipant(id));
        }
        self.receiver.remove(id);
        self.rotate(rng)
    }

    /// New random media key, sent to every peer with a channel.
    fn rotate(&mut self, rng: &mut impl CryptoRngCore) -> Result<()> {
        let epoch = self.sender.rotate_random(rng);
        tracing::debug!(epoch, "media key rotated");
        self.events.push_back(Event::LocalKeyRotated { epoch });
        let ids: Vec<ParticipantId> = self.peers.keys().copied().collect();
        for id in ids {
            self.send_sender_key(id)?;
        }
        Ok(())
    }

    /// Seals our current key to `to` if its channel can send; otherwise does
    /// nothing (the key goes out when the channel comes up).
    fn send_sender_key(&mut self, to: ParticipantId) -> Result<()> {
        let (epoch, secret) = self.sender.current_secret();
        let mut plain = Zeroizing::new(Vec::with_capacity(36));
        plain.extend_from_slice(&epoch.to_be_bytes());
        plain.extend_from_slice(secret);
        let Some(peer) = self.peers.get_mut(&to) else {
            return Ok(());
        };
        let keys = match &mut peer.channel {
            Channel::AwaitingFinish { keys, .. } | Channel::Established { keys, .. } => keys,
            Channel::Waiting | Channel::Offered { .. } => return Ok(()),
        };
        let ctr = keys.send_ctr;
        keys.send_ctr += 1;
        let mut m = Vec::with_capacity(crate::envelope::SENDER_KEY_LEN);
        m.extend_from_slice(&[ENVELOPE_VERSION, TYPE_SENDER_KEY]);
        m.extend_from_slice(&ctr.to_be_bytes());
        m.extend_from_slice(&plain);
        let (aad, body) = m.split_at_mut(10);
        let tag = keys
            .send
            .seal(ctr_nonce(ctr), aad, body)
            .map_err(|_| CryptoError::ChannelAuth { from: self.local })?;
        m.extend_from_slice(&tag);
        self.transmits
            .push_back(OutgoingEnvelope { to, payload: m });
        Ok(())
    }

    /// Handles a key-envelope payload from `from` (as the relay labelled it).
    /// On error nothing changes; the engine counts it and carries on.
    pub fn handle_envelope(
        &mut self,
        from: ParticipantId,
        payload: &[u8],
        now: Instant,
        rng: &mut impl CryptoRngCore,
    ) -> Result<()> {
        let ty = check_header(payload)?;
        let mut r = Reader::new(&payload[2..]);
        match ty {
            TYPE_OFFER => self.on_offer(from, &mut r, rng),
            TYPE_ANSWER => self.on_answer(from, &mut r),
            TYPE_FINISH => self.on_finish(from, &mut r),
            TYPE_SENDER_KEY => self.on_sender_key(from, payload, now),
            other => Err(CryptoError::UnknownMessageType(other)),
        }
    }

    fn check_route(
        &self,
        ctx: &[u8; 17],
        p: [u8; 4],
        initiator: ParticipantId,
        responder: ParticipantId,
    ) -> Result<()> {
        if *ctx != self.ctx {
            return Err(CryptoError::WrongContext);
        }
        if p != pids(initiator, responder) {
            let [a, b, c, d] = p;
            return Err(CryptoError::WrongParticipants {
                initiator: ParticipantId(u16::from_be_bytes([a, b])),
                responder: ParticipantId(u16::from_be_bytes([c, d])),
            });
        }
        Ok(())
    }

    fn check_signer(peer: &Peer, from: ParticipantId, id: &PublicIdentity) -> Result<()> {
        match peer.expected {
            Some(expected) if expected != id.fingerprint() => Err(CryptoError::WrongSigner {
                from,
                expected,
                found: id.fingerprint(),
            }),
            _ => Ok(()),
        }
    }

    fn on_offer(
        &mut self,
        from: ParticipantId,
        r: &mut Reader<'_>,
        rng: &mut impl CryptoRngCore,
    ) -> Result<()> {
        let ctx = r.take::<17>();
        let p = r.take::<4>();
        let init_id = r.take::<32>();
        let init_eph = r.take::<32>();
        let nonce = r.take::<16>();
        let sig = r.take::<64>();
        self.check_route(&ctx, p, from, self.local)?;
        let peer = self
            .peers
            .get(&from)
            .ok_or(CryptoError::UnknownParticipant(from))?;
        if from > self.local {
            return Err(CryptoError::UnexpectedMessage {
                what: "offer",
                from,
            });
        }
        if self.seen_offers.contains(&init_eph) {
            return Err(CryptoError::ReplayedOffer { from });
        }
        let identity = PublicIdentity::from_bytes(&init_id)?;
        if !identity.verify(&offer_tbs(&ctx, p, &init_id, &init_eph, &nonce), &sig) {
            return Err(CryptoError::BadSignature { from });
        }
        Self::check_signer(peer, from, &identity)?;
        let mut eph_bytes = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(eph_bytes.as_mut());
        let eph = StaticSecret::from(*eph_bytes);
        let shared = dh(&eph, &init_eph)?;
        self.seen_offers.insert(init_eph);
        let t = Transcript {
            ctx,
            initiator: from,
            responder: self.local,
            init_id,
            init_eph,
            nonce,
            resp_id: self.identity.public().to_bytes(),
            resp_eph: XPublic::from(&eph).to_bytes(),
        };
        let keys = derive_channel(&t, &shared, Role::Responder);
        let sig = self.identity.sign(&t.tbs(Role::Responder));
        let mut m = Vec::with_capacity(crate::envelope::ANSWER_LEN);
        m.extend_from_slice(&[ENVELOPE_VERSION, TYPE_ANSWER]);
        m.extend_from_slice(&ctx);
        m.extend_from_slice(&p);
        m.extend_from_slice(&t.resp_id);
        m.extend_from_slice(&t.resp_eph);
        m.extend_from_slice(&nonce);
        m.extend_from_slice(&sig);
        self.transmits.push_back(OutgoingEnvelope {
            to: from,
            payload: m,
        });
        if let Some(peer) = self.peers.get_mut(&from) {
            peer.channel = Channel::AwaitingFinish {
                keys,
                transcript: t,
                identity,
            };
        }
        self.send_sender_key(from)
    }

    fn on_answer(&mut self, from: ParticipantId, r: &mut Reader<'_>) -> Result<()> {
        let ctx = r.take::<17>();
        let p = r.take::<4>();
        let resp_id = r.take::<32>();
        let resp_eph = r.take::<32>();
        let nonce = r.take::<16>();
        let sig = r.take::<64>();
        self.check_route(&ctx, p, self.local, from)?;
        let peer = self
            .peers
            .get(&from)
            .ok_or(CryptoError::UnknownParticipant(from))?;
        let Channel::Offered {
            eph,
            eph_pub,
            nonce: sent_nonce,
        } = &peer.channel
        else {
            return Err(CryptoError::UnexpectedMessage {
                what: "answer",
                from,
            });
        };
        if *sent_nonce != nonce {
            return Err(CryptoError::UnexpectedMessage {
                what: "answer",
                from,
            });
        }
        let identity = PublicIdentity::from_bytes(&resp_id)?;
        let t = Transcript {
            ctx,
            initiator: self.local,
            responder: from,
            init_id: self.identity.public().to_bytes(),
            init_eph: *eph_pub,
            nonce,
            resp_id,
            resp_eph,
        };
        if !identity.verify(&t.tbs(Role::Responder), &sig) {
            return Err(CryptoError::BadSignature { from });
        }
        Self::check_signer(peer, from, &identity)?;
        let shared = dh(eph, &resp_eph)?;
        let keys = derive_channel(&t, &shared, Role::Initiator);
        let sig = self.identity.sign(&t.tbs(Role::Initiator));
        let mut m = Vec::with_capacity(crate::envelope::FINISH_LEN);
        m.extend_from_slice(&[ENVELOPE_VERSION, TYPE_FINISH]);
        m.extend_from_slice(&ctx);
        m.extend_from_slice(&p);
        m.extend_from_slice(&nonce);
        m.extend_from_slice(&sig);
        self.transmits.push_back(OutgoingEnvelope {
            to: from,
            payload: m,
        });
        self.events.push_back(Event::ChannelEstablished {
            peer: from,
            identity,
            short_code: keys.short_code,
        });
        if let Some(peer) = self.peers.get_mut(&from) {
            peer.channel = Channel::Established { keys, identity };
        }
        self.send_sender_key(from)
    }

    fn on_finish(&mut self, from: ParticipantId, r: &mut Reader<'_>) -> Result<()> {
        let ctx = r.take::<17>();
        let p = r.take::<4>();
        let nonce = r.take::<16>();
        let sig = r.take::<64>();
        self.check_route(&ctx, p, from, self.local)?;
        let peer = self
            .peers
            .get_mut(&from)
            .ok_or(CryptoError::UnknownParticipant(from))?;
        let Channel::AwaitingFinish {
            transcript,
            identity,
            ..
        } = &peer.channel
        else {
            return Err(CryptoError::UnexpectedMessage {
                what: "finish",
                from,
            });
        };
        if transcript.nonce != nonce {
            return Err(CryptoError::UnexpectedMessage {
                what: "finish",
                from,
            });
        }
        if !identity.verify(&transcript.tbs(Role::Initiator), &sig) {
            return Err(CryptoError::BadSignature { from });
        }
        let old = std::mem::replace(&mut peer.channel, Channel::Waiting);
        if let Channel::AwaitingFinish { keys, identity, .. } = old {
            self.events.push_back(Event::ChannelEstablished {
                peer: from,
                identity,
                short_code: keys.short_code,
            });
            peer.channel = Channel::Established { keys, identity };
        }
        Ok(())
    }

    fn on_sender_key(&mut self, from: ParticipantId, payload: &[u8], now: Instant) -> Result<()> {
        let peer = self
            .peers
            .get_mut(&from)
            .ok_or(CryptoError::UnknownParticipant(from))?;
        let Channel::Established { keys, identity } = &mut peer.channel else {
            return Err(CryptoError::UnexpectedMessage {
                what: "sender key",
                from,
            });
        };
        let mut ctr_b = [0u8; 8];
        ctr_b.copy_from_slice(&payload[2..10]);
        let counter = u64::from_be_bytes(ctr_b);
        if counter != keys.recv_ctr {
            return Err(CryptoError::ChannelReplay { from, counter });
        }
        let (aad, rest) = payload.split_at(10);
        let (body, tag) = rest.split_at(36);
        let mut plain = Zeroizing::new(body.to_vec());
        keys.recv
            .open(ctr_nonce(counter), aad, plain.as_mut(), tag)
            .map_err(|_| CryptoError::ChannelAuth { from })?;
        keys.recv_ctr += 1;
        let epoch = u32::from_be_bytes([plain[0], plain[1], plain[2], plain[3]]);
        let mut secret = Zeroizing::new([0u8; 32]);
        secret.copy_from_slice(&plain[4..36]);
        let fp = identity.fingerprint();
        self.receiver.install(from, fp, epoch, &secret, now);
        self.events
            .push_back(Event::SenderKeyReceived { peer: from, epoch });
        Ok(())
    }

    /// Seals a media packet with our current key (see [`MediaSender::seal`]).
    pub fn seal(
        &mut self,
        header: &MediaHeader,
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<()> {
        if self.sender.seal(header, plaintext, out)? {
            self.events.push_back(Event::LocalKeyRotated {
                epoch: self.sender.epoch(),
            });
        }
        Ok(())
    }

    /// Opens a media datagram from `sender` (see [`MediaReceiver::open`]).
    pub fn open(
        &mut self,
        sender: ParticipantId,
        datagram: &[u8],
        now: Instant,
        out: &mut Vec<u8>,
    ) -> Result<MediaHeader> {
        self.receiver.open(sender, datagram, now, out)
    }

    /// Drops superseded media keys whose grace period is over.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.receiver.handle_timeout(now);
    }

    /// When [`handle_timeout`](Self::handle_timeout) next has work.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.receiver.poll_timeout()
    }

    /// Next envelope to send.
    pub fn poll_transmit(&mut self) -> Option<OutgoingEnvelope> {
        self.transmits.pop_front()
    }

    /// Next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Media accept/reject counters.
    #[must_use]
    pub fn stats(&self) -> MediaStats {
        self.receiver.stats()
    }

    /// The verified identity of `peer`, once its channel is established.
    #[must_use]
    pub fn peer_identity(&self, peer: ParticipantId) -> Option<PublicIdentity> {
        match &self.peers.get(&peer)?.channel {
            Channel::Established { identity, .. } => Some(*identity),
            _ => None,
        }
    }

    /// The short code of the channel with `peer` (the per-call code of a direct call).
    #[must_use]
    pub fn short_code(&self, peer: ParticipantId) -> Option<ShortCode> {
        match &self.peers.get(&peer)?.channel {
            Channel::Established { keys, .. } => Some(keys.short_code),
            _ => None,
        }
    }

    /// The safety number of our identity and `peer`'s verified identity.
    #[must_use]
    pub fn safety_number(&self, peer: ParticipantId) -> Option<SafetyNumber> {
        self.peer_identity(peer)
            .map(|p| safety_number(&self.identity.public(), &p))
    }
}
