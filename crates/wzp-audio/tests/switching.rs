//! Live device switching against the PulseAudio null sink of scripts/harness.sh:
//! while one capture runs (the call's microphone, fed a tone through the null sink
//! so it carries a signal), list the devices and open and close every listed one
//! again and again, as a user trying the pickers during a call does. The running
//! capture must keep delivering audio without a long gap, and every listed device
//! must open by its id. Skips, saying so, without the harness's PulseAudio.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;
use common::pulse;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use wzp_audio::{
    AudioSink, AudioSource, CaptureDevice, DeviceEvent, Direction, PlaybackDevice, Pull,
    ToneSource, list_devices,
};

/// The tests here measure timing on a shared sound server: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Longest silence from the running capture that a call survives unnoticed; the
/// engine's jitter buffer and the peer's concealment cover less than this.
const MAX_GAP: Duration = Duration::from_millis(300);

/// What the capture thread saw.
#[derive(Debug, Default)]
struct CaptureStats {
    /// Samples delivered after the switching began.
    samples: usize,
    /// Longest time without a new sample, as this test's thread saw it.
    max_gap: Duration,
    /// How long the device demonstrably delivered nothing: from a delivery to the
    /// last look that still found nothing. Unlike `max_gap` this leaves out time
    /// this test's own thread was not running (it looks every 5 ms, but on a busy
    /// machine it can go unscheduled for far longer, even in the middle of a pull,
    /// and the device cannot be blamed for what nobody looked at).
    max_device_gap: Duration,
    /// Every gap over 100 ms, in ms.
    long_gaps: Vec<u128>,
    /// Every gap over 50 ms with the time it ended, to tell gaps while switching
    /// from those of a machine that is merely busy.
    timed_gaps: Vec<(Instant, Duration)>,
    /// 100 ms blocks of delivered audio without the tone (near silence).
    quiet_blocks: usize,
    /// 100 ms blocks of delivered audio.
    blocks: usize,
    /// Device events reported by `poll` (a loss here means the capture broke).
    events: Vec<DeviceEvent>,
    /// Longest time between two turns of the pulling loop (it sleeps 5 ms): how long
    /// this test's own thread went unscheduled, which a delivery gap includes.
    max_turn: Duration,
    /// Samples the device callback could not store (the ring was full).
    xruns: u64,
    /// Seconds from the first delivery to the last (what `samples` should fill).
    ran_s: f32,
}

/// Pulls the capture every 5 ms until `stop`, timing the gaps between deliveries.
fn capture_thread(
    started: mpsc::Sender<Result<String, String>>,
    stop: Arc<AtomicBool>,
) -> JoinHandle<CaptureStats> {
    let spawned = std::thread::Builder::new()
        .name("wzp-test-capture".into())
        .spawn(move || {
            let mut stats = CaptureStats::default();
            let mut mic = match CaptureDevice::open(None) {
                Ok(m) => m,
                Err(e) => {
                    let _ = started.send(Err(e.to_string()));
                    return stats;
                }
            };
            let mut frame = vec![0.0f32; 240];
            let mut block = Vec::with_capacity(4800);
            let mut last: Option<Instant> = None;
            let mut announced = false;
            let mut first: Option<Instant> = None;
            let mut turn = Instant::now();
            // When a look last found nothing, since the last delivery.
            let mut empty_look: Option<Instant> = None;
            while !stop.load(Ordering::Relaxed) {
                let this_turn = turn.elapsed();
                if first.is_some() {
                    stats.max_turn = stats.max_turn.max(this_turn);
                }
                turn = Instant::now();
                let mut got = 0;
                loop {
                    let n = match mic.pull(&mut frame) {
                        Ok(Pull::Audio) => frame.len(),
                        Ok(Pull::Partial(n)) => n,
                        Ok(_) => 0,
                        Err(e) => panic!("capture pull failed: {e}"),
                    };
                    got += n;
                    if announced {
                        for &s in &frame[..n] {
                            block.push(s);
                            if block.len() == 4800 {
                                let rms =
                                    (block.iter().map(|x| x * x).sum::<f32>() / 4800.0).sqrt();
                                stats.blocks += 1;
                                if rms < 0.01 {
                                    stats.quiet_blocks += 1;
                                }
                                block.clear();
                            }
                        }
                    }
                    if n < frame.len() {
                        break;
                    }
                }
                let now = Instant::now();
                if got > 0 {
                    if !announced {
                        // Timing starts with the first audio: opening is not a gap.
                        announced = true;
                        first = Some(now);
                        let _ = started
                            .send(Ok(mic.device().map_or_else(String::new, |d| d.id.clone())));
                    } else {
                        stats.samples += got;
                        if let Some(prev) = last {
                            let gap = now - prev;
                            stats.max_gap = stats.max_gap.max(gap);
                            if let Some(e) = empty_look {
                                stats.max_device_gap = stats.max_device_gap.max(e - prev);
                            }
                            if gap > Duration::from_millis(100) {
                                stats.long_gaps.push(gap.as_millis());
                            }
                            if gap > Duration::from_millis(50) {
                                stats.timed_gaps.push((now, gap));
                            }
                        }
                    }
                    last = Some(now);
                    empty_look = None;
                } else {
                    empty_look = Some(now);
                }
                stats.events.extend(mic.poll());
                std::thread::sleep(Duration::from_millis(5));
            }
            // A capture that stopped for good is the longest gap of all.
            if let Some(prev) = last {
                stats.max_gap = stats.max_gap.max(prev.elapsed());
                if let Some(e) = empty_look {
                    stats.max_device_gap = stats.max_device_gap.max(e - prev);
                }
            }
            stats.xruns = mic.counters().xruns.load(Ordering::Relaxed);
            // Up to the last delivery: audio still on its way when the test stopped
            // (a busy machine delivers late, in bursts) is late, not lost.
            stats.ran_s = match (first, last) {
                (Some(f), Some(l)) => (l - f).as_secs_f32(),
                _ => 0.0,
            };
            drop(mic);
            stats
        });
    spawned.expect("no thread for the capture")
}

/// Plays a 440 Hz tone into the default sink (the null sink) until `stop`, so the
/// monitor the capture reads carries a signal.
fn tone_thread(stop: Arc<AtomicBool>) -> JoinHandle<Result<(), String>> {
    let spawned = std::thread::Builder::new()
        .name("wzp-test-tone".into())
        .spawn(move || {
            let mut spk = PlaybackDevice::open(None).map_err(|e| e.to_string())?;
            let mut tone = ToneSource::new(440.0, 0.5);
            let mut frame = vec![0.0f32; 480];
            while !stop.load(Ordering::Relaxed) {
                while spk.queued() < 4800 {
                    tone.pull(&mut frame).map_err(|e| e.to_string())?;
                    spk.push(&frame).map_err(|e| e.to_string())?;
                }
                let _ = spk.poll();
                std::thread::sleep(Duration::from_millis(5));
            }
            Ok(())
        });
    spawned.expect("no thread for the tone")
}

/// Sockets this process has open: each cpal PulseAudio host is one connection to
/// the server, which accepts a limited number of clients (64 by default).
fn open_sockets() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| {
        d.flatten()
            .filter(|e| {
                std::fs::read_link(e.path())
                    .is_ok_and(|t| t.to_string_lossy().starts_with("socket:"))
            })
            .count()
    })
}

/// What the switching did.
#[derive(Debug, Default)]
struct SwitchStats {
    lists: usize,
    opens: usize,
    failures: Vec<String>,
    slowest_open: Duration,
    slowest_list: Duration,
}

/// `rounds` times: list the devices, open and close each listed one by its id and
/// the default of each direction, holding each open for a moment.
fn switch_devices(rounds: usize) -> SwitchStats {
    let mut s = SwitchStats::default();
    for round in 0..rounds {
        let t = Instant::now();
        let devs = match list_devices() {
            Ok(d) => d,
            Err(e) => {
                s.failures.push(format!("round {round}: list: {e}"));
                continue;
            }
        };
        s.slowest_list = s.slowest_list.max(t.elapsed());
        s.lists += 1;
        if !devs.iter().any(|d| d.direction == Direction::Input)
            || !devs.iter().any(|d| d.direction == Direction::Output)
        {
            s.failures
                .push(format!("round {round}: list lacks a direction: {devs:?}"));
        }
        let mut targets: Vec<(Direction, Option<String>)> = devs
            .iter()
            .map(|d| (d.direction, Some(d.id.clone())))
            .collect();
        targets.push((Direction::Input, None));
        targets.push((Direction::Output, None));
        for (direction, id) in targets {
            let t = Instant::now();
            let opened = match direction {
                Direction::Input => {
                    CaptureDevice::open(id.as_deref()).map(|d| Box::new(d) as Box<dyn Send>)
                }
                Direction::Output => {
                    PlaybackDevice::open(id.as_deref()).map(|d| Box::new(d) as Box<dyn Send>)
                }
            };
            s.slowest_open = s.slowest_open.max(t.elapsed());
            s.opens += 1;
            match opened {
                Ok(dev) => {
                    std::thread::sleep(Duration::from_millis(30));
                    drop(dev);
                }
                Err(e) => s
                    .failures
                    .push(format!("round {round}: open {direction:?} {id:?}: {e}")),
            }
        }
    }
    s
}

#[test]
fn running_capture_survives_device_switching() {
    if !pulse() {
        return;
    }
    let _one_at_a_time = serial();
    let rounds = std::env::var("WZP_SWITCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let stop = Arc::new(AtomicBool::new(false));
    let tone = tone_thread(stop.clone());
    let (started_tx, started) = mpsc::channel();
    let capture = capture_thread(started_tx, stop.clone());
    let id = started
        .recv_timeout(Duration::from_secs(10))
        .expect("the capture delivered no audio within 10 s")
        .expect("the capture did not open");
    println!("capture running on {id}");
    // A quiet spell first: the reference for gaps on this machine without switching.
    let quiet_from = Instant::now();
    std::thread::sleep(Duration::from_secs(2));
    let sockets_before = open_sockets();
    let t0 = Instant::now();
    let sw = switch_devices(rounds);
    let switching = t0.elapsed();
    let t1 = Instant::now();
    std::thread::sleep(Duration::from_millis(300));
    let sockets_after = open_sockets();
    stop.store(true, Ordering::Relaxed);
    let cap = capture.join().expect("capture thread panicked");
    let tone_result = tone.join().expect("tone thread panicked");
    std::thread::sleep(Duration::from_secs(3));
    let sockets_later = open_sockets();
    let max_in = |from: Instant, to: Instant| {
        cap.timed_gaps
            .iter()
            .filter(|(end, gap)| *end > from && end.checked_sub(*gap).is_some_and(|s| s < to))
            .map(|(_, gap)| gap.as_millis())
            .max()
            .unwrap_or(0)
    };
    println!(
        "GAPS max_ms_quiet_2s={} max_ms_while_switching={}",
        max_in(quiet_from, t0),
        max_in(t0, t1)
    );
    println!(
        "SWITCHING rounds={rounds} lists={} opens={} failures={} slowest_list_ms={} slowest_open_ms={} took_ms={}",
        sw.lists,
        sw.opens,
        sw.failures.len(),
        sw.slowest_list.as_millis(),
        sw.slowest_open.as_millis(),
        switching.as_millis()
    );
    println!(
        "SOCKETS before={sockets_before} after={sockets_after} 3s_after_closing_all={sockets_later}"
    );
    println!(
        "CAPTURE max_device_gap_ms={} max_gap_ms={} max_turn_ms={} xruns={} ran_s={:.2} gaps_over_100ms={:?} delivered_s={:.2} quiet_blocks={}/{} events={:?}",
        cap.max_device_gap.as_millis(),
        cap.max_gap.as_millis(),
        cap.max_turn.as_millis(),
        cap.xruns,
        cap.ran_s,
        cap.long_gaps,
        cap.samples as f32 / 48_000.0,
        cap.quiet_blocks,
        cap.blocks,
        cap.events
    );
    for f in &sw.failures {
        println!("failure: {f}");
    }
    tone_result.expect("the tone could not be played");
    assert!(
        sw.failures.is_empty(),
        "listed devices did not open: {:?}",
        sw.failures
    );
    assert!(
        cap.events.is_empty(),
        "the running capture reported device events: {:?}",
        cap.events
    );
    assert!(
        cap.max_device_gap <= MAX_GAP,
        "the running capture stalled for {} ms (gaps over 100 ms as seen: {:?})",
        cap.max_device_gap.as_millis(),
        cap.long_gaps
    );
    // Audio the device dropped (a stall longer than the server's and our buffers)
    // is missing from what was delivered.
    let lost = cap.ran_s - cap.samples as f32 / 48_000.0;
    assert!(
        lost < MAX_GAP.as_secs_f32(),
        "the running capture lost {lost:.2} s of {:.2} s",
        cap.ran_s
    );
    // The capture carries the tone: what is measured is the signal path.
    assert!(
        cap.quiet_blocks * 2 < cap.blocks,
        "the tone was missing from {} of {} blocks",
        cap.quiet_blocks,
        cap.blocks
    );
}

/// The settings screen lists the devices each time it is shown, and the pickers
/// open devices by id: after many listings in one process every listed device must
/// still open by its id (printed: the sockets held, one per server connection;
/// PulseAudio accepts 64 clients).
#[test]
fn many_listings_keep_devices_openable() {
    if !pulse() {
        return;
    }
    let _one_at_a_time = serial();
    let before = open_sockets();
    let mut listed = Vec::new();
    for i in 0..80 {
        match list_devices() {
            Ok(d) => listed = d,
            Err(e) => panic!("listing {i} failed: {e}"),
        }
    }
    let after = open_sockets();
    println!("LISTINGS sockets before={before} after={after}; last list: {listed:?}");
    for d in &listed {
        let opened = match d.direction {
            Direction::Input => CaptureDevice::open(Some(&d.id)).map(drop),
            Direction::Output => PlaybackDevice::open(Some(&d.id)).map(drop),
        };
        assert!(
            opened.is_ok(),
            "listed device {} did not open: {opened:?}",
            d.id
        );
    }
}
