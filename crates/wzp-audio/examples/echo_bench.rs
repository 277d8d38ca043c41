//! Echo bench: far-end speech played into a simulated room comes back into
//! the microphone; the voice processor removes it. Prints echo return loss
//! enhancement (ERLE, dB) after convergence for several echo delays, with and
//! without clock drift between the playback and capture devices.
//!
//! Room: echo path delay D, attenuation, a short decaying reflection tail, a
//! noise floor at -60 dBFS, and a resampling of the echo by (1 + drift) to
//! model two devices on different clocks (the delay then creeps by
//! drift x elapsed time; positive drift: the echo path shrinks, negative: it
//! grows). Only the far end talks (single talk), so every sample in the
//! microphone is echo or noise: ERLE = mic energy / output energy over the
//! seconds after `CONVERGE_S`.
//!
//! Double talk, so that a canceller which just mutes the microphone cannot
//! look good: a second run adds a near-end talker (the same speech 3 s
//! later, -6 dB, louder than the echo) over `DT_S`; "near-end kept" is output
//! energy / near-end energy over that span (0 dB: the talker passes intact;
//! the residual echo adds a little).
//!
//! `cargo run --release -p wzp-audio --example echo_bench`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use wzp_audio::{VoiceConfig, VoiceProcessor, WavSource};

const CONVERGE_S: usize = 5;
const TOTAL_S: usize = 20;
/// Near-end talk span of the double-talk run, seconds.
const DT_S: (usize, usize) = (12, 16);

/// xorshift noise, deterministic.
struct Noise(u64);
impl Noise {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
}

/// Far-end signal through the room, as the microphone hears it.
fn room(far: &[f32], delay_ms: f32, gain: f32, drift_ppm: f32) -> Vec<f32> {
    let taps = [
        (0usize, 1.0f32),
        (96, 0.35),
        (240, 0.2),
        (530, 0.1),
        (910, 0.05),
    ];
    let rate = 1.0 + drift_ppm * 1e-6;
    let mut noise = Noise(0x9E37_79B9_7F4A_7C15);
    (0..far.len())
        .map(|n| {
            // Capture clock runs at `rate` x the playback clock.
            let t = n as f32 * rate - delay_ms * 48.0;
            let mut y = 0.0;
            for &(d, g) in &taps {
                let p = t - d as f32;
                if p >= 0.0 {
                    let i = p as usize;
                    let f = p - i as f32;
                    if i + 1 < far.len() {
                        y += g * (far[i] * (1.0 - f) + far[i + 1] * f);
                    }
                }
            }
            y * gain + noise.next() * 1e-3
        })
        .collect()
}

/// This thread's on-CPU nanoseconds (Linux schedstat), if readable: a cost
/// figure that stays honest when other work shares the CPU.
fn cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// (ERLE dB, AEC3's own ERLE estimate, on-CPU us per 20 ms frame).
fn erle(cfg: VoiceConfig, far: &[f32], mic: &[f32]) -> (f32, Option<f64>, Option<f64>) {
    let mut vp = VoiceProcessor::new(cfg);
    let c0 = cpu_ns();
    let (mut e_in, mut e_out) = (0.0f64, 0.0f64);
    let mut out = vec![0.0; 960];
    for (i, (f, m)) in far.chunks_exact(960).zip(mic.chunks_exact(960)).enumerate() {
        vp.analyze_far_end(f).unwrap();
        out.copy_from_slice(m);
        vp.process(&mut out).unwrap();
        if i >= CONVERGE_S * 50 {
            e_in += m.iter().map(|v| f64::from(v * v)).sum::<f64>();
            e_out += out.iter().map(|v| f64::from(v * v)).sum::<f64>();
        }
    }
    let frames = (far.len() / 960) as f64;
    (
        (10.0 * (e_in / e_out.max(1e-12)).log10()) as f32,
        vp.stats().erle_db,
        // Includes the ERLE bookkeeping, which is negligible beside AEC3.
        cpu_ns().zip(c0).map(|(b, a)| (b - a) as f64 / frames / 1e3),
    )
}

/// Near-end kept during double talk, dB: output energy / near-end energy
/// over `DT_S` (the microphone holds echo + near end there).
fn near_kept(cfg: VoiceConfig, far: &[f32], mic: &[f32], near: &[f32]) -> f32 {
    let mut vp = VoiceProcessor::new(cfg);
    let (mut e_near, mut e_out) = (0.0f64, 0.0f64);
    let mut out = vec![0.0; 960];
    let span = DT_S.0 * 50..DT_S.1 * 50;
    for (i, (f, m)) in far.chunks_exact(960).zip(mic.chunks_exact(960)).enumerate() {
        vp.analyze_far_end(f).unwrap();
        out.copy_from_slice(m);
        let talk = span.contains(&i);
        if talk {
            for (o, n) in out.iter_mut().zip(&near[i * 960..(i + 1) * 960]) {
                *o += n;
            }
            e_near += near[i * 960..(i + 1) * 960]
                .iter()
                .map(|v| f64::from(v * v))
                .sum::<f64>();
        }
        vp.process(&mut out).unwrap();
        if talk {
            e_out += out.iter().map(|v| f64::from(v * v)).sum::<f64>();
        }
    }
    (10.0 * (e_out / e_near.max(1e-12)).log10()) as f32
}

fn main() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets/speech_48k.wav");
    let speech = WavSource::open(path)
        .expect("speech asset")
        .samples()
        .to_vec();
    let far: Vec<f32> = speech
        .iter()
        .copied()
        .cycle()
        .take(TOTAL_S * 48_000)
        .collect();
    let aec_only = VoiceConfig {
        noise_suppression: false,
        gain_control: false,
        ..VoiceConfig::default()
    };
    let aec_ns = VoiceConfig {
        gain_control: false,
        ..VoiceConfig::default()
    };
    // The near-end talker: the same speech 3 s on, -6 dB.
    let near: Vec<f32> = speech
        .iter()
        .copied()
        .cycle()
        .skip(3 * 48_000)
        .take(TOTAL_S * 48_000)
        .map(|v| v * 0.5)
        .collect();
    println!("echo path: -10 dB + reflections, noise -60 dBFS; ERLE over {CONVERGE_S}-{TOTAL_S} s");
    println!(
        "delay ms | drift ppm | ERLE AEC only dB (AEC3's estimate) | ERLE AEC+NS dB | near-end kept in double talk dB, AEC+NS | on-CPU us/frame AEC, AEC+NS"
    );
    // `WZP_ECHO_ROWS=DELAY:DRIFT,...` (e.g. `50:1000,50:-1000`) runs only those rows.
    let rows: Vec<(f32, f32)> = std::env::var("WZP_ECHO_ROWS").map_or_else(
        |_| {
            [50.0, 120.0, 200.0]
                .into_iter()
                .flat_map(|d| [0.0, 100.0, 500.0, -500.0].map(|p| (d, p)))
                .collect()
        },
        |v| {
            v.split(',')
                .filter_map(|r| {
                    let (d, p) = r.split_once(':')?;
                    Some((d.trim().parse().ok()?, p.trim().parse().ok()?))
                })
                .collect()
        },
    );
    for (delay, drift) in rows {
        {
            let mic = room(&far, delay, 0.316, drift);
            let (a, est, ca) = erle(aec_only, &far, &mic);
            let (b, _, cb) = erle(aec_ns, &far, &mic);
            let kept = near_kept(aec_ns, &far, &mic, &near);
            let us = |c: Option<f64>| c.map_or("-".into(), |v| format!("{v:.0}"));
            println!(
                "{delay:.0} | {drift:.0} | {a:.1} ({}) | {b:.1} | {kept:.1} | {}, {}",
                est.map_or("-".into(), |v| format!("{v:.1}")),
                us(ca),
                us(cb)
            );
        }
    }
}
