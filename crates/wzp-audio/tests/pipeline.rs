//! Acceptance: a tone goes in, the same frequency comes out, through
//! encode -> 20% seeded loss with jitter -> jitter buffer -> decode (headless).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::{Duration, Instant};

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use wzp_audio::analysis::dominant_frequency;
use wzp_audio::{
    AudioReceiver, AudioSource, EncoderConfig, FrameOrigin, OpusEncoder, ReceiverConfig, Recovery,
    ToneSource,
};
use wzp_proto::{CodecId, Seq, TimestampMs};

fn run(recovery: Option<Recovery>) -> (Vec<f32>, wzp_audio::JitterStats) {
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    let mut enc = OpusEncoder::new(EncoderConfig {
        expected_loss_pct: 20,
        ..EncoderConfig::for_codec(CodecId::Opus32k)
    })
    .unwrap();
    let mut rx = AudioReceiver::new(ReceiverConfig {
        recovery,
        ..ReceiverConfig::default()
    })
    .unwrap();
    let mut tone = ToneSource::new(700.0, 0.4);
    let (mut pcm, mut pkt, mut out) = (vec![0.0; 960], vec![0u8; 1275], vec![0.0; 960]);
    let t0 = Instant::now();
    // Packets in flight: (arrival ms, seq, payload).
    let mut net: Vec<(u64, u32, Vec<u8>)> = Vec::new();
    let mut output = Vec::new();
    for i in 0..500u32 {
        let now_ms = u64::from(i) * 20;
        tone.pull(&mut pcm).unwrap();
        let n = enc.encode(&pcm, &mut pkt).unwrap();
        if rng.next_u32() % 100 >= 20 {
            let jitter = u64::from(rng.next_u32() % 40);
            net.push((now_ms + 10 + jitter, i, pkt[..n].to_vec()));
        }
        let now = t0 + Duration::from_millis(now_ms);
        net.sort_by_key(|p| p.0);
        while net.first().is_some_and(|p| p.0 <= now_ms) {
            let (_, seq, p) = net.remove(0);
            rx.insert(Seq(seq), TimestampMs(seq * 20), &p, now);
        }
        let origin = rx.pull(now, &mut out).unwrap();
        if origin != FrameOrigin::Silence {
            output.extend_from_slice(&out);
        }
    }
    (output, rx.stats())
}

#[test]
fn tone_survives_20_percent_loss_with_same_frequency() {
    let (output, stats) = run(Some(Recovery::InbandFec));
    assert!(output.len() > 400 * 960, "played {} samples", output.len());
    let f = dominant_frequency(&output[48_000..], 48_000);
    assert!((f - 700.0).abs() < 5.0, "frequency out {f}");
    assert!(stats.lost > 60, "{stats:?}");
    assert!(stats.recovered + stats.concealed >= stats.lost, "{stats:?}");
    assert!(stats.recovered > 20, "{stats:?}");
}

#[test]
fn dred_and_plain_plc_also_keep_the_frequency() {
    for rec in [Some(Recovery::Dred), None] {
        let (output, stats) = run(rec);
        let f = dominant_frequency(&output[48_000..], 48_000);
        assert!((f - 700.0).abs() < 5.0, "{rec:?}: frequency out {f}");
        if rec.is_none() {
            assert_eq!(stats.recovered, 0);
        }
    }
}
