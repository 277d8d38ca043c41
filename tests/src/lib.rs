//! Helpers for the end-to-end tests: a relay on loopback (restartable on the same
//! address with the same key), call configs, sinks that keep what they receive, and
//! small signal checks.
//!
//! This is test support: a failed set-up step should fail the test loudly, so
//! `expect` is allowed here.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand_core::OsRng;
use wzp_crypto::Identity;
use wzp_engine::{Call, CallConfig, EndReason, Event, Events, RelayConfig, VideoSink};
use wzp_proto::ParticipantId;
use wzp_relay::{RelayArgs, RelayHandle, Settings};
use wzp_transport::{RelayIdentity, Trust};
use wzp_video::I420Frame;

/// Runs the end-to-end tests of one binary one at a time. They are real-time calls
/// (20 ms audio clocks, video encoders, jitter buffers); several at once on a 2-core
/// CI machine starve each other and fail on timing, not on behaviour.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A relay for one test, with its key in a temporary file so it can restart as itself.
pub struct TestRelay {
    /// The running relay (None while stopped).
    pub handle: Option<RelayHandle>,
    /// Its address (kept across restarts).
    pub addr: SocketAddr,
    key: PathBuf,
    fingerprint: wzp_transport::RelayFingerprint,
}

impl TestRelay {
    /// Starts a relay on a free loopback port.
    pub async fn start(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("wzp-e2e-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let key = dir.join("relay.key");
        let _ = std::fs::remove_file(&key);
        let handle = Self::launch(&key, "127.0.0.1:0").await;
        Self {
            addr: handle.local_addr(),
            fingerprint: handle.fingerprint(),
            handle: Some(handle),
            key,
        }
    }

    async fn launch(key: &std::path::Path, listen: &str) -> RelayHandle {
        let settings = Settings::resolve(&RelayArgs {
            listen: Some(listen.into()),
            metrics_listen: Some("127.0.0.1:0".into()),
            ..Default::default()
        })
        .expect("relay settings");
        let identity = RelayIdentity::load_or_create(key).expect("relay key");
        wzp_relay::start_with_identity(settings, identity)
            .await
            .expect("relay start")
    }

    /// Stops the relay (clients are told it is shutting down).
    pub async fn stop(&mut self) {
        if let Some(h) = self.handle.take() {
            h.shutdown().await;
        }
    }

    /// Starts it again on the same address with the same key.
    pub async fn restart(&mut self) {
        let h = Self::launch(&self.key, &self.addr.to_string()).await;
        assert_eq!(h.fingerprint(), self.fingerprint, "same key after restart");
        self.handle = Some(h);
    }

    /// The running relay.
    pub fn handle(&self) -> &RelayHandle {
        self.handle.as_ref().expect("relay running")
    }

    /// Client settings for this relay, pinned, with a fresh identity.
    pub fn config(&self) -> CallConfig {
        self.config_via(self.addr)
    }

    /// Like [`config`](Self::config) but connecting through `addr` (an impairment proxy).
    pub fn config_via(&self, addr: SocketAddr) -> CallConfig {
        let mut c = CallConfig::new(
            RelayConfig {
                addr,
                server_name: "localhost".into(),
                trust: Trust::Pinned(self.fingerprint),
                token: None,
            },
            Identity::generate(&mut OsRng),
        );
        c.stats_interval = Duration::from_millis(250);
        c
    }
}

/// An audio sink whose samples the test can read while the call runs.
#[derive(Debug, Clone, Default)]
pub struct SharedSink(pub Arc<Mutex<Vec<f32>>>);

impl wzp_audio::AudioSink for SharedSink {
    fn push(&mut self, frame: &[f32]) -> wzp_audio::Result<()> {
        if let Ok(mut v) = self.0.lock() {
            v.extend_from_slice(frame);
        }
        Ok(())
    }
}

impl SharedSink {
    /// The last `n` samples (or fewer).
    pub fn tail(&self, n: usize) -> Vec<f32> {
        let v = self.0.lock().expect("sink lock");
        v[v.len().saturating_sub(n)..].to_vec()
    }

    /// Samples so far.
    pub fn len(&self) -> usize {
        self.0.lock().expect("sink lock").len()
    }

    /// No samples yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A video sink that reads the frame counter the synthetic source draws into each frame.
#[derive(Debug, Clone, Default)]
pub struct CounterSink(pub Arc<Mutex<Vec<SeenFrame>>>);

/// A decoded frame: who sent it, and the counter read from it (`None`: unreadable).
pub type SeenFrame = (ParticipantId, Option<u32>);

impl VideoSink for CounterSink {
    fn frame(&mut self, from: ParticipantId, frame: &I420Frame) -> wzp_engine::Result<()> {
        let c = wzp_video::source::code::read(frame).map(|(counter, _)| counter);
        if let Ok(mut v) = self.0.lock() {
            v.push((from, c));
        }
        Ok(())
    }
}

/// Power of `freq` in `samples` (Goertzel), normalised by length.
pub fn tone_power(samples: &[f32], freq: f32) -> f32 {
    let rate = wzp_audio::SAMPLE_RATE as f32;
    let w = 2.0 * std::f32::consts::PI * freq / rate;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f32, 0.0f32);
    for &x in samples {
        let s0 = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let p = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    p / (samples.len().max(1) as f32).powi(2)
}

/// Samples in one window of [`tone_windows`]: 20 ms, one audio frame.
const TONE_WINDOW: usize = 960;

/// The tone's power in each 20 ms window of `samples` (Goertzel per window).
///
/// One Goertzel over seconds of audio is coherent: a playout skip or stretch of a
/// single frame shifts the tone's phase, and the halves before and after cancel, so
/// a tone that played all along can measure a fraction of its power. Per-window
/// powers are blind to phase, so their mean and the share of windows that carry the
/// tone say whether it was heard.
pub fn tone_windows(samples: &[f32], freq: f32) -> Vec<f32> {
    samples
        .chunks_exact(TONE_WINDOW)
        .map(|w| tone_power(w, freq))
        .collect()
}

/// The share of 20 ms windows of `samples` in which `freq` has at least `min_power`.
pub fn tone_presence(samples: &[f32], freq: f32, min_power: f32) -> f32 {
    let w = tone_windows(samples, freq);
    if w.is_empty() {
        return 0.0;
    }
    w.iter().filter(|&&p| p >= min_power).count() as f32 / w.len() as f32
}

/// Waits for an event matching `pred`, failing the test after `within`.
pub async fn wait_event(
    events: &mut Events,
    within: Duration,
    what: &str,
    mut pred: impl FnMut(&Event) -> bool,
) -> Event {
    let deadline = tokio::time::Instant::now() + within;
    let mut recent = std::collections::VecDeque::new();
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(e)) if pred(&e) => return e,
            Ok(Some(e)) => {
                if !matches!(e, Event::Speaking { .. } | Event::Stats(_)) {
                    recent.push_back(e);
                    if recent.len() > 6 {
                        recent.pop_front();
                    }
                }
            }
            Ok(None) => {
                panic!("event stream ended while waiting for {what}; last events {recent:?}")
            }
            Err(_) => {
                panic!("timed out after {within:?} waiting for {what}; last events {recent:?}")
            }
        }
    }
}

/// Hangs up two calls, waits for both to end and for their [`drain`]s to finish,
/// and returns how the first ended.
pub async fn hang_up_both(
    a: Call,
    b: Call,
    drains: (
        tokio::task::JoinHandle<Vec<Event>>,
        tokio::task::JoinHandle<Vec<Event>>,
    ),
) -> EndReason {
    a.hang_up().expect("hang up");
    b.hang_up().expect("hang up");
    let ended = a.wait().await;
    b.wait().await;
    let _ = (drains.0.await, drains.1.await);
    ended
}

/// Keeps draining `events` in the background so the channel never grows, and returns
/// the collected events when the call ends.
pub fn drain(mut events: Events) -> tokio::task::JoinHandle<Vec<Event>> {
    tokio::spawn(async move {
        let mut all = Vec::new();
        while let Some(e) = events.recv().await {
            all.push(e);
        }
        all
    })
}

/// A room's acoustics for echo tests: what a call plays comes back into its microphone
/// `delay` later at `gain`, on top of a near-end talker. [`EchoRoom::mic`] and
/// [`EchoRoom::speaker`] are the two ends; both run on the call's audio clock (the
/// engine pulls one microphone frame, then pushes one speaker frame, each tick), so the
/// echo delay is exact.
#[derive(Debug, Clone)]
pub struct EchoRoom {
    line: Arc<Mutex<std::collections::VecDeque<f32>>>,
    gain: f32,
}

impl EchoRoom {
    /// Echo after `delay` at `gain` (linear amplitude).
    pub fn new(delay: Duration, gain: f32) -> Self {
        let n = (delay.as_secs_f64() * f64::from(wzp_audio::SAMPLE_RATE)) as usize;
        Self {
            line: Arc::new(Mutex::new(std::iter::repeat_n(0.0, n).collect())),
            gain,
        }
    }

    /// The microphone: `talker` plus the echo.
    pub fn mic(&self, talker: wzp_audio::ToneSource) -> EchoMic {
        EchoMic {
            room: self.clone(),
            talker,
        }
    }

    /// The speaker: what it plays enters the echo path.
    pub fn speaker(&self) -> EchoSpeaker {
        EchoSpeaker(self.clone())
    }
}

/// See [`EchoRoom::mic`].
#[derive(Debug)]
pub struct EchoMic {
    room: EchoRoom,
    talker: wzp_audio::ToneSource,
}

impl wzp_audio::AudioSource for EchoMic {
    fn pull(&mut self, frame: &mut [f32]) -> wzp_audio::Result<wzp_audio::Pull> {
        let r = self.talker.pull(frame)?;
        let mut line = self.room.line.lock().expect("echo line");
        for s in frame.iter_mut() {
            *s += self.room.gain * line.pop_front().unwrap_or(0.0);
        }
        Ok(r)
    }
}

/// See [`EchoRoom::speaker`].
#[derive(Debug)]
pub struct EchoSpeaker(EchoRoom);

impl wzp_audio::AudioSink for EchoSpeaker {
    fn push(&mut self, frame: &[f32]) -> wzp_audio::Result<()> {
        self.0.line.lock().expect("echo line").extend(frame);
        Ok(())
    }
}
