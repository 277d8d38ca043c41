//! Device tests against a user-space PulseAudio null sink started by the test
//! harness (scripts/harness.sh sets WZP_TEST_PULSE=1 and PULSE_SERVER). They
//! skip, saying so, when it is not running.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;
use common::pulse;

use std::time::{Duration, Instant};

use wzp_audio::analysis::dominant_frequency;
use wzp_audio::{
    AudioSink, AudioSource, CaptureDevice, DeviceEvent, Direction, PlaybackDevice, ToneSource,
    list_devices,
};

#[test]
fn enumerates_devices_with_ids_and_names() {
    if !pulse() {
        return;
    }
    let devs = list_devices().unwrap();
    for d in &devs {
        println!(
            "{:?} {:<40} {}{}",
            d.direction,
            d.id,
            d.name,
            if d.is_default { " (default)" } else { "" }
        );
    }
    assert!(devs.iter().any(|d| d.direction == Direction::Input));
    assert!(devs.iter().any(|d| d.direction == Direction::Output));
    assert!(devs.iter().all(|d| !d.id.is_empty() && !d.name.is_empty()));
    // Ids are stable: listing again gives the same ones.
    let again: Vec<String> = list_devices().unwrap().into_iter().map(|d| d.id).collect();
    assert_eq!(devs.iter().map(|d| d.id.clone()).collect::<Vec<_>>(), again);
    // An id that does not exist is a clear error.
    assert!(CaptureDevice::open(Some("pulseaudio:no-such-device")).is_err());
}

#[test]
fn one_second_playback_is_captured_from_the_monitor() {
    if !pulse() {
        return;
    }
    let mut mic = CaptureDevice::open(None).unwrap();
    let mut spk = PlaybackDevice::open(None).unwrap();
    println!("capture {:?}\nplayback {:?}", mic.device(), spk.device());
    let mut tone = ToneSource::new(1000.0, 0.5);
    let mut frame = vec![0.0; 960];
    let mut captured = Vec::new();
    let start = Instant::now();
    let mut next = start;
    // Keep ~60 ms queued ahead of the device, pull what the microphone has.
    while start.elapsed() < Duration::from_millis(1500) {
        while spk.queued() < 9600 {
            tone.pull(&mut frame).unwrap();
            spk.push(&frame).unwrap();
        }
        // Every sample the device delivered counts, also from a frame it could only
        // partly fill: pulling every 10 ms for 20 ms frames often finds less than a frame
        // (PulseAudio hands the monitor over in small fragments), and counting whole
        // frames only made this read 0.14 s of 1.5 s in one CI run.
        let mut got = vec![0.0; 960];
        match mic.pull(&mut got).unwrap() {
            wzp_audio::Pull::Audio => captured.extend_from_slice(&got),
            wzp_audio::Pull::Partial(n) => captured.extend_from_slice(&got[..n.min(960)]),
            wzp_audio::Pull::End => {}
        }
        next += Duration::from_millis(10);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    let secs = captured.len() as f32 / 48_000.0;
    println!(
        "captured {secs:.2} s in 1.5 s; capture callbacks {}, playback callbacks {}",
        mic.counters()
            .callbacks
            .load(std::sync::atomic::Ordering::Relaxed),
        spk.counters()
            .callbacks
            .load(std::sync::atomic::Ordering::Relaxed)
    );
    // Half of real time: generous for a busy machine (1.49-1.50 s is usual here).
    assert!(secs > 0.75, "captured only {secs} s");
    let tail = &captured[captured.len() / 2..];
    let f = dominant_frequency(tail, 48_000);
    println!("dominant frequency captured: {f} Hz");
    // Within 5%: on a loaded machine the playback callbacks run late, the null sink
    // splices the tone where they did, and the spliced waveform's spectral peak moves
    // a little (973 Hz was seen in one CI run). Silence or noise would be far off.
    assert!(
        (f - 1000.0).abs() < 50.0,
        "monitor did not carry the tone: {f} Hz"
    );
}

#[test]
// This test was ignored in CI: one run took 118 s, another had not finished
// after 5 min. The cause is cpal 0.18's PulseAudio stream drop, which can join
// a driver thread that never ends (see `Open`'s `Drop` in device.rs); streams
// are now closed on a thread of their own, and the test takes 1-2 s.
fn simulated_device_loss_switches_to_default() {
    if !pulse() {
        return;
    }
    let mut mic = CaptureDevice::open(None).unwrap();
    let mut spk = PlaybackDevice::open(None).unwrap();
    let lost =
        || cpal::Error::with_message(cpal::ErrorKind::DeviceNotAvailable, "unplugged (simulated)");
    mic.inject_error(lost());
    spk.inject_error(lost());
    // The loss is reported at once; the reopen runs on its own thread, so its
    // `Switched` comes from a later poll (poll never blocks the media loop).
    let (mut mic_events, mut spk_events) = (mic.poll(), spk.poll());
    let deadline = Instant::now() + Duration::from_secs(10);
    let switched = |ev: &[DeviceEvent]| ev.iter().any(|e| matches!(e, DeviceEvent::Switched(_)));
    while !(switched(&mic_events) && switched(&spk_events)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        mic_events.extend(mic.poll());
        spk_events.extend(spk.poll());
    }
    for events in [mic_events, spk_events] {
        println!("{events:?}");
        assert!(matches!(events.first(), Some(DeviceEvent::Lost { .. })));
        assert!(matches!(events.get(1), Some(DeviceEvent::Switched(_))));
    }
    // Non-loss errors are logged, not acted on.
    mic.inject_error(cpal::Error::new(cpal::ErrorKind::BackendError));
    assert!(mic.poll().is_empty());
    // Still running.
    std::thread::sleep(Duration::from_millis(200));
    let mut f = vec![0.0; 960];
    mic.pull(&mut f).unwrap();
    spk.push(&f).unwrap();
}

/// The sink latency PulseAudio configured, from `pactl list sinks` (`None` when
/// pactl is missing or says nothing about it).
fn configured_sink_latency_us() -> Option<u64> {
    let out = std::process::Command::new("pactl")
        .args(["list", "sinks"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .filter_map(|l| l.split_once("configured ")?.1.split_whitespace().next())
        .find_map(|n| n.parse().ok())
}

#[test]
// cpal's PulseAudio client asks the server for a sink latency of zero (see
// `build_playback` in device.rs): the null sink then wakes 2,000 times a second and
// device I/O costs a core between app and server. The default speaker must not.
fn default_speaker_leaves_the_sink_a_sane_latency() {
    if !pulse() {
        return;
    }
    if configured_sink_latency_us().is_none() {
        println!("SKIP: pactl cannot report the sink latency");
        return;
    }
    let mut spk = PlaybackDevice::open(None).unwrap();
    println!("playback {:?}", spk.device());
    let mut tone = ToneSource::new(440.0, 0.2);
    let mut frame = vec![0.0; 960];
    let start = Instant::now();
    let mut latency = None;
    while start.elapsed() < Duration::from_millis(600) {
        while spk.queued() < 2880 {
            tone.pull(&mut frame).unwrap();
            spk.push(&frame).unwrap();
        }
        if start.elapsed() > Duration::from_millis(300) && latency.is_none() {
            latency = configured_sink_latency_us();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let latency = latency.expect("sink latency while playing");
    println!("sink latency configured while playing: {latency} us");
    assert!(
        latency >= 2_000,
        "the default speaker drove the sink to {latency} us"
    );
}
