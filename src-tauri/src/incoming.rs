//! Being reachable for direct calls: a [`wzp_engine::Listener`] kept registered on the
//! relay chosen for receiving calls, offers forwarded to the UI, and the user's answer
//! applied.
//!
//! One task per target (relay + identity). It connects and registers presence,
//! reconnecting with backoff (1 s doubling to 60 s) while the relay is away, and
//! reports its state as [`LISTENER_STATE`]. An offer becomes [`INCOMING_CALL`]; the
//! task then waits for `answer_call` (accept: the listener's connection becomes the
//! call, run by the same [`Calls`] manager as outgoing calls; decline), for the ring
//! time to pass, or for the caller to give up (both missed: the ringing stops at once).
//! Offers that arrive while a call runs are answered "busy" and kept in history as
//! missed ("busy"). Every finished offer is sent as [`INCOMING_ENDED`].
//!
//! After any call ends the listener reconnects, because an outgoing call to the same
//! relay registers the same identity on its own connection and takes presence over.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::oneshot;
use wzp_engine::{IncomingCall, Listener};

use crate::call::{CallInfo, Calls, Emit};
use crate::error::{AppError, Result};
use crate::host::HostInfo;
use crate::store::{Direction, HistoryEntry, HistoryPeer, Settings};

/// Event: the listener's state changed ([`ListenerStatus`]).
pub const LISTENER_STATE: &str = "listener-state";
/// Event: someone is calling ([`Offer`]).
pub const INCOMING_CALL: &str = "incoming-call";
/// Event: an offer is over without a call (declined, missed, busy) or was answered
/// ([`OfferEnded`]).
pub const INCOMING_ENDED: &str = "incoming-ended";

/// How long an unanswered offer rings before it counts as missed: the engine's
/// default ring time (the caller gives up then) plus a little for the relay's delay.
pub const RING_TIME: Duration = Duration::from_secs(47);

/// Where to listen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// HOST:PORT.
    pub relay: String,
    /// The relay's certificate fingerprint, if known (else the pin store decides).
    pub relay_fingerprint: Option<String>,
    /// Name shown to callers.
    pub alias: Option<String>,
}

/// Picks the relay to receive calls on: the user's choice, else the relay on this
/// computer when hosting, else the last relay used; `None` when receiving is off or no
/// relay is known yet.
#[must_use]
pub fn choose_target(settings: &Settings, host: Option<&HostInfo>) -> Option<Target> {
    if !settings.receive_calls {
        return None;
    }
    let fingerprint_of = |addr: &str| -> Option<String> {
        if let Some(h) = host.filter(|h| h.local_address == addr) {
            return Some(h.fingerprint.clone());
        }
        settings
            .relays
            .iter()
            .find(|r| r.address == addr)
            .and_then(|r| r.fingerprint.clone())
    };
    let relay = match settings
        .receive_relay
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
    {
        Some(r) => r.to_string(),
        None => match host {
            Some(h) => h.local_address.clone(),
            None => settings.relays.first()?.address.clone(),
        },
    };
    Some(Target {
        relay_fingerprint: fingerprint_of(&relay),
        relay,
        alias: settings.alias.clone(),
    })
}

/// The listener's state, for the UI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ListenerState {
    /// Not receiving calls (no identity, no relay known, or turned off).
    Off,
    /// Connecting and registering.
    Connecting,
    /// Registered: calls to our fingerprint reach us.
    Listening,
    /// The relay could not be reached; trying again after a pause.
    Retrying,
    /// A call answered here runs on the listener's connection.
    InCall,
}

/// What [`LISTENER_STATE`] carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListenerStatus {
    /// The state.
    pub state: ListenerState,
    /// The relay, when not off.
    pub relay: Option<String>,
    /// Why the last attempt failed (when retrying).
    pub error: Option<String>,
    /// Seconds until the next attempt (when retrying).
    pub retry_in_secs: Option<u64>,
}

impl ListenerStatus {
    fn off() -> Self {
        Self {
            state: ListenerState::Off,
            relay: None,
            error: None,
            retry_in_secs: None,
        }
    }
}

/// A ringing call, as [`INCOMING_CALL`] carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Offer {
    /// Number of this offer (what `answer_call` names).
    pub id: u64,
    /// The caller's fingerprint.
    pub from: String,
    /// The caller's self-chosen name.
    pub alias: Option<String>,
    /// The relay it came through.
    pub relay: String,
}

/// What [`INCOMING_ENDED`] carries.
#[derive(Debug, Clone, Serialize)]
pub struct OfferEnded {
    /// The offer.
    pub id: u64,
    /// "answered", "declined", "missed" or "busy".
    pub outcome: &'static str,
    /// The history entry written (none when answered: the call writes its own).
    pub entry: Option<HistoryEntry>,
}

/// The user's answer to an offer.
pub enum Decision {
    /// Take the call; the result (or why it could not start) goes back here.
    Accept(oneshot::Sender<Result<CallInfo>>),
    /// Refuse it.
    Decline,
}

struct Pending {
    offer: Offer,
    answer: oneshot::Sender<Decision>,
}

/// State shared between the listener task and the commands.
struct Shared {
    emit: Arc<dyn Emit>,
    calls: Arc<Calls>,
    status: Mutex<ListenerStatus>,
    pending: Mutex<Option<Pending>>,
    next_id: AtomicU64,
    ring_time: Duration,
}

/// The incoming-call side of the app.
pub struct Incoming {
    shared: Arc<Shared>,
    /// The running task and what it listens for (identity fingerprint + target).
    task: Mutex<Option<(String, Target, tokio::task::JoinHandle<()>)>>,
}

impl Incoming {
    /// Nothing listening yet; [`Incoming::set_target`] starts it.
    pub fn new(emit: Arc<dyn Emit>, calls: Arc<Calls>, ring_time: Duration) -> Self {
        Self {
            shared: Arc::new(Shared {
                emit,
                calls,
                status: Mutex::new(ListenerStatus::off()),
                pending: Mutex::new(None),
                next_id: AtomicU64::new(0),
                ring_time,
            }),
            task: Mutex::new(None),
        }
    }

    /// Listens for `identity` on `target`, or stops with `None`. Does nothing when
    /// that is already what runs (so it can be called after every settings change).
    /// Must run inside a tokio runtime.
    pub fn set_target(&self, target: Option<(Target, wzp_crypto::Identity)>) {
        let Ok(mut task) = self.task.lock() else {
            return;
        };
        let want = target
            .as_ref()
            .map(|(t, id)| (id.fingerprint().to_string(), t.clone()));
        let have = task.as_ref().map(|(fp, t, _)| (fp.clone(), t.clone()));
        if want == have {
            return;
        }
        if let Some((_, _, h)) = task.take() {
            h.abort();
        }
        self.shared.drop_pending();
        match target {
            None => self.shared.set_status(ListenerStatus::off()),
            Some((t, identity)) => {
                tracing::info!(relay = %t.relay, "receiving calls");
                let fp = identity.fingerprint().to_string();
                let h = tokio::spawn(self.shared.clone().run(t.clone(), identity));
                *task = Some((fp, t, h));
            }
        }
    }

    /// The listener's state now.
    #[must_use]
    pub fn status(&self) -> ListenerStatus {
        self.shared
            .status
            .lock()
            .map(|s| s.clone())
            .unwrap_or_else(|_| ListenerStatus::off())
    }

    /// The offer ringing now, if any.
    #[must_use]
    pub fn ringing(&self) -> Option<Offer> {
        self.shared
            .pending
            .lock()
            .ok()
            .and_then(|p| p.as_ref().map(|p| p.offer.clone()))
    }

    /// Answers offer `id`: accept returns the call that starts, decline returns `None`.
    pub async fn answer(&self, id: u64, accept: bool) -> Result<Option<CallInfo>> {
        let pending = {
            let mut p = self
                .shared
                .pending
                .lock()
                .map_err(|_| AppError::Internal("incoming call lock poisoned".into()))?;
            match p.take() {
                Some(x) if x.offer.id == id => x,
                other => {
                    *p = other;
                    return Err(AppError::CallGone);
                }
            }
        };
        if !accept {
            let _ = pending.answer.send(Decision::Decline);
            return Ok(None);
        }
        let (tx, rx) = oneshot::channel();
        pending
            .answer
            .send(Decision::Accept(tx))
            .map_err(|_| AppError::CallGone)?;
        rx.await.map_err(|_| AppError::CallGone)?.map(Some)
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        if let Ok(mut t) = self.task.lock() {
            if let Some((_, _, h)) = t.take() {
                h.abort();
            }
        }
    }
}

/// Pause before reconnect attempt `n` (1-based): 1 s doubling, at most 60 s.
#[must_use]
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_secs(1u64 << attempt.saturating_sub(1).min(6)).min(Duration::from_secs(60))
}

/// What became of one offer.
enum Rang {
    Accepted(oneshot::Sender<Result<CallInfo>>),
    Over,
}

impl Shared {
    fn set_status(&self, s: ListenerStatus) {
        if let Ok(mut cur) = self.status.lock() {
            if *cur == s {
                return;
            }
            *cur = s.clone();
        }
        self.emit.emit(
            LISTENER_STATE,
            serde_json::to_value(&s).unwrap_or(serde_json::Value::Null),
        );
    }

    fn status(&self, state: ListenerState, relay: &str) {
        self.set_status(ListenerStatus {
            state,
            relay: Some(relay.to_string()),
            error: None,
            retry_in_secs: None,
        });
    }

    /// Forgets a ringing offer whose task is gone, telling the UI.
    fn drop_pending(&self) {
        let gone = self.pending.lock().ok().and_then(|mut p| p.take());
        if let Some(p) = gone {
            self.ended(p.offer.id, "missed", None);
        }
    }

    fn ended(&self, id: u64, outcome: &'static str, entry: Option<HistoryEntry>) {
        let ev = OfferEnded { id, outcome, entry };
        self.emit.emit(
            INCOMING_ENDED,
            serde_json::to_value(&ev).unwrap_or(serde_json::Value::Null),
        );
    }

    /// Writes a history entry for an offer that did not become a call, and tells the UI.
    fn not_taken(&self, offer: &Offer, outcome: &'static str) {
        let entry = HistoryEntry {
            target: offer.from.clone(),
            direction: Direction::Missed,
            relay: offer.relay.clone(),
            started_unix: unix_now(),
            duration_secs: 0,
            participants: vec![HistoryPeer {
                fingerprint: offer.from.clone(),
                alias: offer.alias.clone(),
            }],
            end_reason: outcome.to_string(),
        };
        if let Err(e) = self.calls.record_missed(entry.clone()) {
            tracing::error!(error = %e, "cannot write the call history");
            self.emit.emit(
                "app-error",
                serde_json::to_value(&e).unwrap_or(serde_json::Value::Null),
            );
        }
        self.ended(offer.id, outcome, Some(entry));
    }

    async fn run(self: Arc<Self>, target: Target, identity: wzp_crypto::Identity) {
        let mut attempt: u32 = 0;
        let mut ended = self.calls.ended_watch();
        loop {
            if attempt > 0 {
                // Reported by the failure that led here; wait, or go at once if a call
                // ended (the user may be back at the relay).
                let _ = tokio::time::timeout(backoff(attempt), ended.changed()).await;
            }
            self.status(ListenerState::Connecting, &target.relay);
            ended.borrow_and_update();
            let listener = match self.connect(&target, &identity).await {
                Ok(l) => l,
                Err(e) => {
                    attempt = attempt.saturating_add(1);
                    self.retrying(&target, &e, attempt);
                    continue;
                }
            };
            attempt = 0;
            self.status(ListenerState::Listening, &target.relay);
            if let Err(e) = self.serve(listener, &target, &mut ended).await {
                attempt = 1;
                self.retrying(&target, &e, attempt);
            }
        }
    }

    fn retrying(&self, target: &Target, e: &AppError, attempt: u32) {
        tracing::warn!(relay = %target.relay, error = %e, attempt, "cannot receive calls");
        self.set_status(ListenerStatus {
            state: ListenerState::Retrying,
            relay: Some(target.relay.clone()),
            error: Some(e.to_string()),
            retry_in_secs: Some(backoff(attempt).as_secs()),
        });
    }

    async fn connect(
        &self,
        target: &Target,
        identity: &wzp_crypto::Identity,
    ) -> Result<(Listener, bool)> {
        let prepared = self.calls.call_config(
            &target.relay,
            target.relay_fingerprint.as_deref(),
            identity.clone(),
            target.alias.as_deref(),
        )?;
        let l = Listener::connect(prepared.config).await?;
        Ok((l, prepared.first_use))
    }

    /// Serves offers on one registered connection. Returns `Ok` when it should simply
    /// re-register (a call ended), `Err` when the connection failed.
    async fn serve(
        &self,
        (mut listener, first_use): (Listener, bool),
        target: &Target,
        ended: &mut tokio::sync::watch::Receiver<u64>,
    ) -> Result<()> {
        loop {
            let offer = tokio::select! {
                o = listener.next_call() => o?,
                _ = ended.changed() => return Ok(()),
            };
            let shown = Offer {
                id: self.next_id.fetch_add(1, Ordering::Relaxed) + 1,
                from: offer.from.to_string(),
                alias: offer.alias.clone(),
                relay: target.relay.clone(),
            };
            tracing::info!(id = shown.id, from = %shown.from, "incoming call");
            if self.calls.current()?.is_some() {
                if let Err(e) = listener.busy(&offer).await {
                    tracing::warn!(error = %e, "cannot answer busy during a call");
                }
                self.not_taken(&shown, "busy");
                continue;
            }
            match self.ring(&mut listener, &offer, &shown).await {
                Rang::Over => {}
                Rang::Accepted(reply) => {
                    self.status(ListenerState::InCall, &target.relay);
                    ended.borrow_and_update();
                    let started = self
                        .calls
                        .accept(listener, &offer, &target.relay, first_use);
                    let ok = started.is_ok();
                    if ok {
                        self.ended(shown.id, "answered", None);
                    } else {
                        self.not_taken(&shown, "missed");
                    }
                    let _ = reply.send(started);
                    if ok {
                        let _ = ended.changed().await;
                    }
                    return Ok(());
                }
            }
        }
    }

    /// Rings until the user answers or the ring time passes.
    async fn ring(&self, listener: &mut Listener, offer: &IncomingCall, shown: &Offer) -> Rang {
        let (tx, rx) = oneshot::channel();
        if let Ok(mut p) = self.pending.lock() {
            *p = Some(Pending {
                offer: shown.clone(),
                answer: tx,
            });
        }
        self.emit.emit(
            INCOMING_CALL,
            serde_json::to_value(shown).unwrap_or(serde_json::Value::Null),
        );
        // Rings until the user answers, the ring time passes, or the caller gives up.
        let answer = tokio::select! {
            a = tokio::time::timeout(self.ring_time, rx) => Some(a),
            gone = listener.cancelled(offer) => {
                match gone {
                    Ok(reason) => tracing::info!(id = shown.id, ?reason, "the caller gave up"),
                    Err(e) => tracing::warn!(id = shown.id, error = %e, "lost the offer"),
                }
                None
            }
        };
        if let Ok(mut p) = self.pending.lock() {
            if p.as_ref().is_some_and(|p| p.offer.id == shown.id) {
                *p = None;
            }
        }
        let Some(answer) = answer else {
            self.not_taken(shown, "missed");
            return Rang::Over;
        };
        match answer {
            Ok(Ok(Decision::Accept(reply))) => Rang::Accepted(reply),
            Ok(Ok(Decision::Decline)) => {
                if let Err(e) = listener.decline(offer).await {
                    tracing::warn!(error = %e, "cannot send the decline");
                }
                self.not_taken(shown, "declined");
                Rang::Over
            }
            Ok(Err(_)) | Err(_) => {
                self.not_taken(shown, "missed");
                Rang::Over
            }
        }
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RelayEntry;

    fn host() -> HostInfo {
        HostInfo {
            local_address: "127.0.0.1:5000".into(),
            share_addresses: vec![],
            fingerprint: "hostfp".into(),
        }
    }

    #[test]
    fn target_prefers_choice_then_host_then_last_relay() {
        let mut s = Settings::default();
        assert_eq!(choose_target(&s, None), None, "no relay known yet");
        s.remember_relay("b:1", None);
        s.remember_relay("a:1", Some("afp".into()));
        let t = choose_target(&s, None);
        assert_eq!(t.as_ref().map(|t| t.relay.as_str()), Some("a:1"));
        assert_eq!(t.and_then(|t| t.relay_fingerprint).as_deref(), Some("afp"));
        let h = host();
        let t = choose_target(&s, Some(&h));
        assert_eq!(t.as_ref().map(|t| t.relay.as_str()), Some("127.0.0.1:5000"));
        assert_eq!(
            t.and_then(|t| t.relay_fingerprint).as_deref(),
            Some("hostfp")
        );
        s.receive_relay = Some(" b:1 ".into());
        let t = choose_target(&s, Some(&h));
        assert_eq!(t.as_ref().map(|t| t.relay.as_str()), Some("b:1"));
        assert_eq!(t.and_then(|t| t.relay_fingerprint), None);
        s.receive_calls = false;
        assert_eq!(choose_target(&s, Some(&h)), None);
    }

    #[test]
    fn chosen_relay_entry_keeps_its_pin() {
        let s = Settings {
            relays: vec![RelayEntry {
                name: "x".into(),
                address: "x:1".into(),
                fingerprint: Some("xfp".into()),
            }],
            receive_relay: Some("x:1".into()),
            ..Settings::default()
        };
        assert_eq!(
            choose_target(&s, None)
                .and_then(|t| t.relay_fingerprint)
                .as_deref(),
            Some("xfp")
        );
    }

    #[test]
    fn backoff_doubles_to_a_minute() {
        let secs: Vec<u64> = (1..=9).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(secs, vec![1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(backoff(0).as_secs(), 1);
    }
}
