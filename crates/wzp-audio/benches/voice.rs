//! The send path per 20 ms frame (goal <= 1 ms): far-end reference in, then
//! microphone frame through echo cancellation + noise suppression (+ gain
//! control), then Opus encode. Also the voice processor alone per stage set.
//! Input: the speech asset as far end, its echo (60 ms, -10 dB) plus a
//! quieter copy of itself offset by 3 s as near-end talk (double talk).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use wzp_audio::{EncoderConfig, OpusEncoder, VoiceConfig, VoiceProcessor, WavSource};
use wzp_proto::CodecId;

fn signals() -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets/speech_48k.wav");
    let s = WavSource::open(path).unwrap().samples().to_vec();
    let n = s.len();
    let far: Vec<Vec<f32>> = s.chunks_exact(960).map(<[f32]>::to_vec).collect();
    let near: Vec<Vec<f32>> = (0..far.len())
        .map(|f| {
            (0..960)
                .map(|i| {
                    let t = f * 960 + i;
                    let echo = if t >= 2880 { s[t - 2880] * 0.316 } else { 0.0 };
                    echo + 0.5 * s[(t + 144_000) % n]
                })
                .collect()
        })
        .collect();
    (far, near)
}

fn bench(c: &mut Criterion) {
    let (far, near) = signals();
    let stages = [
        ("aec_ns_agc", VoiceConfig::default()),
        (
            "aec_ns",
            VoiceConfig {
                gain_control: false,
                ..VoiceConfig::default()
            },
        ),
        (
            "ns_only",
            VoiceConfig {
                echo_cancellation: false,
                gain_control: false,
                ..VoiceConfig::default()
            },
        ),
    ];
    for (name, cfg) in stages {
        let mut vp = VoiceProcessor::new(cfg);
        let mut buf = vec![0.0; 960];
        let mut i = 0;
        c.bench_function(&format!("voice_20ms/{name}"), |b| {
            b.iter(|| {
                let k = i % far.len();
                vp.analyze_far_end(&far[k]).unwrap();
                buf.copy_from_slice(&near[k]);
                vp.process(black_box(&mut buf)).unwrap();
                i += 1;
                black_box(&buf);
            })
        });
    }
    for (name, cfg) in [
        ("aec_ns_agc+opus32k", VoiceConfig::default()),
        (
            "aec_ns+opus32k",
            VoiceConfig {
                gain_control: false,
                ..VoiceConfig::default()
            },
        ),
    ] {
        let mut vp = VoiceProcessor::new(cfg);
        let mut enc = OpusEncoder::new(EncoderConfig::for_codec(CodecId::Opus32k)).unwrap();
        let mut buf = vec![0.0; 960];
        let mut pkt = vec![0u8; 1275];
        let mut i = 0;
        c.bench_function(&format!("send_path_20ms/{name}"), |b| {
            b.iter(|| {
                let k = i % far.len();
                vp.analyze_far_end(&far[k]).unwrap();
                buf.copy_from_slice(&near[k]);
                vp.process(&mut buf).unwrap();
                let n = enc.encode(&buf, &mut pkt).unwrap();
                i += 1;
                black_box(n);
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
