//! Wiring between the UI and one running [`wzp_engine::Call`]: start it, forward its
//! events, apply commands, and write a history entry when it ends.
//!
//! No call logic lives here; the engine owns the state machine, keys and media. This
//! module only remembers what the history entry needs (who was there, how long it was
//! active) and pins a relay trusted on first use once the engine reports its key.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use wzp_engine::{
    Call, CallConfig, CallTarget, EndReason, Event, IncomingCall, Listener, MediaIo, RelayConfig,
};
use wzp_proto::Fingerprint;
use wzp_transport::{PinStore, RelayFingerprint, Trust};

use crate::error::{AppError, Result};
use crate::store::{self, Direction, History, HistoryEntry, HistoryPeer};

/// Name of the event carrying engine events (`wzp_engine::Event`, tagged by `event`).
pub const CALL_EVENT: &str = "call-event";
/// Name of the event sent once a call is over and its history entry written.
pub const CALL_ENDED: &str = "call-ended";

/// Where events for the UI go: the Tauri window in the app, a recorder in tests.
pub trait Emit: Send + Sync + 'static {
    /// Sends one event to the UI.
    fn emit(&self, name: &str, payload: serde_json::Value);
}

/// Whether a new call opens its camera or starts with it closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CameraAtStart {
    /// Open the chosen camera (if there is one).
    Open,
    /// Open none: the user starts calls with the camera off.
    Closed,
}

/// Makes the media for a new call (devices in the app, silence in tests).
pub type MediaFactory = Box<dyn Fn(CameraAtStart) -> MediaIo + Send + Sync>;

/// What the UI asked to connect to.
#[derive(Debug, Clone)]
pub struct Request {
    /// HOST:PORT of the relay.
    pub relay: String,
    /// The relay's certificate fingerprint, if the user has it (else the pin store is
    /// used: pinned if known, trusted on first use if not).
    pub relay_fingerprint: Option<String>,
    /// Room or fingerprint.
    pub target: CallTarget,
    /// Name shown to others.
    pub alias: Option<String>,
}

/// What the UI gets back when a call starts.
#[derive(Debug, Clone, Serialize)]
pub struct CallInfo {
    /// Increases with every call, so late events of an old call can be told apart.
    pub call_no: u64,
    /// Room name or called fingerprint.
    pub target: String,
    /// Room or direct.
    pub direction: Direction,
    /// Relay address.
    pub relay: String,
    /// Whether the call has a video source, a camera or the `WZP_APP_VIDEO_IN` test
    /// pattern (the camera button works only then).
    pub video: bool,
    /// The microphone starts muted (push-to-talk is on: it opens while the key is held).
    pub muted: bool,
    /// The camera is open and sending from the start (false: the call offers video, but
    /// the user starts calls with the camera off, or there is none).
    pub camera: bool,
}

/// What is sent as [`CALL_ENDED`].
#[derive(Debug, Clone, Serialize)]
pub struct CallEnded {
    /// The call.
    pub call_no: u64,
    /// Why it ended (the engine's reason, tagged by `reason`).
    pub reason: EndReason,
    /// The entry written to history.
    pub entry: HistoryEntry,
}

/// An engine configuration ready to connect, and whether its relay is trusted on
/// first use (then it is pinned once the engine reports its key).
pub struct Prepared {
    /// The configuration.
    pub config: CallConfig,
    /// Trusted on first use.
    pub first_use: bool,
}

struct Active {
    call_no: u64,
    call: Option<Call>,
}

/// The one call the app runs at a time, and the history it writes.
pub struct Calls {
    emit: Arc<dyn Emit>,
    media: MediaFactory,
    history_path: std::path::PathBuf,
    pins_path: std::path::PathBuf,
    history: Arc<Mutex<History>>,
    active: Arc<Mutex<Option<Active>>>,
    next_no: Mutex<u64>,
    ended: Arc<tokio::sync::watch::Sender<u64>>,
    /// Microphone processing for the next call and the running one (from the settings).
    voice: Mutex<wzp_engine::VoiceConfig>,
    /// Calls start with the microphone muted (push-to-talk is on), so nothing is sent
    /// before the UI knows the key is held.
    start_muted: std::sync::atomic::AtomicBool,
    /// Calls start with the camera closed (the "start with my camera off" setting): the
    /// media factory is told to open none, and the camera button opens it.
    start_camera_off: std::sync::atomic::AtomicBool,
    /// Where a call with a video source shows our own picture (self-view), if anywhere.
    self_view: Option<SelfViewFactory>,
}

/// Makes the sink a call's own captured frames go to (they arrive as participant
/// [`wzp_engine::LOCAL`]); `None` when there is no video view.
pub type SelfViewFactory = Box<dyn Fn() -> Option<Box<dyn wzp_engine::VideoSink>> + Send + Sync>;

impl Calls {
    /// A manager writing history to `history_path` and relay pins to `pins_path`.
    pub fn new(
        emit: Arc<dyn Emit>,
        media: MediaFactory,
        history: History,
        history_path: std::path::PathBuf,
        pins_path: std::path::PathBuf,
    ) -> Self {
        Self {
            emit,
            media,
            history_path,
            pins_path,
            history: Arc::new(Mutex::new(history)),
            active: Arc::new(Mutex::new(None)),
            next_no: Mutex::new(0),
            ended: Arc::new(tokio::sync::watch::channel(0).0),
            voice: Mutex::new(wzp_engine::VoiceConfig::default()),
            start_muted: std::sync::atomic::AtomicBool::new(false),
            start_camera_off: std::sync::atomic::AtomicBool::new(false),
            self_view: None,
        }
    }

    /// Shows each call's own camera picture through `f` (the app's video view).
    #[must_use]
    pub fn with_self_view(mut self, f: SelfViewFactory) -> Self {
        self.self_view = Some(f);
        self
    }

    /// Whether calls from now on start with the microphone muted (push-to-talk).
    pub fn set_start_muted(&self, on: bool) {
        self.start_muted
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// Calls from now on start with the camera closed (the media factory opens none);
    /// the call still offers its camera button.
    pub fn set_start_camera_off(&self, on: bool) {
        self.start_camera_off
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// The media for a call starting now, and whether it has a camera to offer (a
    /// source was opened, or the camera is closed only because the user starts calls
    /// with it off) and has it open.
    fn open_media(&self) -> (MediaIo, (bool, bool)) {
        let off = self
            .start_camera_off
            .load(std::sync::atomic::Ordering::Relaxed);
        let media = (self.media)(if off {
            CameraAtStart::Closed
        } else {
            CameraAtStart::Open
        });
        let camera = media.video_in.is_some();
        (media, (camera || off, camera))
    }

    /// Sets the microphone processing for calls from now on, and for the running call
    /// at once.
    pub fn set_voice(&self, v: wzp_engine::VoiceConfig) -> Result<()> {
        *lock(&self.voice)? = v;
        match self.with_call(|c| c.command(wzp_engine::Command::SetVoice(v))) {
            Ok(()) | Err(AppError::NotInCall) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The call history, newest first.
    pub fn history(&self) -> Result<History> {
        Ok(lock(&self.history)?.clone())
    }

    /// Empties the history (and its file).
    pub fn clear_history(&self) -> Result<()> {
        let mut h = lock(&self.history)?;
        *h = History::default();
        store::save(&self.history_path, &*h)
    }

    /// The running call, if any.
    pub fn current(&self) -> Result<Option<u64>> {
        Ok(lock(&self.active)?.as_ref().map(|a| a.call_no))
    }

    /// Starts a call. Must run inside a tokio runtime.
    pub fn start(&self, identity: wzp_crypto::Identity, req: Request) -> Result<CallInfo> {
        let mut active = lock(&self.active)?;
        if active.is_some() {
            return Err(AppError::AlreadyInCall);
        }
        let cfg = self.call_config(
            &req.relay,
            req.relay_fingerprint.as_deref(),
            identity,
            req.alias.as_deref(),
        )?;
        let (target, direction) = match &req.target {
            CallTarget::Room(r) => (r.clone(), Direction::Room),
            CallTarget::Direct(fp) => (fp.to_string(), Direction::Placed),
        };
        let (media, video) = self.open_media();
        let (call, events) = Call::start(cfg.config, req.target.clone(), media)?;
        Ok(self.run(
            &mut active,
            call,
            events,
            target,
            direction,
            &req.relay,
            video,
            cfg.first_use,
        ))
    }

    /// Answers a direct call offered on `listener` (whose connection becomes the
    /// call's). The history entry says "received", or "missed" if it never connected
    /// (the caller gave up before the answer reached the relay). Must run inside a
    /// tokio runtime.
    pub fn accept(
        &self,
        listener: Listener,
        offer: &IncomingCall,
        relay: &str,
        first_use: bool,
    ) -> Result<CallInfo> {
        let mut active = lock(&self.active)?;
        if active.is_some() {
            return Err(AppError::AlreadyInCall);
        }
        let (media, video) = self.open_media();
        let (call, events) = listener.accept(offer, media);
        // The listener's configuration dates from when it registered; the settings
        // may have changed since.
        if let Err(e) = call.command(wzp_engine::Command::SetVoice(*lock(&self.voice)?)) {
            tracing::warn!(error = %e, "cannot apply the voice settings to the call");
        }
        Ok(self.run(
            &mut active,
            call,
            events,
            offer.from.to_string(),
            Direction::Received,
            relay,
            video,
            first_use,
        ))
    }

    /// Registers a started call as the running one and forwards its events.
    #[allow(clippy::too_many_arguments)]
    fn run(
        &self,
        active: &mut Option<Active>,
        call: Call,
        events: wzp_engine::Events,
        target: String,
        direction: Direction,
        relay: &str,
        (video, camera): (bool, bool),
        first_use: bool,
    ) -> CallInfo {
        let call_no = {
            let mut n = self
                .next_no
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            *n += 1;
            *n
        };
        let muted = self.start_muted.load(std::sync::atomic::Ordering::Relaxed)
            && match call.mute(true) {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot start the call muted for push-to-talk");
                    false
                }
            };
        if video {
            if let Some(sink) = self.self_view.as_ref().and_then(|f| f()) {
                if let Err(e) = call.command(wzp_engine::Command::SetSelfView(Some(sink))) {
                    tracing::warn!(error = %e, "cannot show our own video");
                }
            }
        }
        *active = Some(Active {
            call_no,
            call: Some(call),
        });
        let info = CallInfo {
            call_no,
            target,
            direction,
            relay: relay.to_string(),
            video,
            muted,
            camera,
        };
        tracing::info!(call_no, relay = %relay, ?direction, "call started");
        let forward = Forwarder {
            emit: self.emit.clone(),
            active: self.active.clone(),
            history: self.history.clone(),
            history_path: self.history_path.clone(),
            pins: first_use.then(|| (self.pins_path.clone(), relay.to_string())),
            info: info.clone(),
            ended: self.ended.clone(),
        };
        tokio::spawn(forward.run(events));
        info
    }

    /// Adds an entry for a call that never ran (missed, declined, busy) to the history
    /// and tells the UI, like the end of a call does.
    pub fn record_missed(&self, entry: HistoryEntry) -> Result<()> {
        let mut h = lock(&self.history)?;
        h.push(entry);
        store::save(&self.history_path, &*h)
    }

    /// Changes every time a call ends: the incoming-call listener re-registers then,
    /// because a call on the same relay took its presence over.
    #[must_use]
    pub fn ended_watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.ended.subscribe()
    }

    /// The engine configuration for `relay` (pinned fingerprint if given, else the pin
    /// store: pinned if known, trusted on first use if not).
    pub fn call_config(
        &self,
        relay: &str,
        relay_fingerprint: Option<&str>,
        identity: wzp_crypto::Identity,
        alias: Option<&str>,
    ) -> Result<Prepared> {
        let (relay_cfg, first_use) = self.relay_config(relay, relay_fingerprint)?;
        let mut config = CallConfig::new(relay_cfg, identity);
        config.voice = *lock(&self.voice)?;
        config.alias = alias
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty());
        Ok(Prepared { config, first_use })
    }

    fn relay_config(
        &self,
        relay: &str,
        relay_fingerprint: Option<&str>,
    ) -> Result<(RelayConfig, bool)> {
        let addr = resolve(relay)?;
        let trust = match relay_fingerprint.map(str::trim) {
            Some(f) if !f.is_empty() => Trust::Pinned(
                RelayFingerprint::parse(f)
                    .map_err(|e| AppError::invalid("relay fingerprint", e))?,
            ),
            _ => PinStore::load(&self.pins_path)
                .and_then(|s| s.trust_for(relay))
                .map_err(|e| AppError::Storage {
                    path: self.pins_path.display().to_string(),
                    detail: e.to_string(),
                })?,
        };
        let first_use = matches!(trust, Trust::FirstUse);
        let server_name = wzp_engine::RelayConfig::server_name_of(relay);
        Ok((
            RelayConfig {
                addr,
                server_name,
                trust,
                token: None,
            },
            first_use,
        ))
    }

    /// Applies `f` to the running call.
    pub fn with_call(&self, f: impl FnOnce(&Call) -> wzp_engine::Result<()>) -> Result<()> {
        let active = lock(&self.active)?;
        let call = active
            .as_ref()
            .and_then(|a| a.call.as_ref())
            .ok_or(AppError::NotInCall)?;
        Ok(f(call)?)
    }

    /// A stats snapshot of the running call.
    pub async fn stats(&self) -> Result<wzp_engine::CallStats> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.with_call(|c| c.command(wzp_engine::Command::Stats(tx)))?;
        rx.await.map_err(|_| AppError::NotInCall)
    }
}

/// Parses HOST:PORT (a name is looked up).
pub fn resolve(relay: &str) -> Result<SocketAddr> {
    use std::net::ToSocketAddrs as _;
    let relay = relay.trim();
    if relay.is_empty() {
        return Err(AppError::invalid(
            "relay",
            "enter the relay's address (HOST:PORT)",
        ));
    }
    relay
        .to_socket_addrs()
        .map_err(|e| AppError::invalid("relay", format!("{relay}: {e}")))?
        .next()
        .ok_or_else(|| AppError::invalid("relay", format!("{relay}: no address found")))
}

/// Parses a fingerprint typed by the user.
pub fn parse_fingerprint(s: &str) -> Result<Fingerprint> {
    Fingerprint::parse(s.trim()).map_err(|e| AppError::invalid("fingerprint", e))
}

/// Forwards one call's events until it ends, then records it.
struct Forwarder {
    emit: Arc<dyn Emit>,
    active: Arc<Mutex<Option<Active>>>,
    history: Arc<Mutex<History>>,
    history_path: std::path::PathBuf,
    /// (pin file, relay) when the relay is trusted on first use and should be pinned.
    pins: Option<(std::path::PathBuf, String)>,
    info: CallInfo,
    ended: Arc<tokio::sync::watch::Sender<u64>>,
}

impl Forwarder {
    async fn run(mut self, mut events: wzp_engine::Events) {
        let started_unix = unix_now();
        // From the first time media flowed to the end (reconnects included).
        let mut active_since: Option<Instant> = None;
        let mut peers: BTreeMap<String, HistoryPeer> = BTreeMap::new();
        let mut reason = None;
        while let Some(e) = events.recv().await {
            match &e {
                Event::State(s) => {
                    use wzp_engine::CallState as S;
                    match s {
                        S::Active => {
                            active_since.get_or_insert_with(Instant::now);
                        }
                        S::Ended { reason: r } => reason = Some(r.clone()),
                        _ => {}
                    }
                }
                Event::ParticipantJoined(p) => {
                    peers.insert(
                        p.fingerprint.to_string(),
                        HistoryPeer {
                            fingerprint: p.fingerprint.to_string(),
                            alias: p.alias.clone(),
                        },
                    );
                }
                Event::RelayConnected { fingerprint, .. } => self.pin(fingerprint),
                _ => {}
            }
            let payload = serde_json::to_value(&e).unwrap_or(serde_json::Value::Null);
            self.emit.emit(
                CALL_EVENT,
                serde_json::json!({"call_no": self.info.call_no, "event": payload}),
            );
            if reason.is_some() {
                break;
            }
        }
        // Take the call out so the next one can start, and let the engine finish its
        // sinks before recording the end.
        let call = match self.active.lock() {
            Ok(mut g) => match g.as_mut() {
                Some(a) if a.call_no == self.info.call_no => g.take().and_then(|a| a.call),
                _ => None,
            },
            Err(_) => None,
        };
        let waited = match call {
            Some(c) => Some(c.wait().await),
            None => None,
        };
        let reason = reason.or(waited).unwrap_or(EndReason::Failed {
            message: "the call stopped without a reason".into(),
        });
        // An answered call that never connected (the caller had already given up)
        // is a missed call.
        let direction = match self.info.direction {
            Direction::Received if active_since.is_none() => Direction::Missed,
            d => d,
        };
        let entry = HistoryEntry {
            target: self.info.target.clone(),
            direction,
            relay: self.info.relay.clone(),
            started_unix,
            duration_secs: active_since.map_or(0, |t| t.elapsed().as_secs()),
            participants: peers.into_values().collect(),
            end_reason: reason_tag(&reason),
        };
        if let Ok(mut h) = self.history.lock() {
            h.push(entry.clone());
            if let Err(e) = store::save(&self.history_path, &*h) {
                tracing::error!(error = %e, "cannot write the call history");
                self.emit.emit(
                    "app-error",
                    serde_json::to_value(&e).unwrap_or(serde_json::Value::Null),
                );
            }
        }
        tracing::info!(call_no = self.info.call_no, reason = %entry.end_reason, "call ended");
        let ended = CallEnded {
            call_no: self.info.call_no,
            reason,
            entry,
        };
        self.emit.emit(
            CALL_ENDED,
            serde_json::to_value(&ended).unwrap_or(serde_json::Value::Null),
        );
        self.ended.send_modify(|n| *n += 1);
    }

    /// Pins a first-use relay once its key is known, so a later change is refused.
    fn pin(&mut self, fingerprint: &str) {
        let Some((path, relay)) = self.pins.take() else {
            return;
        };
        let result = RelayFingerprint::parse(fingerprint)
            .and_then(|fp| PinStore::load(&path).and_then(|mut s| s.pin(&relay, fp)));
        match result {
            Ok(()) => tracing::info!(%relay, %fingerprint, "relay pinned on first use"),
            Err(e) => tracing::warn!(%relay, error = %e, "cannot pin the relay"),
        }
    }
}

fn reason_tag(r: &EndReason) -> String {
    serde_json::to_value(r)
        .ok()
        .and_then(|v| v.get("reason").and_then(|t| t.as_str()).map(String::from))
        .unwrap_or_else(|| "failed".into())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn lock<T>(m: &Mutex<T>) -> Result<std::sync::MutexGuard<'_, T>> {
    m.lock()
        .map_err(|_| AppError::Internal("call state lock poisoned".into()))
}
