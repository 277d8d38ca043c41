//! CPU cost of audio device I/O alone: opens a capture and a playback device (ids from
//! the command line, default devices when omitted), pulls and pushes 20 ms frames in
//! real time for `WZP_DEV_SECS` (default 10) seconds, and prints the process's CPU time
//! (user + system, from /proc/self/stat) per second of audio, and the PulseAudio or
//! PipeWire server's when one runs: a client that asks for tiny buffers costs the
//! server as much as itself. Linux only.
//!
//! `cargo run --release -p wzp-audio --example device_cpu -- [CAPTURE_ID|default] [PLAYBACK_ID|default]`

use std::time::{Duration, Instant};

use wzp_audio::{AudioSink, AudioSource, CaptureDevice, PlaybackDevice, list_devices};

fn cpu_seconds() -> f64 {
    cpu_seconds_of("/proc/self/stat")
}

/// The sound server's /proc stat path: the first process named `pulseaudio` or
/// `pipewire-pulse`.
fn server_stat() -> Option<String> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
        matches!(comm.trim(), "pulseaudio" | "pipewire-pulse" | "pipewire")
            .then(|| e.path().join("stat").to_string_lossy().into_owned())
    })
}

fn cpu_seconds_of(path: &str) -> f64 {
    // utime and stime are fields 14 and 15, in clock ticks; the command name may hold
    // spaces, so fields are counted from the last ')' (the state, field 3, comes first).
    // By position: some fields are negative (tpgid is -1 without a terminal).
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    (tick(11) + tick(12)) as f64 / 100.0
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let pick = |i: usize| args.get(i).filter(|a| a.as_str() != "default").cloned();
    let secs: u64 = std::env::var("WZP_DEV_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    if args.first().map(String::as_str) == Some("list") {
        for d in list_devices().unwrap_or_default() {
            println!("{:?} {} {}", d.direction, d.id, d.name);
        }
        return;
    }
    let (cap_id, play_id) = (pick(0), pick(1));
    let mut cap = match CaptureDevice::open(cap_id.as_deref()) {
        Ok(c) => c,
        Err(e) => return eprintln!("capture: {e}"),
    };
    let mut play = match PlaybackDevice::open(play_id.as_deref()) {
        Ok(p) => p,
        Err(e) => return eprintln!("playback: {e}"),
    };
    println!(
        "capture {:?}, playback {:?}",
        cap.device().map(|d| d.id.clone()),
        play.device().map(|d| d.id.clone())
    );
    std::thread::sleep(Duration::from_millis(500));
    let server = server_stat();
    let server_cpu = || server.as_deref().map_or(0.0, cpu_seconds_of);
    let n = |c: &wzp_audio::device::DeviceCounters| {
        (
            c.callbacks.load(std::sync::atomic::Ordering::Relaxed),
            c.xruns.load(std::sync::atomic::Ordering::Relaxed),
        )
    };
    // Counted from here: the half second above, with nothing pushed, underruns.
    let ((cc0, cx0), (pc0, px0)) = (n(cap.counters()), n(play.counters()));
    let (c0, s0, t0) = (cpu_seconds(), server_cpu(), Instant::now());
    let mut frame = vec![0.0f32; 960];
    let mut next = Instant::now();
    let mut frames = 0u64;
    while t0.elapsed() < Duration::from_secs(secs) {
        let _ = cap.pull(&mut frame);
        let _ = play.push(&frame);
        frames += 1;
        next += Duration::from_millis(20);
        if let Some(d) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
    }
    let (cpu, wall) = (cpu_seconds() - c0, t0.elapsed().as_secs_f64());
    let srv = server_cpu() - s0;
    let ((cc, cx), (pc, px)) = (n(cap.counters()), n(play.counters()));
    let (cc, cx, pc, px) = (cc - cc0, cx - cx0, pc - pc0, px - px0);
    let errs =
        |c: &wzp_audio::device::DeviceCounters| c.errors.load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "backend errors since opening: capture {}, playback {}; process CPU since start {:.2} s",
        errs(cap.counters()),
        errs(play.counters()),
        cpu_seconds()
    );
    println!(
        "{frames} frames in {wall:.1} s: CPU {cpu:.2} s = {:.1} % of one core (sound server {:.1} %); capture {cc} callbacks, {cx} xrun samples; playback {pc} callbacks, {px} xrun samples",
        100.0 * cpu / wall,
        100.0 * srv / wall
    );
}
