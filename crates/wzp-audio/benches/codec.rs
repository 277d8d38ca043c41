//! Opus encode + decode of one 20 ms frame (goal <= 50 us), per tier with the
//! default (clean-link) settings, what DRED / the old defaults / plain Opus
//! cost at 32k, encode and decode apart, and the jitter buffer + decode
//! receive path.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use wzp_audio::{
    AudioReceiver, AudioSource, EncoderConfig, OpusDecoder, OpusEncoder, ReceiverConfig, ToneSource,
};
use wzp_proto::{CodecId, Seq, TimestampMs};

fn speechlike(n: usize) -> Vec<Vec<f32>> {
    // A 220 Hz tone with a harmonic, varying level: enough to keep the encoder busy.
    let mut a = ToneSource::new(220.0, 0.3);
    let mut b = ToneSource::new(1330.0, 0.1);
    (0..n)
        .map(|i| {
            let (mut x, mut y) = (vec![0.0; 960], vec![0.0; 960]);
            a.pull(&mut x).unwrap();
            b.pull(&mut y).unwrap();
            let g = 0.5 + 0.5 * ((i as f32) * 0.3).sin();
            x.iter().zip(&y).map(|(p, q)| (p + q) * g).collect()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let frames = speechlike(50);
    for codec in [
        CodecId::Opus64k,
        CodecId::Opus32k,
        CodecId::Opus16k,
        CodecId::Opus6k,
    ] {
        let mut enc = OpusEncoder::new(EncoderConfig::for_codec(codec)).unwrap();
        let mut dec = OpusDecoder::new().unwrap();
        let mut pkt = vec![0u8; 1275];
        let mut out = vec![0.0; 960];
        let mut i = 0;
        c.bench_function(&format!("opus_encode_decode_20ms/{codec:?}"), |b| {
            b.iter(|| {
                let n = enc
                    .encode(black_box(&frames[i % frames.len()]), &mut pkt)
                    .unwrap();
                dec.decode(&pkt[..n], &mut out).unwrap();
                i += 1;
                black_box(&out);
            })
        });
    }
    // What each option costs at 32k: DRED on a lossy link (no in-band FEC,
    // the two do not fit together at 32k), the previous default (FEC + DTX +
    // DRED 100 ms, 10% loss hint), and plain Opus.
    let lossy = EncoderConfig::lossy(CodecId::Opus32k, 15, 10);
    let old_default = EncoderConfig {
        dred_frames: 10,
        expected_loss_pct: 10,
        ..EncoderConfig::for_codec(CodecId::Opus32k)
    };
    for (name, cfg) in [
        ("Opus32k_lossy_dred", lossy),
        ("Opus32k_fec_dred_old_default", old_default),
        ("Opus32k_plain", EncoderConfig::plain(CodecId::Opus32k)),
        (
            "Opus32k_plain_c0",
            EncoderConfig {
                complexity: 0,
                ..EncoderConfig::plain(CodecId::Opus32k)
            },
        ),
    ] {
        let mut enc = OpusEncoder::new(cfg).unwrap();
        let mut dec = OpusDecoder::new().unwrap();
        let mut pkt = vec![0u8; 1275];
        let mut out = vec![0.0; 960];
        let mut i = 0;
        c.bench_function(&format!("opus_encode_decode_20ms/{name}"), |b| {
            b.iter(|| {
                let n = enc
                    .encode(black_box(&frames[i % frames.len()]), &mut pkt)
                    .unwrap();
                dec.decode(&pkt[..n], &mut out).unwrap();
                i += 1;
                black_box(&out);
            })
        });
    }
    // Encode and decode apart, default 32k settings.
    let mut enc = OpusEncoder::new(EncoderConfig::for_codec(CodecId::Opus32k)).unwrap();
    let mut pkt = vec![0u8; 1275];
    let mut i = 0;
    c.bench_function("opus_encode_20ms/Opus32k", |b| {
        b.iter(|| {
            let n = enc
                .encode(black_box(&frames[i % frames.len()]), &mut pkt)
                .unwrap();
            i += 1;
            black_box(n);
        })
    });
    let mut enc = OpusEncoder::new(EncoderConfig::for_codec(CodecId::Opus32k)).unwrap();
    let packets: Vec<Vec<u8>> = frames
        .iter()
        .map(|f| {
            let mut p = vec![0u8; 1275];
            let n = enc.encode(f, &mut p).unwrap();
            p.truncate(n);
            p
        })
        .collect();
    let mut dec = OpusDecoder::new().unwrap();
    let mut out = vec![0.0; 960];
    let mut i = 0;
    c.bench_function("opus_decode_20ms/Opus32k", |b| {
        b.iter(|| {
            dec.decode(black_box(&packets[i % packets.len()]), &mut out)
                .unwrap();
            i += 1;
            black_box(&out);
        })
    });
    let mut rx = AudioReceiver::new(ReceiverConfig::default()).unwrap();
    let t0 = Instant::now();
    let mut out = vec![0.0; 960];
    let mut i: u32 = 0;
    c.bench_function("receive_insert_pull_20ms/Opus32k", |b| {
        b.iter(|| {
            let now = t0 + Duration::from_millis(u64::from(i) * 20);
            rx.insert(
                Seq(i),
                TimestampMs(i.wrapping_mul(20)),
                &packets[i as usize % packets.len()],
                now,
            );
            rx.pull(now, &mut out).unwrap();
            i += 1;
            black_box(&out);
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
