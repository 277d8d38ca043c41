//! The settings screen's device checks: a live microphone level meter and a test sound
//! on the chosen speaker, so a person can see that the microphone hears them and hear
//! that the speaker works before a call.
//!
//! Split as the rest of the app is: [`LevelReporter`] (frames in, a level report every
//! 100 ms out; time is an argument) and [`chime`] (the test sound's samples) are pure
//! and unit-tested; [`DeviceTest`] is the thin I/O shell around them (opens the cpal
//! devices off the async runtime, runs one metering thread, emits [`MIC_LEVEL_EVENT`]).
//!
//! The tests and a call never hold the devices together on purpose: starting a test is
//! refused while a call runs ([`AppError::DevicesInCall`]), and the app's media factory
//! stops the microphone test before a call opens its own devices (lib.rs).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use wzp_audio::{
    AudioError, AudioSink, AudioSource, CaptureDevice, LevelMeter, PlaybackDevice, Pull,
};

use crate::call::{Calls, Emit};
use crate::error::{AppError, Result};
use crate::media::CloseOffThread;

/// Name of the event carrying the microphone test's level ([`MicLevelEvent`]).
pub const MIC_LEVEL_EVENT: &str = "mic-level";

/// Samples per 20 ms frame at 48 kHz (the pipeline's rate).
const FRAME: usize = 960;
/// How often the UI gets a level: often enough to look live, rarely enough to cost
/// nothing in the web view.
pub const REPORT_EVERY: Duration = Duration::from_millis(100);
/// Opening a device blocks, and has been seen to take many seconds on a busy sound
/// server (see `set_audio_device`): past this, the test is refused as "not responding".
const OPEN_WAIT: Duration = Duration::from_secs(8);
/// The test sound's length.
pub const CHIME_MS: u64 = 1500;

/// One level report, as the UI gets it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Level {
    /// Smoothed loudness, 0 (-60 dBFS or quieter) to 1 (full scale): what the meter shows.
    pub level: f32,
    /// The loudest sample since the last report on the same scale (a peak mark).
    pub peak: f32,
}

/// What is sent as [`MIC_LEVEL_EVENT`]: a level, or the end of a test (with the reason
/// when it was not asked for).
#[derive(Debug, Clone, Serialize)]
pub struct MicLevelEvent {
    /// Which test (each start gets a new number), so a late event of an old test can be
    /// told apart.
    pub test: u64,
    /// The level, absent in the final event.
    #[serde(flatten)]
    pub level: Option<Level>,
    /// Set in the last event of a test.
    pub stopped: bool,
    /// Why the test stopped by itself (the device failed), in words.
    pub error: Option<String>,
}

/// dBFS to the meter's 0..1 scale (-60 dBFS .. 0 dBFS), the scale of
/// [`wzp_audio::LevelMeter`]'s level.
fn scale_db(db: f32) -> f32 {
    ((db + 60.0) / 60.0).clamp(0.0, 1.0)
}

/// Turns microphone frames into a level report every [`REPORT_EVERY`]. Sans-IO: frames
/// and the time are arguments.
#[derive(Debug)]
pub struct LevelReporter {
    meter: LevelMeter,
    level: f32,
    peak: f32,
    seen: bool,
    last: Option<Instant>,
    every: Duration,
}

impl LevelReporter {
    /// A reporter for 20 ms frames, reporting every `every`.
    #[must_use]
    pub fn new(every: Duration) -> Self {
        Self {
            meter: LevelMeter::new(20),
            level: 0.0,
            peak: 0.0,
            seen: false,
            last: None,
            every,
        }
    }

    /// Takes the next frame (a short one when the device delivered less).
    pub fn frame(&mut self, samples: &[f32]) {
        if samples.is_empty() {
            return;
        }
        self.level = self.meter.update(samples).level;
        let p = samples.iter().fold(0.0_f32, |m, s| m.max(s.abs()));
        self.peak = self.peak.max(p);
        self.seen = true;
    }

    /// The report due at `now`, if one is (at most one per `every`; none before the
    /// first frame, so a silent device that delivers nothing does not look like silence).
    pub fn report(&mut self, now: Instant) -> Option<Level> {
        if !self.seen {
            return None;
        }
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < self.every)
        {
            return None;
        }
        self.last = Some(now);
        let peak = scale_db(20.0 * self.peak.max(1e-6).log10());
        self.peak = 0.0;
        Some(Level {
            level: self.level,
            peak: peak.max(self.level),
        })
    }
}

/// The test sound: a two-note chime (E5 then A5, each a soft bell: fundamental plus a
/// quieter octave, a 5 ms attack and an exponential decay), [`CHIME_MS`] long at 48 kHz,
/// fading to silence at the end. Generated rather than read from a file so the shell
/// needs no asset path; it is short, not too loud (peak below 0.6) and easy to tell
/// from noise.
#[must_use]
pub fn chime() -> Vec<f32> {
    let rate = 48_000.0_f32;
    let n = (CHIME_MS * 48) as usize;
    let notes = [(0.0_f32, 659.25_f32), (0.30, 880.0)];
    let fade = 0.15_f32;
    let total = n as f32 / rate;
    (0..n)
        .map(|i| {
            let t = i as f32 / rate;
            let mut s = 0.0;
            for (start, f) in notes {
                let dt = t - start;
                if dt < 0.0 {
                    continue;
                }
                let env = (dt / 0.005).min(1.0) * (-dt / 0.35).exp();
                let w = std::f32::consts::TAU * f * dt;
                s += 0.28 * env * (w.sin() + 0.3 * (2.0 * w).sin());
            }
            s * ((total - t) / fade).clamp(0.0, 1.0)
        })
        .collect()
}

/// The running microphone test.
struct Running {
    test: u64,
    stop: Arc<AtomicBool>,
}

/// The device checks of the settings screen: one microphone test at a time, one test
/// sound at a time.
pub struct DeviceTest {
    emit: Arc<dyn Emit>,
    mic: Mutex<Option<Running>>,
    next: AtomicU64,
    playing: Arc<AtomicBool>,
}

/// Says what went wrong with a device in words for the settings screen.
fn device_error(what: &str, id: Option<&str>, e: &AudioError) -> AppError {
    match e {
        AudioError::DeviceNotFound(_) => AppError::Device(match id {
            Some(id) => format!("the {what} “{id}” is not connected; pick another one"),
            None => format!("this computer has no {what}"),
        }),
        e => AppError::Device(format!("the {what} could not be opened ({e})")),
    }
}

/// Runs a blocking device operation off the async runtime, answering within `wait`.
pub(crate) async fn blocking<T: Send + 'static>(
    what: &str,
    wait: Duration,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    match tokio::time::timeout(wait, tokio::task::spawn_blocking(f)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => Err(AppError::Internal(format!("{what}: {e}"))),
        Err(_) => {
            tracing::warn!(what, secs = wait.as_secs(), "device did not respond");
            Err(AppError::Device(format!(
                "the {what} did not respond within {} s; the sound system may be busy",
                wait.as_secs()
            )))
        }
    }
}

impl DeviceTest {
    /// Device checks sending their events to `emit`.
    pub fn new(emit: Arc<dyn Emit>) -> Self {
        Self {
            emit,
            mic: Mutex::new(None),
            next: AtomicU64::new(1),
            playing: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Starts metering microphone `id` (`None`: the system default), replacing a test
    /// that runs. Returns the test's number (in its events). Refused while a call runs.
    pub async fn start_mic(&self, calls: &Calls, id: Option<String>) -> Result<u64> {
        // `calls` is asked without holding `mic`: the call manager stops this test
        // (through the media factory) while it holds its own lock.
        if calls.current()?.is_some() {
            return Err(AppError::DevicesInCall);
        }
        self.stop_mic();
        let shown = id.clone().unwrap_or_else(|| "default".into());
        let open_id = id.clone();
        let mic = blocking("microphone", OPEN_WAIT, move || {
            CaptureDevice::open(open_id.as_deref())
                .map(CloseOffThread::new)
                .map_err(|e| device_error("microphone", open_id.as_deref(), &e))
        })
        .await?;
        // A call may have started while the device opened: it owns the devices.
        if calls.current()?.is_some() {
            return Err(AppError::DevicesInCall);
        }
        let test = self.next.fetch_add(1, Ordering::Relaxed);
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = stop.clone();
        let emit = self.emit.clone();
        std::thread::Builder::new()
            .name("wzp-mic-test".into())
            .spawn(move || meter_loop(mic, test, &thread_stop, emit.as_ref()))
            .map_err(|e| AppError::Internal(format!("cannot start the microphone test: {e}")))?;
        let old = match self.lock() {
            Ok(mut mic) => mic.replace(Running { test, stop }),
            Err(e) => {
                stop.store(true, Ordering::Relaxed);
                return Err(e);
            }
        };
        // Two starts racing: the earlier one loses.
        if let Some(o) = old {
            o.stop.store(true, Ordering::Relaxed);
        }
        tracing::info!(test, device = %shown, "microphone test started");
        Ok(test)
    }

    /// Stops the microphone test, if one runs (its thread sends a last event and closes
    /// the device). Returns whether one ran. Never blocks.
    pub fn stop_mic(&self) -> bool {
        let Ok(mut mic) = self.mic.lock() else {
            return false;
        };
        match mic.take() {
            Some(r) => {
                r.stop.store(true, Ordering::Relaxed);
                tracing::info!(test = r.test, "microphone test stopped");
                true
            }
            None => false,
        }
    }

    /// The running microphone test's number.
    pub fn mic_test(&self) -> Option<u64> {
        self.mic.lock().ok()?.as_ref().map(|r| r.test)
    }

    /// Plays the test sound on speaker `id` (`None`: the system default) and returns
    /// once it has played. A press while it plays does nothing. Refused while a call runs.
    pub async fn play_sound(&self, calls: &Calls, id: Option<String>) -> Result<()> {
        if calls.current()?.is_some() {
            return Err(AppError::DevicesInCall);
        }
        if self.playing.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let playing = self.playing.clone();
        // Opening, then the sound at a third of real time (a very busy machine), then a
        // stall: past that, the caller gets its answer and the thread finishes alone.
        let wait = OPEN_WAIT + 3 * Duration::from_millis(CHIME_MS) + STALL;
        blocking("speaker", wait, move || {
            // Cleared when the playing thread is done, even when the caller timed out.
            struct Done(Arc<AtomicBool>);
            impl Drop for Done {
                fn drop(&mut self) {
                    self.0.store(false, Ordering::Release);
                }
            }
            let _done = Done(playing);
            play_blocking(id.as_deref(), &chime())
        })
        .await
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Option<Running>>> {
        self.mic
            .lock()
            .map_err(|_| AppError::Internal("device test lock poisoned".into()))
    }
}

/// Pulls the microphone every 20 ms, meters it, and emits a level every
/// [`REPORT_EVERY`] until `stop` is set or the device fails.
fn meter_loop(
    mut mic: CloseOffThread<CaptureDevice>,
    test: u64,
    stop: &AtomicBool,
    emit: &dyn Emit,
) {
    let send = |level: Option<Level>, stopped: bool, error: Option<String>| {
        let ev = MicLevelEvent {
            test,
            level,
            stopped,
            error,
        };
        match serde_json::to_value(&ev) {
            Ok(v) => emit.emit(MIC_LEVEL_EVENT, v),
            Err(e) => tracing::warn!(error = %e, "mic-level event"),
        }
    };
    let mut reporter = LevelReporter::new(REPORT_EVERY);
    let mut frame = vec![0.0_f32; FRAME];
    let tick = Duration::from_millis(20);
    let mut next = Instant::now();
    let mut error = None;
    'run: while !stop.load(Ordering::Relaxed) {
        for ev in mic.get_mut().map(CaptureDevice::poll).unwrap_or_default() {
            tracing::info!(test, event = ?ev, "microphone test device event");
            if let wzp_audio::DeviceEvent::Unavailable(why) = ev {
                error = Some(format!("the microphone stopped working ({why})"));
                break 'run;
            }
        }
        // Everything the device has delivered since the last tick (bounded, so a
        // device far ahead cannot keep this loop from checking `stop`).
        for _ in 0..25 {
            match mic.pull(&mut frame) {
                Ok(Pull::Audio) => reporter.frame(&frame),
                Ok(Pull::Partial(n)) => {
                    reporter.frame(&frame[..n.min(FRAME)]);
                    break;
                }
                Ok(Pull::End) => break,
                Err(e) => {
                    error = Some(format!("the microphone stopped working ({e})"));
                    break 'run;
                }
            }
        }
        if let Some(l) = reporter.report(Instant::now()) {
            if !stop.load(Ordering::Relaxed) {
                send(Some(l), false, None);
            }
        }
        next += tick;
        let now = Instant::now();
        if next < now {
            // Far behind (a suspended machine): do not try to catch up tick by tick.
            next = now;
        }
        std::thread::sleep(next.saturating_duration_since(now));
    }
    if let Some(e) = &error {
        tracing::warn!(test, error = %e, "microphone test ended");
    }
    send(None, true, error);
    // `mic` is dropped here: CloseOffThread closes it on a thread of its own.
}

/// How long the speaker may take nothing from its queue before the test sound gives up.
/// Seen on the harness's PulseAudio null sink under load: about 1.2 s before the first
/// samples are taken, then playback at about 0.6x real time.
const STALL: Duration = Duration::from_secs(3);

/// Opens the speaker and plays `samples` (48 kHz mono) on it, keeping about 200 ms
/// queued ahead (a test sound needs no low latency, and less ran dry on a loaded
/// machine) of the device, then waits for the queue to drain. Gives up when the
/// device takes nothing for [`STALL`] (so every wait is bounded, however slowly a busy
/// machine plays).
fn play_blocking(id: Option<&str>, samples: &[f32]) -> Result<()> {
    let mut spk =
        CloseOffThread::new(PlaybackDevice::open(id).map_err(|e| device_error("speaker", id, &e))?);
    let queued = |d: &mut CloseOffThread<PlaybackDevice>| d.get_mut().map_or(0, |p| p.queued());
    let ahead = 9_600;
    // Waits until at most `limit` samples are queued, as long as the device keeps
    // taking some.
    let drain = |spk: &mut CloseOffThread<PlaybackDevice>, limit: usize| -> Result<()> {
        let mut last = queued(spk);
        let mut moved = Instant::now();
        while last > limit {
            std::thread::sleep(Duration::from_millis(5));
            let q = queued(spk);
            if q < last {
                moved = Instant::now();
            } else if moved.elapsed() > STALL {
                return Err(AppError::Device(
                    "the speaker stopped taking sound; is it still connected?".into(),
                ));
            }
            last = q;
        }
        Ok(())
    };
    for frame in samples.chunks(FRAME) {
        drain(&mut spk, ahead)?;
        spk.push(frame)
            .map_err(|e| AppError::Device(format!("the speaker failed ({e})")))?;
    }
    drain(&mut spk, 0)?;
    // The device's own buffer (10 ms callbacks requested) plays out after our queue.
    std::thread::sleep(Duration::from_millis(60));
    tracing::info!(device = id.unwrap_or("default"), "test sound played");
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use wzp_audio::ToneSource;

    #[test]
    fn reports_every_100_ms_and_only_after_audio() {
        let t0 = Instant::now();
        let mut r = LevelReporter::new(REPORT_EVERY);
        assert_eq!(r.report(t0), None, "nothing heard yet");
        r.frame(&[0.0; FRAME]);
        assert!(r.report(t0).is_some());
        r.frame(&[0.0; FRAME]);
        assert_eq!(r.report(t0 + Duration::from_millis(60)), None);
        assert!(r.report(t0 + Duration::from_millis(100)).is_some());
    }

    #[test]
    fn a_tone_rises_and_silence_falls_back() {
        let t0 = Instant::now();
        let mut r = LevelReporter::new(REPORT_EVERY);
        let at = |i: u64| t0 + Duration::from_millis(20 * i);
        let silent = [0.0_f32; FRAME];
        for _ in 0..10 {
            r.frame(&silent);
        }
        let quiet = r.report(at(10)).unwrap();
        assert!(quiet.level < 0.05 && quiet.peak < 0.05, "{quiet:?}");
        let mut tone = ToneSource::new(440.0, 0.5);
        let mut f = vec![0.0; FRAME];
        for _ in 0..5 {
            tone.pull(&mut f).unwrap();
            r.frame(&f);
        }
        let loud = r.report(at(15)).unwrap();
        // A 0.5 sine: RMS -9 dBFS (level 0.85), peak -6 dBFS (0.9).
        assert!(loud.level > 0.8 && loud.level < 0.9, "{loud:?}");
        assert!((loud.peak - 0.9).abs() < 0.01, "{loud:?}");
        for _ in 0..50 {
            r.frame(&silent);
        }
        let after = r.report(at(65)).unwrap();
        assert!(after.level < 0.05 && after.peak < 0.05, "{after:?}");
    }

    #[test]
    fn a_short_frame_counts() {
        let mut r = LevelReporter::new(REPORT_EVERY);
        r.frame(&[]);
        assert_eq!(
            r.report(Instant::now()),
            None,
            "an empty pull is not a frame"
        );
        r.frame(&[0.5; 100]);
        assert!(r.report(Instant::now()).unwrap().level > 0.8);
    }

    #[test]
    fn the_chime_is_short_soft_and_ends_in_silence() {
        let c = chime();
        assert_eq!(c.len(), 72_000, "1.5 s at 48 kHz");
        let peak = c.iter().fold(0.0_f32, |m, s| m.max(s.abs()));
        assert!(peak > 0.2 && peak < 0.6, "peak {peak}");
        assert!(c[0].abs() < 0.01);
        assert!(c[c.len() - 1].abs() < 1e-3);
        // The first note (E5) rings before the second starts.
        let f = wzp_audio::analysis::dominant_frequency(&c[2_400..12_000], 48_000);
        assert!((f - 659.0).abs() < 15.0, "{f} Hz");
        let f = wzp_audio::analysis::dominant_frequency(&c[24_000..48_000], 48_000);
        assert!((f - 880.0).abs() < 15.0, "{f} Hz");
    }

    #[test]
    fn events_serialize_flat() {
        let ev = MicLevelEvent {
            test: 3,
            level: Some(Level {
                level: 0.5,
                peak: 0.75,
            }),
            stopped: false,
            error: None,
        };
        assert_eq!(
            serde_json::to_value(&ev).unwrap(),
            serde_json::json!({"test": 3, "level": 0.5, "peak": 0.75, "stopped": false, "error": null})
        );
        let end = MicLevelEvent {
            test: 3,
            level: None,
            stopped: true,
            error: Some("gone".into()),
        };
        assert_eq!(
            serde_json::to_value(&end).unwrap(),
            serde_json::json!({"test": 3, "stopped": true, "error": "gone"})
        );
    }
}
