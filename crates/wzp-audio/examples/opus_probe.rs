//! Where Opus spends its time and which tiers carry DRED: per setting, encode
//! and decode cost per 20 ms frame (wall clock and, on Linux, this thread's
//! on-CPU time from /proc, which stays honest when other work shares the
//! CPU), average packet size, and how many packets carry a DRED extension.
//! Then the same for libopus's own modes side by side, SILK/hybrid (`Voip`) against
//! CELT only (`LowDelay`), writing each decoded clip to `WZP_PROBE_WAV_DIR` (default
//! /tmp) for `tools/pesq_score.py`: CELT only is the one way under the 50 us goal.
//!
//! `cargo run --release -p wzp-audio --example opus_probe`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use opusic_c::{Application, Bandwidth, Bitrate, Channels, Decoder, Encoder, SampleRate, Signal};
use wzp_audio::codec::has_dred_extension;
use wzp_audio::{EncoderConfig, OpusDecoder, OpusEncoder, WavSource};
use wzp_proto::CodecId;

/// This thread's on-CPU nanoseconds (Linux schedstat), if readable.
fn cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

fn main() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets/speech_48k.wav");
    let pcm = WavSource::open(path)
        .expect("speech asset")
        .samples()
        .to_vec();
    let frames: Vec<&[f32]> = pcm.chunks_exact(960).collect();
    let mut cases = Vec::new();
    for cx in [0u8, 5, 8, 9] {
        cases.push((
            format!("Opus32k plain c{cx}"),
            EncoderConfig {
                complexity: cx,
                ..EncoderConfig::plain(CodecId::Opus32k)
            },
        ));
        cases.push((
            format!("Opus32k FEC c{cx}"),
            EncoderConfig {
                complexity: cx,
                dtx: false,
                ..EncoderConfig::for_codec(CodecId::Opus32k)
            },
        ));
        cases.push((
            format!("Opus32k FEC+DRED10 c{cx}"),
            EncoderConfig {
                complexity: cx,
                dtx: false,
                dred_frames: 10,
                ..EncoderConfig::for_codec(CodecId::Opus32k)
            },
        ));
    }
    for codec in wzp_audio::codec::OPUS_TIERS {
        for fec in [true, false] {
            cases.push((
                format!("{codec:?} DRED10 loss15 fec={fec}"),
                EncoderConfig {
                    dtx: false,
                    inband_fec: fec,
                    dred_frames: 10,
                    expected_loss_pct: 15,
                    ..EncoderConfig::for_codec(codec)
                },
            ));
        }
    }
    println!("setting | encode wall / cpu us | decode wall / cpu us | avg bytes | DRED packets");
    for (name, cfg) in cases {
        let mut enc = OpusEncoder::new(cfg).unwrap();
        let mut dec = OpusDecoder::new().unwrap();
        let mut out = vec![0.0; 960];
        let (t, c) = (Instant::now(), cpu_ns());
        let packets = encode_all(&frames, |f, pkt| enc.encode(f, pkt).unwrap());
        let n = packets.len() as f64;
        let enc_wall = t.elapsed().as_secs_f64() / n * 1e6;
        let enc_cpu = cpu_ns().zip(c).map(|(b, a)| (b - a) as f64 / n / 1e3);
        let (t, c) = (Instant::now(), cpu_ns());
        for p in &packets {
            dec.decode(p, &mut out).unwrap();
        }
        let dec_wall = t.elapsed().as_secs_f64() / n * 1e6;
        let dec_cpu = cpu_ns().zip(c).map(|(b, a)| (b - a) as f64 / n / 1e3);
        let bytes = packets.iter().map(Vec::len).sum::<usize>() as f64 / n;
        let dred = packets.iter().filter(|p| has_dred_extension(p)).count();
        println!(
            "{name} | {enc_wall:.0} / {} | {dec_wall:.0} / {} | {bytes:.0} | {dred}/{}",
            enc_cpu.map_or("-".into(), |v| format!("{v:.0}")),
            dec_cpu.map_or("-".into(), |v| format!("{v:.0}")),
            packets.len()
        );
    }
    modes(&frames);
}

/// Encodes every frame with `encode` (which writes a packet into its buffer and
/// returns the length), one packet each.
fn encode_all(
    frames: &[&[f32]],
    mut encode: impl FnMut(&[f32], &mut [u8]) -> usize,
) -> Vec<Vec<u8>> {
    let mut pkt = vec![0u8; 1275];
    frames
        .iter()
        .map(|f| {
            let n = encode(f, &mut pkt);
            pkt[..n].to_vec()
        })
        .collect()
}

/// libopus's modes at the same bitrates: cost per frame, and the decoded clip.
fn modes(frames: &[&[f32]]) {
    let dir = std::env::var("WZP_PROBE_WAV_DIR").unwrap_or_else(|_| "/tmp".into());
    println!("\nmode | bitrate | complexity | encode cpu us | decode cpu us | avg bytes | clip");
    let cases = [
        ("voip", Application::Voip, Bandwidth::Full),
        ("celt", Application::LowDelay, Bandwidth::Full),
        ("celt-wb", Application::LowDelay, Bandwidth::Wide),
    ];
    for (name, app, bw) in cases {
        for br in [32_000, 48_000] {
            for cx in [0u8, 5, 9] {
                let mut enc = Encoder::new(Channels::Mono, SampleRate::Hz48000, app).unwrap();
                enc.set_signal(Signal::Voice).unwrap();
                enc.set_vbr(true).unwrap();
                enc.set_bitrate(Bitrate::Value(br)).unwrap();
                enc.set_complexity(cx).unwrap();
                enc.set_max_bandwidth(bw).unwrap();
                let mut dec = Decoder::new(Channels::Mono, SampleRate::Hz48000).unwrap();
                let c = cpu_ns();
                let packets =
                    encode_all(frames, |f, pkt| enc.encode_float_to_slice(f, pkt).unwrap());
                let n = packets.len() as f64;
                let per = |a: Option<u64>, b: Option<u64>| {
                    b.zip(a).map_or("-".into(), |(b, a)| {
                        format!("{:.0}", (b - a) as f64 / n / 1e3)
                    })
                };
                let enc_cpu = per(c, cpu_ns());
                let (c, mut out, mut o) = (cpu_ns(), Vec::new(), vec![0f32; 960]);
                for p in &packets {
                    let k = dec.decode_float_to_slice(p, &mut o, false).unwrap();
                    out.extend_from_slice(&o[..k]);
                }
                let dec_cpu = per(c, cpu_ns());
                let bytes = packets.iter().map(Vec::len).sum::<usize>() as f64 / n;
                let clip = format!("{dir}/opus_probe_{name}_{}k_c{cx}.wav", br / 1000);
                wzp_audio::io::write_wav(&clip, &out).unwrap();
                println!(
                    "{name} | {}k | {cx} | {enc_cpu} | {dec_cpu} | {bytes:.0} | {clip}",
                    br / 1000
                );
            }
        }
    }
}
