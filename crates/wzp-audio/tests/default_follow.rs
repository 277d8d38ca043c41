//! A device opened as the system default follows the default when the user changes
//! it (`pactl set-default-source` / `set-default-sink` against the harness's
//! PulseAudio). A test binary of its own: it changes the server's defaults, which
//! the tests of devices.rs, running in parallel threads, rely on.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;
use common::pulse;

use std::process::Command;
use std::time::{Duration, Instant};

use wzp_audio::{AudioSink, AudioSource, CaptureDevice, DeviceEvent, PlaybackDevice};

fn pactl(args: &[&str]) -> Option<String> {
    let out = Command::new("pactl").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// A second null sink for the test; unloaded, and the defaults put back, on drop
/// (also when an assertion fails).
struct SecondSink {
    module: String,
    old_sink: String,
    old_source: String,
}

impl SecondSink {
    fn load() -> Option<Self> {
        let old_sink = pactl(&["get-default-sink"])?;
        let old_source = pactl(&["get-default-source"])?;
        let module = pactl(&[
            "load-module",
            "module-null-sink",
            "sink_name=wzp_second",
            "sink_properties=device.description=Second",
        ])?;
        Some(Self {
            module,
            old_sink,
            old_source,
        })
    }
}

impl Drop for SecondSink {
    fn drop(&mut self) {
        let _ = pactl(&["set-default-sink", &self.old_sink]);
        let _ = pactl(&["set-default-source", &self.old_source]);
        let _ = pactl(&["unload-module", &self.module]);
    }
}

#[test]
fn default_devices_follow_a_changed_system_default() {
    if !pulse() {
        return;
    }
    let Some(second) = SecondSink::load() else {
        println!("SKIP: pactl cannot load a second null sink");
        return;
    };
    let mut mic = CaptureDevice::open(None).unwrap();
    let mut spk = PlaybackDevice::open(None).unwrap();
    println!("before: {:?} / {:?}", mic.device(), spk.device());
    pactl(&["set-default-source", "wzp_second.monitor"]).expect("set default source");
    pactl(&["set-default-sink", "wzp_second"]).expect("set default sink");

    let (mut mic_events, mut spk_events) = (Vec::new(), Vec::new());
    let switched = |ev: &[DeviceEvent]| ev.iter().any(|e| matches!(e, DeviceEvent::Switched(_)));
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut frame = vec![0.0; 960];
    while !(switched(&mic_events) && switched(&spk_events)) && Instant::now() < deadline {
        // The media loop's work, and its polls, every 20 ms.
        let _ = mic.pull(&mut frame);
        let _ = spk.push(&frame);
        mic_events.extend(mic.device_events());
        spk_events.extend(spk.device_events());
        std::thread::sleep(Duration::from_millis(20));
    }
    println!("microphone: {mic_events:?}\nspeaker: {spk_events:?}");
    assert!(
        matches!(mic_events.first(), Some(DeviceEvent::Lost { reason, .. }) if reason.contains("default")),
        "{mic_events:?}"
    );
    assert!(
        mic_events.iter().any(
            |e| matches!(e, DeviceEvent::Switched(d) if d.id == "pulseaudio:wzp_second.monitor")
        ),
        "the microphone did not move to the new default: {mic_events:?}"
    );
    assert!(
        spk_events
            .iter()
            .any(|e| matches!(e, DeviceEvent::Switched(d) if d.name.contains("Second"))),
        "the speaker did not move to the new default: {spk_events:?}"
    );
    // The new microphone delivers.
    std::thread::sleep(Duration::from_millis(200));
    let got = mic.pull(&mut frame).unwrap();
    assert!(!matches!(got, wzp_audio::Pull::End), "{got:?}");
    drop(second);
}
