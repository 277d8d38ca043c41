//! End-to-end behaviour of sessions: handshakes, key distribution, rotation
//! on join and leave, loss and reordering, and what a relay can learn.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use wzp_crypto::media::MediaConfig;
use wzp_crypto::{Context, CryptoError, Event, Identity, Seed, Session, SessionConfig};
use wzp_proto::{CodecId, MediaHeader, ParticipantId, RoomId, Seq, StreamId, TimestampMs};

fn identity(n: u8) -> Identity {
    Identity::from_seed(Seed::from_bytes([n; 32]))
}

fn room_ctx() -> Context {
    Context::Room(RoomId::from_name("crypto-test"))
}

/// Everything a relay would see and the participants' sessions.
struct Room {
    sessions: BTreeMap<u16, Session>,
    rng: ChaCha20Rng,
    now: Instant,
    config: MediaConfig,
    /// Every envelope the relay forwarded: (from, to, payload).
    envelopes: Vec<(ParticipantId, ParticipantId, Vec<u8>)>,
}

impl Room {
    fn new(seed: u64, config: MediaConfig) -> Self {
        Self {
            sessions: BTreeMap::new(),
            rng: ChaCha20Rng::seed_from_u64(seed),
            now: Instant::now(),
            config,
            envelopes: Vec::new(),
        }
    }

    /// Delivers envelopes (reliable, in order per sender) until none are left.
    fn pump(&mut self) {
        loop {
            let mut moved = false;
            let ids: Vec<u16> = self.sessions.keys().copied().collect();
            for id in ids {
                while let Some(env) = self.sessions.get_mut(&id).and_then(Session::poll_transmit) {
                    moved = true;
                    self.envelopes
                        .push((ParticipantId(id), env.to, env.payload.clone()));
                    if let Some(dst) = self.sessions.get_mut(&env.to.0) {
                        dst.handle_envelope(
                            ParticipantId(id),
                            &env.payload,
                            self.now,
                            &mut self.rng,
                        )
                        .unwrap_or_else(|e| panic!("{id}->{}: {e}", env.to));
                    }
                }
            }
            if !moved {
                break;
            }
        }
    }

    fn join(&mut self, id: u16) {
        let me = identity(id as u8);
        let mut cfg = SessionConfig::new(room_ctx(), ParticipantId(id));
        cfg.media = self.config;
        let mut s = Session::new(me.clone(), cfg, &mut self.rng);
        for (other, os) in &mut self.sessions {
            os.add_participant(ParticipantId(id), Some(me.fingerprint()), &mut self.rng)
                .unwrap();
            s.add_participant(
                ParticipantId(*other),
                Some(identity(*other as u8).fingerprint()),
                &mut self.rng,
            )
            .unwrap();
        }
        self.sessions.insert(id, s);
        self.pump();
    }

    fn leave(&mut self, id: u16) -> Session {
        let s = self.sessions.remove(&id).unwrap();
        for os in self.sessions.values_mut() {
            os.remove_participant(ParticipantId(id), &mut self.rng)
                .unwrap();
        }
        self.pump();
        s
    }

    fn session(&mut self, id: u16) -> &mut Session {
        self.sessions.get_mut(&id).unwrap()
    }
}

/// A packet as sealed: sender, datagram, expected plaintext.
type Sent = (ParticipantId, Vec<u8>, Vec<u8>);

fn send(room: &mut Room, from: u16, stream: u8, seq: u32, video: bool) -> Sent {
    let codec = if video {
        CodecId::H264Baseline
    } else {
        CodecId::Opus24k
    };
    let mut h = MediaHeader::new(
        codec,
        StreamId(stream),
        Seq(seq),
        TimestampMs(seq.wrapping_mul(20)),
    );
    h.flags.quality_report = seq % 5 == 0;
    h.flags.keyframe = video && seq % 30 == 0;
    let len = if video { 1200 } else { 60 } + if h.flags.quality_report { 4 } else { 0 };
    let mut plain = vec![0u8; len];
    room.rng.fill_bytes(&mut plain);
    let mut out = Vec::new();
    room.session(from).seal(&h, &plain, &mut out).unwrap();
    (ParticipantId(from), out, plain)
}

fn established_all(room: &mut Room) {
    let ids: Vec<u16> = room.sessions.keys().copied().collect();
    for a in &ids {
        for b in &ids {
            if a != b {
                let s = room.session(*a);
                assert!(
                    s.peer_identity(ParticipantId(*b)).is_some(),
                    "{a} has no channel with {b}"
                );
            }
        }
    }
}

#[test]
fn handshake_gives_matching_codes_and_verified_identities() {
    let mut room = Room::new(1, MediaConfig::default());
    room.join(1);
    room.join(2);
    established_all(&mut room);
    let a = room.session(1).short_code(ParticipantId(2)).unwrap();
    let b = room.session(2).short_code(ParticipantId(1)).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.to_string().len(), 6);
    let sa = room.session(1).safety_number(ParticipantId(2)).unwrap();
    let sb = room.session(2).safety_number(ParticipantId(1)).unwrap();
    assert_eq!(sa, sb);
    assert_eq!(
        room.session(2)
            .peer_identity(ParticipantId(1))
            .unwrap()
            .fingerprint(),
        identity(1).fingerprint()
    );
    let mut established = 0;
    while let Some(e) = room.session(2).poll_event() {
        if matches!(e, Event::ChannelEstablished { .. }) {
            established += 1;
        }
    }
    assert_eq!(established, 1);
}

#[test]
fn two_senders_survive_loss_reordering_ratchets_and_a_join() {
    // A tiny packet limit makes the sender ratchet many times during the test.
    let config = MediaConfig {
        max_packets_per_key: 40,
        key_grace: Duration::from_secs(2),
    };
    let mut room = Room::new(7, config);
    for id in [1, 2, 3] {
        room.join(id);
    }
    let mut net = ChaCha20Rng::seed_from_u64(99);
    // In-flight packets per receiver: (sender, datagram, plaintext).
    let mut flight: BTreeMap<u16, Vec<Sent>> = BTreeMap::new();
    let mut delivered = 0u32;
    let mut out = Vec::with_capacity(1400);
    for round in 0..600u32 {
        if round == 300 {
            room.join(4);
        }
        room.now += Duration::from_millis(20);
        let sent = [
            send(&mut room, 1, 0, round + 1000, false),
            send(&mut room, 2, 1, round, true),
        ];
        for p in &sent {
            for rx in room.sessions.keys().copied().collect::<Vec<_>>() {
                if rx != p.0.0 && net.next_u32() % 100 >= 30 {
                    flight.entry(rx).or_default().push(p.clone());
                }
            }
        }
        // Deliver a random subset of what is in flight: reordering.
        for (rx, q) in &mut flight {
            let drain_all = round == 599;
            let mut keep = Vec::new();
            for p in q.drain(..) {
                if drain_all || net.next_u32() % 3 == 0 {
                    let s = room.sessions.get_mut(rx).unwrap();
                    let h = s
                        .open(p.0, &p.1, room.now, &mut out)
                        .unwrap_or_else(|e| panic!("rx {rx} from {}: {e}", p.0));
                    assert_eq!(out, p.2);
                    assert_eq!(h.encode(), p.1[..16]);
                    delivered += 1;
                } else {
                    keep.push(p);
                }
            }
            *q = keep;
        }
    }
    assert!(delivered > 2000, "{delivered}");
    for id in [1, 2, 3, 4] {
        let st = room.session(id).stats();
        assert_eq!(
            st.forged + st.no_key + st.replayed + st.too_old + st.malformed,
            0,
            "{id}: {st:?}"
        );
    }
    assert!(
        room.session(1).epoch() > 10,
        "ratchets happened: {}",
        room.session(1).epoch()
    );
}

#[test]
fn observer_with_everything_the_relay_sees_cannot_decrypt() {
    let mut room = Room::new(3, MediaConfig::default());
    for id in [1, 2, 3] {
        room.join(id);
    }
    let datagrams: Vec<Sent> = (0..50)
        .map(|i| send(&mut room, 1 + (i % 2) as u16, 0, i, false))
        .collect();
    room.join(4);
    room.leave(3);
    // The relay also knows every public identity and could run its own
    // session in the room; feed it every envelope and every datagram.
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let mut cfg = SessionConfig::new(room_ctx(), ParticipantId(9));
    cfg.media = MediaConfig::default();
    let mut observer = Session::new(identity(9), cfg, &mut rng);
    for id in [1u16, 2, 3, 4] {
        observer
            .add_participant(ParticipantId(id), None, &mut rng)
            .unwrap();
    }
    let mut keys_learned = 0;
    for (from, _to, payload) in &room.envelopes {
        if observer
            .handle_envelope(*from, payload, room.now, &mut rng)
            .is_ok()
        {
            while let Some(e) = observer.poll_event() {
                if matches!(e, Event::SenderKeyReceived { .. }) {
                    keys_learned += 1;
                }
            }
        }
    }
    assert_eq!(keys_learned, 0);
    let mut out = Vec::new();
    for (from, d, _) in &datagrams {
        assert!(observer.open(*from, d, room.now, &mut out).is_err());
    }
}

#[test]
fn joiner_cannot_open_earlier_packets() {
    let mut room = Room::new(11, MediaConfig::default());
    room.join(1);
    room.join(2);
    let before: Vec<Sent> = (0..40).map(|i| send(&mut room, 1, 0, i, false)).collect();
    room.join(3);
    let after: Vec<Sent> = (40..80).map(|i| send(&mut room, 1, 0, i, false)).collect();
    let mut out = Vec::new();
    let now = room.now;
    let c = room.session(3);
    for (from, d, _) in &before {
        assert!(c.open(*from, d, now, &mut out).is_err());
    }
    for (from, d, p) in &after {
        c.open(*from, d, now, &mut out).unwrap();
        assert_eq!(&out, p);
    }
    // The old member still reads both.
    let b = room.session(2);
    for (from, d, _) in before.iter().chain(&after) {
        b.open(*from, d, now, &mut out).unwrap();
    }
}

#[test]
fn leaver_cannot_open_later_packets() {
    let mut room = Room::new(12, MediaConfig::default());
    for id in [1, 2, 3] {
        room.join(id);
    }
    let before: Vec<Sent> = (0..20).map(|i| send(&mut room, 1, 0, i, false)).collect();
    let mut leaver = room.leave(2);
    let after: Vec<Sent> = (20..60).map(|i| send(&mut room, 1, 0, i, false)).collect();
    let now = room.now;
    let mut out = Vec::new();
    for (from, d, _) in &before {
        leaver.open(*from, d, now, &mut out).unwrap();
    }
    for (from, d, _) in &after {
        assert!(leaver.open(*from, d, now, &mut out).is_err());
    }
    for (from, d, _) in &after {
        room.session(3).open(*from, d, now, &mut out).unwrap();
    }
}

#[test]
fn every_header_and_epoch_byte_is_authenticated() {
    let mut room = Room::new(13, MediaConfig::default());
    room.join(1);
    room.join(2);
    let (from, d, _) = send(&mut room, 1, 0, 5, true);
    let now = room.now;
    let mut out = Vec::new();
    for i in 0..d.len() {
        for bit in [0x01u8, 0x80] {
            let mut t = d.clone();
            t[i] ^= bit;
            let r = room.session(2).open(from, &t, now, &mut out);
            assert!(r.is_err(), "byte {i} bit {bit:#x} accepted");
        }
    }
    // The untouched packet still opens, once; the second time is a replay.
    room.session(2).open(from, &d, now, &mut out).unwrap();
    assert!(matches!(
        room.session(2).open(from, &d, now, &mut out),
        Err(CryptoError::Replayed { .. })
    ));
    let st = room.session(2).stats();
    assert!(
        st.forged > 0 && st.replayed == 1 && st.opened == 1,
        "{st:?}"
    );
}

#[test]
fn too_old_packets_are_rejected_and_counted() {
    let mut room = Room::new(14, MediaConfig::default());
    room.join(1);
    room.join(2);
    let old = send(&mut room, 1, 0, 0, false);
    let new = send(&mut room, 1, 0, 5000, false);
    let now = room.now;
    let mut out = Vec::new();
    room.session(2).open(new.0, &new.1, now, &mut out).unwrap();
    assert!(matches!(
        room.session(2).open(old.0, &old.1, now, &mut out),
        Err(CryptoError::TooOld { .. })
    ));
    assert_eq!(room.session(2).stats().too_old, 1);
}

#[test]
fn sender_refuses_to_reuse_a_sequence_number() {
    let mut room = Room::new(15, MediaConfig::default());
    room.join(1);
    let h = MediaHeader::new(CodecId::Opus24k, StreamId(0), Seq(10), TimestampMs(0));
    let mut out = Vec::new();
    room.session(1).seal(&h, b"x", &mut out).unwrap();
    assert!(matches!(
        room.session(1).seal(&h, b"y", &mut out),
        Err(CryptoError::SeqNotIncreasing { .. })
    ));
}

#[test]
fn old_keys_expire_after_the_grace_period() {
    let config = MediaConfig {
        max_packets_per_key: 1 << 16,
        key_grace: Duration::from_millis(500),
    };
    let mut room = Room::new(16, config);
    room.join(1);
    room.join(2);
    let early = send(&mut room, 1, 0, 1, false);
    let early2 = send(&mut room, 1, 0, 2, false);
    room.join(3); // rotates 1's key
    let mut out = Vec::new();
    let t = room.now + Duration::from_millis(400);
    assert!(room.session(2).poll_timeout().is_some());
    room.session(2)
        .open(early.0, &early.1, t, &mut out)
        .unwrap();
    let t2 = room.now + Duration::from_millis(600);
    room.session(2).handle_timeout(t2);
    assert!(room.session(2).poll_timeout().is_none());
    let r = room.session(2).open(early2.0, &early2.1, t2, &mut out);
    assert!(matches!(r, Err(CryptoError::UnknownEpoch { .. })), "{r:?}");
}

// ---- handshake rejections ----

/// Sets up 1 and 2 and returns the offer 1 sent to 2, undelivered.
fn pending_offer(seed: u64) -> (Session, Session, Vec<u8>, ChaCha20Rng) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut a = Session::new(
        identity(1),
        SessionConfig::new(room_ctx(), ParticipantId(1)),
        &mut rng,
    );
    let mut b = Session::new(
        identity(2),
        SessionConfig::new(room_ctx(), ParticipantId(2)),
        &mut rng,
    );
    a.add_participant(ParticipantId(2), Some(identity(2).fingerprint()), &mut rng)
        .unwrap();
    b.add_participant(ParticipantId(1), Some(identity(1).fingerprint()), &mut rng)
        .unwrap();
    let offer = a.poll_transmit().unwrap().payload;
    (a, b, offer, rng)
}

#[test]
fn tampered_offer_fields_are_rejected() {
    let (_a, mut b, offer, mut rng) = pending_offer(20);
    let now = Instant::now();
    for i in 0..offer.len() {
        let mut t = offer.clone();
        t[i] ^= 0x01;
        let r = b.handle_envelope(ParticipantId(1), &t, now, &mut rng);
        assert!(r.is_err(), "byte {i} accepted");
        // Ephemeral key, nonce and identity bytes are caught by the signature.
        if (2 + 21 + 32..2 + 21 + 32 + 48).contains(&i) {
            assert!(
                matches!(r, Err(CryptoError::BadSignature { .. })),
                "byte {i}: {r:?}"
            );
        }
    }
    b.handle_envelope(ParticipantId(1), &offer, now, &mut rng)
        .unwrap();
}

#[test]
fn replayed_offer_is_rejected() {
    let (_a, mut b, offer, mut rng) = pending_offer(21);
    let now = Instant::now();
    b.handle_envelope(ParticipantId(1), &offer, now, &mut rng)
        .unwrap();
    let r = b.handle_envelope(ParticipantId(1), &offer, now, &mut rng);
    assert!(matches!(r, Err(CryptoError::ReplayedOffer { .. })), "{r:?}");
}

#[test]
fn offer_for_another_room_is_rejected() {
    let mut rng = ChaCha20Rng::seed_from_u64(22);
    let other = Context::Room(RoomId::from_name("elsewhere"));
    let mut a = Session::new(
        identity(1),
        SessionConfig::new(other, ParticipantId(1)),
        &mut rng,
    );
    let mut b = Session::new(
        identity(2),
        SessionConfig::new(room_ctx(), ParticipantId(2)),
        &mut rng,
    );
    a.add_participant(ParticipantId(2), None, &mut rng).unwrap();
    b.add_participant(ParticipantId(1), None, &mut rng).unwrap();
    let offer = a.poll_transmit().unwrap().payload;
    let r = b.handle_envelope(ParticipantId(1), &offer, Instant::now(), &mut rng);
    assert!(matches!(r, Err(CryptoError::WrongContext)), "{r:?}");
}

#[test]
fn offer_signed_by_the_wrong_identity_is_rejected() {
    let mut rng = ChaCha20Rng::seed_from_u64(23);
    // Participant 1 is announced as identity 1 but an impostor (identity 7) speaks for it.
    let mut impostor = Session::new(
        identity(7),
        SessionConfig::new(room_ctx(), ParticipantId(1)),
        &mut rng,
    );
    let mut b = Session::new(
        identity(2),
        SessionConfig::new(room_ctx(), ParticipantId(2)),
        &mut rng,
    );
    impostor
        .add_participant(ParticipantId(2), None, &mut rng)
        .unwrap();
    b.add_participant(ParticipantId(1), Some(identity(1).fingerprint()), &mut rng)
        .unwrap();
    let offer = impostor.poll_transmit().unwrap().payload;
    let r = b.handle_envelope(ParticipantId(1), &offer, Instant::now(), &mut rng);
    match r {
        Err(CryptoError::WrongSigner {
            expected, found, ..
        }) => {
            assert_eq!(expected, identity(1).fingerprint());
            assert_eq!(found, identity(7).fingerprint());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn readdressed_offer_is_rejected() {
    let (_a, mut b, offer, mut rng) = pending_offer(24);
    // The relay claims the offer came from participant 3.
    b.add_participant(ParticipantId(3), None, &mut rng).unwrap();
    let r = b.handle_envelope(ParticipantId(3), &offer, Instant::now(), &mut rng);
    assert!(
        matches!(r, Err(CryptoError::WrongParticipants { .. })),
        "{r:?}"
    );
}

#[test]
fn replayed_sender_key_and_answer_are_rejected() {
    let mut room = Room::new(25, MediaConfig::default());
    room.join(1);
    room.join(2);
    let now = room.now;
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let (from, _to, key_msg) = room
        .envelopes
        .iter()
        .rfind(|(f, t, p)| f.0 == 1 && t.0 == 2 && p[1] == 0x04)
        .cloned()
        .unwrap();
    let r = room
        .session(2)
        .handle_envelope(from, &key_msg, now, &mut rng);
    assert!(matches!(r, Err(CryptoError::ChannelReplay { .. })), "{r:?}");
    let (from, _to, answer) = room
        .envelopes
        .iter()
        .find(|(f, _, p)| f.0 == 2 && p[1] == 0x02)
        .cloned()
        .unwrap();
    let r = room
        .session(1)
        .handle_envelope(from, &answer, now, &mut rng);
    assert!(
        matches!(r, Err(CryptoError::UnexpectedMessage { .. })),
        "{r:?}"
    );
    let r = room
        .session(1)
        .handle_envelope(from, &[9, 1], now, &mut rng);
    assert!(
        matches!(r, Err(CryptoError::UnsupportedEnvelopeVersion(9))),
        "{r:?}"
    );
}
