//! Packets per second sealed and opened on one core, for the goal
//! (at least 1,000,000 audio packets/s per core).
//!
//! Run with `cargo bench -p wzp-crypto --bench throughput` (optionally followed
//! by `-- SECONDS`, default 3). One thread seals a packet, opens it on a
//! receiver, and repeats, as the `media` criterion bench does, for a fixed
//! time. It prints two rates:
//!
//! * per wall-clock second: what this run got, including time the thread
//!   spent waiting for the CPU on a busy machine;
//! * per second on the CPU, from the kernel's count of the time this thread
//!   actually ran (`/proc/thread-self/schedstat`, Linux): what one core
//!   delivers, which is what the goal is about. On an idle machine the two agree.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use wzp_crypto::media::{MediaConfig, MediaReceiver, MediaSender};
use wzp_proto::{CodecId, Fingerprint, MediaHeader, ParticipantId, Seq, StreamId, TimestampMs};

/// Nanoseconds this thread has run on a CPU, if the kernel says.
fn on_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

fn run(name: &str, codec: CodecId, payload_len: usize, secs: f64) {
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
    let mut step = || {
        seq = seq.wrapping_add(1);
        let h = MediaHeader::new(codec, StreamId(0), Seq(seq), TimestampMs(seq));
        tx.seal(&h, black_box(&payload), &mut sealed).unwrap();
        rx.open(pid, black_box(&sealed), now, &mut opened).unwrap();
        black_box(opened.len());
    };
    // Warm up caches and the CPU feature detection.
    for _ in 0..10_000 {
        step();
    }
    let limit = Duration::from_secs_f64(secs);
    let cpu0 = on_cpu_ns();
    let t0 = Instant::now();
    let mut packets = 0u64;
    while t0.elapsed() < limit {
        for _ in 0..1_000 {
            step();
        }
        packets += 1_000;
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu0
        .zip(on_cpu_ns())
        .map(|(a, b)| b.saturating_sub(a) as f64 / 1e9);
    print!(
        "{name:<12} {packets:>10} packets  wall {wall:6.2} s  {:>9.0} packets/s  {:6.3} us/packet",
        packets as f64 / wall,
        wall * 1e6 / packets as f64
    );
    match cpu {
        Some(c) if c > 0.0 => println!(
            "  |  on CPU {c:6.2} s  {:>9.0} packets/s  {:6.3} us/packet",
            packets as f64 / c,
            c * 1e6 / packets as f64
        ),
        _ => println!("  |  on-CPU time not available"),
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a number is the seconds per case.
    let secs = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<f64>().ok())
        .unwrap_or(3.0);
    run("audio_60B", CodecId::Opus24k, 60, secs);
    run("video_1200B", CodecId::H264Baseline, 1200, secs);
}
