//! Known-answer tests against vectors computed independently in Python
//! (`testdata/gen_vectors.py`, output checked in as `testdata/vectors.json`).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use serde::Deserialize;
use wzp_crypto::identity::{Identity, PublicIdentity, Seed};
use wzp_crypto::media::{MediaConfig, MediaReceiver, MediaSender};
use wzp_crypto::verify::{ShortCode, safety_number};
use wzp_proto::{Fingerprint, MediaHeader, ParticipantId};

#[derive(Deserialize)]
struct Vectors {
    identities: Vec<IdVec>,
    safety_numbers: Vec<SafetyVec>,
    media: Vec<MediaVec>,
    short_codes: Vec<CodeVec>,
}

#[derive(Deserialize)]
struct IdVec {
    seed: String,
    mnemonic: String,
    ed25519_pub: String,
    x25519_pub: String,
    fingerprint: String,
}

#[derive(Deserialize)]
struct SafetyVec {
    a: String,
    b: String,
    number: String,
}

#[derive(Deserialize)]
struct MediaVec {
    secret: String,
    sender_fingerprint: String,
    sender_pid: u16,
    epoch: u32,
    header: String,
    plaintext: String,
    datagram: String,
}

#[derive(Deserialize)]
struct CodeVec {
    prk: String,
    code: String,
}

fn vectors() -> Vectors {
    let text = include_str!("../testdata/vectors.json");
    serde_json::from_str(text).unwrap()
}

fn h32(s: &str) -> [u8; 32] {
    let mut b = [0u8; 32];
    hex::decode_to_slice(s, &mut b).unwrap();
    b
}

#[test]
fn identity_vectors() {
    for v in vectors().identities {
        let seed = Seed::from_hex(&v.seed).unwrap();
        assert_eq!(*seed.to_mnemonic(), v.mnemonic);
        let restored = Seed::from_mnemonic(&v.mnemonic).unwrap();
        assert_eq!(restored.as_bytes(), seed.as_bytes());
        let id = Identity::from_seed(seed);
        assert_eq!(id.public().to_hex(), v.ed25519_pub);
        assert_eq!(hex::encode(id.x25519_public()), v.x25519_pub);
        assert_eq!(id.fingerprint().to_string(), v.fingerprint);
    }
}

#[test]
fn safety_number_vectors() {
    for v in vectors().safety_numbers {
        let a = PublicIdentity::from_hex(&v.a).unwrap();
        let b = PublicIdentity::from_hex(&v.b).unwrap();
        assert_eq!(safety_number(&a, &b).digits(), v.number);
        assert_eq!(safety_number(&b, &a).digits(), v.number);
        assert_eq!(v.number.len(), 60);
    }
}

#[test]
fn media_vectors_open() {
    for v in vectors().media {
        let mut fp = [0u8; 16];
        hex::decode_to_slice(&v.sender_fingerprint, &mut fp).unwrap();
        let mut rx = MediaReceiver::new(&MediaConfig::default());
        let pid = ParticipantId(v.sender_pid);
        let now = std::time::Instant::now();
        rx.install(pid, Fingerprint(fp), v.epoch, &h32(&v.secret), now);
        let datagram = hex::decode(&v.datagram).unwrap();
        let mut out = Vec::new();
        let header = rx.open(pid, &datagram, now, &mut out).unwrap();
        assert_eq!(hex::encode(header.encode()), v.header);
        assert_eq!(hex::encode(&out), v.plaintext);
        // Sealing the same packet gives the same bytes.
        let mut tx = MediaSender::with_secret(
            pid,
            Fingerprint(fp),
            v.epoch,
            &h32(&v.secret),
            &MediaConfig::default(),
        );
        let mut sealed = Vec::new();
        tx.seal(&header, &hex::decode(&v.plaintext).unwrap(), &mut sealed)
            .unwrap();
        assert_eq!(sealed, datagram);
        let _ = MediaHeader::decode(&datagram).unwrap();
    }
}

#[test]
fn short_code_vectors() {
    for v in vectors().short_codes {
        assert_eq!(ShortCode::from_prk(&h32(&v.prk)).to_string(), v.code);
    }
}
