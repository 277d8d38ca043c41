//! Seal + open throughput per packet on one core.
//!
//! Run with `cargo bench -p wzp-crypto --bench media`. Each iteration seals one
//! packet with the next sequence number and opens it on a receiver, the full
//! per-packet work (AEAD both ways, header encode/decode, replay window).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wzp_crypto::media::{MediaConfig, MediaReceiver, MediaSender};
use wzp_proto::{CodecId, Fingerprint, MediaHeader, ParticipantId, Seq, StreamId, TimestampMs};

fn bench_seal_open(c: &mut Criterion, name: &str, codec: CodecId, payload_len: usize) {
    let cfg = MediaConfig {
        max_packets_per_key: u32::MAX,
        ..MediaConfig::default()
    };
    let fp = Fingerprint([3; 16]);
    let pid = ParticipantId(1);
    let secret = [7u8; 32];
    let mut tx = MediaSender::with_secret(pid, fp, 0, &secret, &cfg);
    let mut rx = MediaReceiver::new(&cfg);
    let now = Instant::now();
    rx.install(pid, fp, 0, &secret, now);
    let payload = vec![0xa5u8; payload_len];
    let mut sealed = Vec::with_capacity(payload_len + 64);
    let mut opened = Vec::with_capacity(payload_len + 64);
    let mut seq = 0u32;
    let mut g = c.benchmark_group("seal+open");
    g.throughput(Throughput::Elements(1));
    g.bench_function(name, |b| {
        b.iter(|| {
            seq = seq.wrapping_add(1);
            let h = MediaHeader::new(codec, StreamId(0), Seq(seq), TimestampMs(seq));
            tx.seal(&h, black_box(&payload), &mut sealed).unwrap();
            rx.open(pid, black_box(&sealed), now, &mut opened).unwrap();
            black_box(opened.len())
        });
    });
    g.finish();
}

/// The bare AEAD the crate uses (ring's ChaCha20-Poly1305) on the same
/// sizes, as a floor: what is left of the seal+open time above it is this
/// crate's own per-packet work.
fn bench_raw_ring(c: &mut Criterion, name: &str, len: usize) {
    use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
    let key = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &[1u8; 32]).unwrap());
    let mut buf = vec![0x5au8; len];
    let aad = [0u8; 17];
    let mut ctr = 0u64;
    let mut g = c.benchmark_group("raw-aead-seal+open");
    g.throughput(Throughput::Elements(1));
    g.bench_function(format!("ring_{name}"), |b| {
        b.iter(|| {
            ctr += 1;
            let mut n = [0u8; 12];
            n[4..].copy_from_slice(&ctr.to_be_bytes());
            let tag = key
                .seal_in_place_separate_tag(
                    Nonce::assume_unique_for_key(n),
                    Aad::from(&aad),
                    &mut buf,
                )
                .unwrap();
            key.open_in_place_separate_tag(
                Nonce::assume_unique_for_key(n),
                Aad::from(&aad),
                tag,
                &mut buf,
                0..,
            )
            .unwrap();
            black_box(buf[0])
        });
    });
    g.finish();
}

/// The RustCrypto `chacha20poly1305` crate on the same sizes, which this
/// crate used before: kept to show why it moved to ring.
fn bench_raw_rustcrypto(c: &mut Criterion, name: &str, len: usize) {
    use chacha20poly1305::aead::AeadInPlace;
    use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce, Tag};
    let aead = ChaCha20Poly1305::new(&[1u8; 32].into());
    let mut buf = vec![0x5au8; len];
    let aad = [0u8; 17];
    let mut ctr = 0u64;
    let mut g = c.benchmark_group("raw-aead-seal+open");
    g.throughput(Throughput::Elements(1));
    g.bench_function(format!("rustcrypto_{name}"), |b| {
        b.iter(|| {
            ctr += 1;
            let mut n = [0u8; 12];
            n[4..].copy_from_slice(&ctr.to_be_bytes());
            let nonce = Nonce::from(n);
            let tag = aead
                .encrypt_in_place_detached(&nonce, &aad, &mut buf)
                .unwrap();
            aead.decrypt_in_place_detached(&nonce, &aad, &mut buf, &Tag::from(tag))
                .unwrap();
            black_box(buf[0])
        });
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    bench_raw_ring(c, "60B", 60);
    bench_raw_ring(c, "1200B", 1200);
    bench_raw_rustcrypto(c, "60B", 60);
    bench_raw_rustcrypto(c, "1200B", 1200);
    bench_seal_open(c, "audio_60B", CodecId::Opus24k, 60);
    bench_seal_open(c, "video_1200B", CodecId::H264Baseline, 1200);
}

criterion_group!(media, benches);
criterion_main!(media);
