//! The settings screen's device checks against a real sound server: the test harness
//! (scripts/harness.sh, `harness_start_pulse`) runs PulseAudio with a null sink whose
//! monitor is the default source, so the test sound played on the default speaker comes
//! back on the default microphone. The meter must rise while it plays and fall after.
//! Skips, saying so, without that sound server (WZP_TEST_PULSE unset).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wzp_desktop::AppError;
use wzp_desktop::call::{Calls, Emit};
use wzp_desktop::devtest::{DeviceTest, MIC_LEVEL_EVENT};
use wzp_desktop::store::History;
use wzp_engine::MediaIo;

/// Records `mic-level` events with the time they arrived.
#[derive(Default)]
struct Recorder(Mutex<Vec<(Instant, serde_json::Value)>>);

impl Emit for Recorder {
    fn emit(&self, name: &str, payload: serde_json::Value) {
        if name == MIC_LEVEL_EVENT {
            if let Ok(mut v) = self.0.lock() {
                v.push((Instant::now(), payload));
            }
        }
    }
}

impl Recorder {
    /// (arrival, level) of test `test`'s level events from `since` to `until`.
    fn levels(&self, test: u64, since: Instant, until: Instant) -> Vec<(Instant, f64)> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, p)| *t >= since && *t <= until && p["test"] == test)
            .filter_map(|(t, p)| p["level"].as_f64().map(|l| (*t, l)))
            .collect()
    }

    fn stopped(&self, test: u64) -> Option<serde_json::Value> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .find(|(_, p)| p["test"] == test && p["stopped"] == true)
            .map(|(_, p)| p.clone())
    }
}

/// The tests share one sound server: what one plays, the other's meter would hear.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn pulse() -> bool {
    if std::env::var_os("WZP_TEST_PULSE").is_none() {
        println!(
            "SKIPPED: WZP_TEST_PULSE is not set (no PulseAudio null sink); run under scripts/harness.sh"
        );
        return false;
    }
    true
}

/// A call manager with no call running (the device checks only ask it whether one runs).
fn idle_calls(emit: Arc<dyn Emit>) -> Calls {
    let dir = std::env::temp_dir().join(format!("wzp-devtest-{}", std::process::id()));
    Calls::new(
        emit,
        Box::new(|_| MediaIo {
            audio_in: Box::new(wzp_audio::SilenceSource),
            audio_out: Box::new(wzp_audio::MemorySink::default()),
            video_in: None,
            video_out: Box::new(wzp_engine::NullVideoSink),
        }),
        History::default(),
        dir.join("history.json"),
        dir.join("relays.json"),
    )
}

async fn wait_until(what: &str, secs: u64, f: impl Fn() -> bool) {
    let end = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(
            Instant::now() < end,
            "timed out after {secs} s waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn max(v: &[(Instant, f64)]) -> f64 {
    v.iter().map(|x| x.1).fold(0.0, f64::max)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_sound_moves_the_microphone_meter() {
    if !pulse() {
        return;
    }
    let _serial = SERIAL.lock().await;
    let rec = Arc::new(Recorder::default());
    let calls = idle_calls(rec.clone());
    let dt = DeviceTest::new(rec.clone());

    let t0 = Instant::now();
    let test = dt
        .start_mic(&calls, None)
        .await
        .expect("microphone test starts");
    println!("microphone opened in {:?}", t0.elapsed());
    assert_eq!(dt.mic_test(), Some(test));
    // Levels arrive (about 10 a second) before anything plays: the monitor is silent.
    wait_until("the first levels", 10, || {
        rec.levels(test, t0, Instant::now()).len() >= 5
    })
    .await;
    let before = rec.levels(test, t0, Instant::now());
    println!("silence: {} levels, max {:.3}", before.len(), max(&before));
    assert!(
        max(&before) < 0.1,
        "meter moved with nothing playing: {before:?}"
    );

    let play_start = Instant::now();
    dt.play_sound(&calls, None).await.expect("test sound plays");
    let play_end = Instant::now();
    println!("test sound played in {:?}", play_end - play_start);
    // Give the last of it time to come back through the monitor.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let during = rec.levels(test, play_start, Instant::now());
    let loudest = max(&during);
    println!(
        "while playing: {} levels, max {loudest:.3}: {:?}",
        during.len(),
        during
            .iter()
            .map(|x| (x.1 * 100.0).round() / 100.0)
            .collect::<Vec<_>>()
    );
    // The chime peaks about -8 dBFS (RMS about -12): well above 0.5 (-30 dBFS).
    assert!(
        loudest > 0.5,
        "the meter did not rise while the sound played: {loudest}"
    );

    // And falls back once it is over (the meter's release takes about 0.4 s).
    let quiet_from = Instant::now() + Duration::from_millis(700);
    wait_until("levels after the sound", 10, || {
        rec.levels(test, quiet_from, Instant::now()).len() >= 5
    })
    .await;
    let after = rec.levels(test, quiet_from, Instant::now());
    println!("after: {} levels, max {:.3}", after.len(), max(&after));
    assert!(
        max(&after) < 0.1,
        "the meter did not fall after the sound: {after:?}"
    );

    assert!(dt.stop_mic());
    assert_eq!(dt.mic_test(), None);
    wait_until("the stopped event", 5, || rec.stopped(test).is_some()).await;
    assert_eq!(rec.stopped(test).unwrap()["error"], serde_json::Value::Null);
    // Nothing after the stop.
    let n = rec.levels(test, t0, Instant::now()).len();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rec.levels(test, t0, Instant::now()).len(), n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_test_at_a_time_and_bad_devices_are_explained() {
    if !pulse() {
        return;
    }
    let _serial = SERIAL.lock().await;
    let rec = Arc::new(Recorder::default());
    let calls = idle_calls(rec.clone());
    let dt = DeviceTest::new(rec.clone());

    let first = dt.start_mic(&calls, None).await.expect("first test");
    let second = dt.start_mic(&calls, None).await.expect("second test");
    assert_ne!(first, second);
    assert_eq!(dt.mic_test(), Some(second));
    wait_until("the first test to stop", 5, || rec.stopped(first).is_some()).await;

    // A microphone that is not there: a device error in words, and the running test
    // was stopped by the attempt (it replaces it).
    let err = dt
        .start_mic(&calls, Some("pulseaudio:no-such-microphone".into()))
        .await
        .expect_err("unknown microphone");
    println!("{err}");
    assert_eq!(err.kind(), "device");
    assert!(err.to_string().contains("microphone"), "{err}");
    assert_eq!(dt.mic_test(), None);
    wait_until("the second test to stop", 5, || {
        rec.stopped(second).is_some()
    })
    .await;

    let err = dt
        .play_sound(&calls, Some("pulseaudio:no-such-speaker".into()))
        .await
        .expect_err("unknown speaker");
    println!("{err}");
    assert!(matches!(err, AppError::Device(_)));
    assert!(err.to_string().contains("speaker"), "{err}");
    // The failed attempt does not leave "playing" set: the next sound plays.
    dt.play_sound(&calls, None)
        .await
        .expect("test sound after a failure");
    assert!(!dt.stop_mic(), "nothing left running");
}
