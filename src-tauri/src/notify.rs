//! The desktop notification for an incoming direct call: the caller's name and
//! fingerprint with "Accept" and "Decline" (and a click on the body that shows the
//! window), closed as soon as the ring ends any other way.
//!
//! Shown on every ring, not only while the window is in the background: a call is
//! urgent, and the app cannot tell whether anyone sees its window (a focused window
//! may be on another monitor or workspace, behind a screen lock, or nobody is at the
//! desk). Its urgency is critical, so servers keep it up while it rings instead of
//! hiding it after a few seconds; servers that let critical notifications through
//! do-not-disturb show it then too, as the app's own ringing sounds then. The setting
//! `call_notifications` turns it off. It never outlives the ring, so it does not linger
//! beside the in-app screen.
//!
//! [`Core`] is sans-IO: it takes the listener's events ([`crate::incoming::INCOMING_CALL`],
//! [`crate::incoming::INCOMING_ENDED`], observed by [`Tap`] on their way to the UI), the
//! server's answers and the settings, and says what to show, close, answer or raise.
//! [`run`] is the thin shell: one tokio task owning the core, and per notification one
//! task holding the notify-rust handle (its D-Bus connection) until the ring ends.
//!
//! Accept and Decline go to the UI as [`NOTIFICATION_ACTION`], which runs the same code
//! as its buttons (`answer_call`, i.e. [`crate::incoming::Incoming::answer`]), as the
//! tray's actions do; Accept and a click on the body also bring the window to the front.
//! The words come from the UI (`ui/src/strings.ts`, sent with `notify_labels`), with
//! English defaults until it has sent them.
//!
//! Linux (and the BSDs): the freedesktop Notifications spec through notify-rust's zbus
//! backend. With no notification server a warning is logged once (again only after one
//! was shown since) and the in-app screen rings as before. macOS and Windows: a plain
//! notification without actions that cannot be closed early (notify-rust has neither
//! there); unverified until a build for them runs.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::call::Emit;
use crate::incoming::{INCOMING_CALL, INCOMING_ENDED};

/// Event to the UI: the user acted on a call notification ([`ActionEvent`]).
pub const NOTIFICATION_ACTION: &str = "notification-action";

/// Action keys sent to the notification server. "default" is the spec's name for a click
/// on the notification itself.
pub const ACTION_SHOW: &str = "default";
/// Accept the call.
pub const ACTION_ACCEPT: &str = "accept";
/// Decline the call.
pub const ACTION_DECLINE: &str = "decline";

/// Longest caller name put into a notification (the in-app screen shows all of it).
const MAX_NAME_CHARS: usize = 64;

/// The words of the notification: templates with `{name}` and `{fingerprint}`, from the
/// UI's strings so they are translated in one place.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Labels {
    /// Title; `{name}` is the caller.
    pub title: String,
    /// Body for a caller who is not a verified contact; `{fingerprint}`.
    pub body: String,
    /// Body for a verified contact; `{fingerprint}`.
    pub body_verified: String,
    /// The accept button.
    pub accept: String,
    /// The decline button.
    pub decline: String,
    /// A click on the notification (some servers show it as a button or menu entry).
    pub show: String,
}

impl Default for Labels {
    fn default() -> Self {
        // Only until the UI sends its strings (it does at start-up).
        Self {
            title: "{name} is calling".into(),
            body: "Fingerprint {fingerprint}".into(),
            body_verified: "Verified contact, fingerprint {fingerprint}".into(),
            accept: "Accept".into(),
            decline: "Decline".into(),
            show: "Show".into(),
        }
    }
}

/// A ringing offer, as the notification needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ringing {
    /// The offer's number (what `answer_call` names).
    pub id: u64,
    /// The caller's fingerprint.
    pub from: String,
    /// The caller's self-chosen name.
    pub alias: Option<String>,
    /// The contact saved for this fingerprint: name and verified mark.
    pub contact: Option<(String, bool)>,
}

/// What the core is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// An offer rings.
    Ringing(Ringing),
    /// Offer `id` stopped ringing (answered, declined, missed, busy).
    Ended(u64),
    /// The setting: show call notifications or not.
    Enabled(bool),
    /// The UI's words.
    Labels(Labels),
    /// The server showed the notification for offer `id`.
    Shown(u64),
    /// The notification for offer `id` could not be shown (no server, D-Bus error).
    Failed(u64),
    /// The user picked an action (by key) on the notification for offer `id`.
    Action(u64, String),
    /// The server closed the notification for offer `id` (dismissed, expired, or closed
    /// on our request).
    Closed(u64),
}

/// A notification to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The offer it is for.
    pub id: u64,
    /// Title (plain text).
    pub title: String,
    /// Body (plain text).
    pub body: String,
    /// (key, label) pairs, in order.
    pub actions: Vec<(String, String)>,
    /// How long the server may show it at most (the ring time), so it goes away with the
    /// ring even if the app cannot close it.
    pub timeout: Duration,
}

/// What the shell must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Show this notification.
    Show(Request),
    /// Close the notification for offer `id`.
    Close(u64),
    /// Answer offer `id` the way the in-app buttons do.
    Answer {
        /// The offer.
        id: u64,
        /// Accept (else decline).
        accept: bool,
    },
    /// Bring the window to the front.
    Raise,
    /// No notification can be shown: say so once (the in-app screen still rings).
    WarnUnavailable,
}

/// What to show and close, given the listener's events (sans-IO).
#[derive(Debug)]
pub struct Core {
    enabled: bool,
    labels: Labels,
    ring_time: Duration,
    /// The offer whose notification is shown or being shown.
    shown: Option<u64>,
    /// A failure was reported and nothing was shown since.
    warned: bool,
}

impl Core {
    /// Enabled, with the default words; `ring_time` bounds how long a notification stays.
    #[must_use]
    pub fn new(ring_time: Duration) -> Self {
        Self {
            enabled: true,
            labels: Labels::default(),
            ring_time,
            shown: None,
            warned: false,
        }
    }

    /// The offer whose notification is up (or on its way), if any.
    #[must_use]
    pub fn shown(&self) -> Option<u64> {
        self.shown
    }

    /// Takes one input, returns what to do, in order.
    pub fn handle(&mut self, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::Ringing(r) => {
                if let Some(old) = self.shown.take() {
                    out.push(Output::Close(old));
                }
                if self.enabled {
                    self.shown = Some(r.id);
                    out.push(Output::Show(self.request(&r)));
                }
            }
            Input::Ended(id) => {
                if self.shown == Some(id) {
                    self.shown = None;
                    out.push(Output::Close(id));
                }
            }
            Input::Enabled(on) => {
                self.enabled = on;
                if !on {
                    if let Some(id) = self.shown.take() {
                        out.push(Output::Close(id));
                    }
                }
            }
            Input::Labels(l) => self.labels = l,
            Input::Shown(_) => self.warned = false,
            Input::Failed(id) => {
                if self.shown == Some(id) {
                    self.shown = None;
                }
                if !self.warned {
                    self.warned = true;
                    out.push(Output::WarnUnavailable);
                }
            }
            Input::Action(id, key) => {
                if self.shown != Some(id) {
                    // A notification whose ring is over: nothing to answer.
                    return out;
                }
                match key.as_str() {
                    ACTION_ACCEPT => {
                        out.push(Output::Raise);
                        out.push(Output::Answer { id, accept: true });
                    }
                    ACTION_DECLINE => out.push(Output::Answer { id, accept: false }),
                    ACTION_SHOW => out.push(Output::Raise),
                    _ => {}
                }
            }
            Input::Closed(id) => {
                // Dismissed or expired: the in-app screen keeps ringing.
                if self.shown == Some(id) {
                    self.shown = None;
                }
            }
        }
        out
    }

    fn request(&self, r: &Ringing) -> Request {
        let name = caller_name(r);
        let fingerprint = format_fingerprint(&r.from);
        let verified = r.contact.as_ref().is_some_and(|(_, v)| *v);
        let body = if verified {
            &self.labels.body_verified
        } else {
            &self.labels.body
        };
        Request {
            id: r.id,
            title: self.labels.title.replace("{name}", &name),
            body: body.replace("{fingerprint}", &fingerprint),
            actions: vec![
                (ACTION_SHOW.into(), self.labels.show.clone()),
                (ACTION_ACCEPT.into(), self.labels.accept.clone()),
                (ACTION_DECLINE.into(), self.labels.decline.clone()),
            ],
            timeout: self.ring_time,
        }
    }
}

/// The caller's name as the in-app screen picks it (contact name, else their alias, else
/// a short fingerprint), made safe for a notification: servers may read the text as
/// markup, and an alias is whatever the caller chose, so markup characters and control
/// characters are dropped and the length is bounded.
#[must_use]
pub fn caller_name(r: &Ringing) -> String {
    let pick = r
        .contact
        .as_ref()
        .map(|(n, _)| n.as_str())
        .or(r.alias.as_deref())
        .map(clean)
        .filter(|n| !n.is_empty());
    pick.unwrap_or_else(|| {
        let fp = format_fingerprint(&r.from);
        fp.split(':').take(2).collect::<Vec<_>>().join(":")
    })
}

fn clean(name: &str) -> String {
    let kept: String = name
        .chars()
        .filter(|c| !matches!(c, '<' | '>' | '&') && !c.is_control())
        .take(MAX_NAME_CHARS)
        .collect();
    kept.trim().to_string()
}

/// A fingerprint in the form the UI shows: lower-case hex in groups of 4 joined by ':'.
#[must_use]
pub fn format_fingerprint(fp: &str) -> String {
    let hex: Vec<char> = fp
        .chars()
        .filter(char::is_ascii_hexdigit)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    hex.chunks(4)
        .map(|g| g.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(":")
}

/// What [`NOTIFICATION_ACTION`] carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionEvent {
    /// The offer.
    pub id: u64,
    /// "accept" or "decline".
    pub action: &'static str,
}

/// Where the shell's actions go (the app: the UI and its window).
pub trait Sink: Send + Sync + 'static {
    /// Answer offer `id` as the in-app buttons do.
    fn answer(&self, id: u64, accept: bool);
    /// Bring the window to the front.
    fn raise(&self);
    /// The contact saved for fingerprint `from`: its name and verified mark.
    fn contact(&self, from: &str) -> Option<(String, bool)>;
}

/// Feeds the notification shell. Cheap to clone; inputs sent before [`run`] starts wait
/// (and are dropped with the channel where it never runs, as in tests).
#[derive(Debug, Clone)]
pub struct Notifier {
    tx: mpsc::UnboundedSender<Input>,
}

/// The receiving end [`run`] takes.
pub type Inputs = mpsc::UnboundedReceiver<Input>;

impl Notifier {
    /// A notifier and the inputs for [`run`].
    #[must_use]
    pub fn new() -> (Self, Inputs) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self { tx }, rx)
    }

    /// Tells the shell something (nothing happens once it is gone).
    pub fn send(&self, input: Input) {
        let _ = self.tx.send(input);
    }
}

/// Passes every event to the UI and the listener's ring events to the notifier.
pub struct Tap {
    /// The UI.
    pub inner: Arc<dyn Emit>,
    /// The notifier.
    pub notifier: Notifier,
}

#[derive(Deserialize)]
struct OfferFields {
    id: u64,
    from: String,
    alias: Option<String>,
}

#[derive(Deserialize)]
struct EndedFields {
    id: u64,
}

impl Emit for Tap {
    fn emit(&self, name: &str, payload: serde_json::Value) {
        match name {
            INCOMING_CALL => match serde_json::from_value::<OfferFields>(payload.clone()) {
                Ok(o) => self.notifier.send(Input::Ringing(Ringing {
                    id: o.id,
                    from: o.from,
                    alias: o.alias,
                    contact: None,
                })),
                Err(e) => tracing::warn!(error = %e, "an incoming call the notifier cannot read"),
            },
            INCOMING_ENDED => match serde_json::from_value::<EndedFields>(payload.clone()) {
                Ok(e) => self.notifier.send(Input::Ended(e.id)),
                Err(e) => tracing::warn!(error = %e, "an ended call the notifier cannot read"),
            },
            _ => {}
        }
        self.inner.emit(name, payload);
    }
}

/// The shell: owns the [`Core`], shows and closes notifications, and hands actions to
/// `sink`. Runs for the life of the app (`notifier` is how its notification tasks report
/// back, so the channel never closes). Must run inside a tokio runtime.
pub async fn run(mut inputs: Inputs, notifier: Notifier, sink: Arc<dyn Sink>, ring_time: Duration) {
    let mut core = Core::new(ring_time);
    // Per shown notification: the way to close it.
    let mut open: HashMap<u64, oneshot::Sender<()>> = HashMap::new();
    while let Some(mut input) = inputs.recv().await {
        if let Input::Ringing(r) = &mut input {
            r.contact = sink.contact(&r.from);
        }
        match &input {
            Input::Closed(id) | Input::Failed(id) => {
                open.remove(id);
            }
            _ => {}
        }
        for out in core.handle(input) {
            match out {
                Output::Show(req) => {
                    let (close_tx, close_rx) = oneshot::channel();
                    open.insert(req.id, close_tx);
                    tokio::spawn(show(req, close_rx, notifier.clone()));
                }
                Output::Close(id) => {
                    if let Some(tx) = open.remove(&id) {
                        let _ = tx.send(());
                    }
                }
                Output::Answer { id, accept } => {
                    tracing::info!(id, accept, "call notification answered");
                    sink.answer(id, accept);
                }
                Output::Raise => sink.raise(),
                Output::WarnUnavailable => tracing::warn!(
                    "no desktop notification for incoming calls: no notification server \
                     answered (the app's own ringing screen still shows them)"
                ),
            }
        }
    }
}

/// Shows one notification and keeps it (and the D-Bus connection it was sent on: some
/// servers send its signals only there, some close it when that connection goes) until
/// the server closes it or `close` fires (the ring ended). An action does not end it:
/// a server may keep the notification up after one (dunst does when the action comes
/// from its menu), and the ring is over only when the listener says so.
#[cfg(all(unix, not(target_os = "macos")))]
async fn show(req: Request, mut close: oneshot::Receiver<()>, notifier: Notifier) {
    use notify_rust::{Notification, Timeout, Urgency};
    let id = req.id;
    let mut n = Notification::new();
    n.appname("WZP")
        .summary(&req.title)
        .body(&req.body)
        .icon("call-start")
        .urgency(Urgency::Critical)
        .timeout(Timeout::Milliseconds(
            u32::try_from(req.timeout.as_millis()).unwrap_or(u32::MAX),
        ));
    for (key, label) in &req.actions {
        n.action(key, label);
    }
    let handle = match n.show_async().await {
        Ok(h) => h,
        Err(e) => {
            tracing::debug!(id, error = %e, "cannot show the call notification");
            notifier.send(Input::Failed(id));
            return;
        }
    };
    tracing::info!(id, server_id = handle.id(), "call notification shown");
    notifier.send(Input::Shown(id));
    loop {
        tokio::select! {
            r = next_response(&handle) => match r {
                Some(key) => notifier.send(Input::Action(id, key)),
                None => {
                    tracing::debug!(id, "call notification closed by the server");
                    notifier.send(Input::Closed(id));
                    return;
                }
            },
            _ = &mut close => {
                handle.close_async().await;
                tracing::info!(id, "call notification closed");
                return;
            }
        }
    }
}

/// The next action picked on the notification (its key), or `None` once it is closed.
#[cfg(all(unix, not(target_os = "macos")))]
async fn next_response(handle: &notify_rust::NotificationHandle) -> Option<String> {
    use notify_rust::ActionResponse;
    let mut got = None;
    handle
        .wait_for_action_async(|r: &ActionResponse| {
            if let ActionResponse::Custom(key) = r {
                got = Some((*key).to_string());
            }
        })
        .await;
    got
}

/// macOS and Windows: a plain notification (no actions, not closed early).
#[cfg(not(all(unix, not(target_os = "macos"))))]
async fn show(req: Request, _close: oneshot::Receiver<()>, notifier: Notifier) {
    let id = req.id;
    let shown = tokio::task::spawn_blocking(move || {
        notify_rust::Notification::new()
            .appname("WZP")
            .summary(&req.title)
            .body(&req.body)
            .show()
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .await;
    match shown {
        Ok(Ok(())) => notifier.send(Input::Shown(id)),
        Ok(Err(e)) => {
            tracing::debug!(id, error = %e, "cannot show the call notification");
            notifier.send(Input::Failed(id));
        }
        Err(e) => {
            tracing::debug!(id, error = %e, "the call notification task failed");
            notifier.send(Input::Failed(id));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP: &str = "00AA11BB22CC33DD44EE55FF66778899";

    fn ringing(id: u64) -> Input {
        Input::Ringing(Ringing {
            id,
            from: FP.into(),
            alias: Some("Alice".into()),
            contact: None,
        })
    }

    fn core() -> Core {
        Core::new(Duration::from_secs(47))
    }

    fn shown_request(out: &[Output]) -> &Request {
        match out {
            [Output::Show(r)] => r,
            other => panic!("expected one Show, got {other:?}"),
        }
    }

    #[test]
    fn a_ring_shows_name_fingerprint_and_the_actions() {
        let mut c = core();
        let out = c.handle(ringing(1));
        let r = shown_request(&out);
        assert_eq!(r.id, 1);
        assert_eq!(r.title, "Alice is calling");
        assert_eq!(
            r.body,
            "Fingerprint 00aa:11bb:22cc:33dd:44ee:55ff:6677:8899"
        );
        let keys: Vec<&str> = r.actions.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["default", "accept", "decline"]);
        assert_eq!(r.actions[1].1, "Accept");
        assert_eq!(r.actions[2].1, "Decline");
        assert_eq!(r.timeout, Duration::from_secs(47));
        assert_eq!(c.shown(), Some(1));
    }

    #[test]
    fn the_words_come_from_the_labels() {
        let mut c = core();
        c.handle(Input::Labels(Labels {
            title: "Anruf von {name}".into(),
            body: "Fingerabdruck {fingerprint}".into(),
            body_verified: "Bestätigt: {fingerprint}".into(),
            accept: "Annehmen".into(),
            decline: "Ablehnen".into(),
            show: "Zeigen".into(),
        }));
        let out = c.handle(Input::Ringing(Ringing {
            id: 2,
            from: FP.into(),
            alias: Some("Alice".into()),
            contact: Some(("Tante Alice".into(), true)),
        }));
        let r = shown_request(&out);
        assert_eq!(r.title, "Anruf von Tante Alice");
        assert!(r.body.starts_with("Bestätigt: 00aa:11bb"), "{}", r.body);
        let labels: Vec<&str> = r.actions.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["Zeigen", "Annehmen", "Ablehnen"]);
    }

    #[test]
    fn every_other_end_of_the_ring_closes_it() {
        // answered or declined in the app, missed, the caller gave up, busy: all arrive
        // as the listener's "incoming-ended" for the offer.
        let mut c = core();
        c.handle(ringing(1));
        assert_eq!(c.handle(Input::Ended(1)), [Output::Close(1)]);
        assert_eq!(c.shown(), None);
        assert_eq!(c.handle(Input::Ended(1)), [], "closed once");
        // The end of another offer does not close this one.
        c.handle(ringing(2));
        assert_eq!(c.handle(Input::Ended(1)), []);
        assert_eq!(c.shown(), Some(2));
    }

    #[test]
    fn accept_raises_the_window_and_answers() {
        let mut c = core();
        c.handle(ringing(3));
        c.handle(Input::Shown(3));
        assert_eq!(
            c.handle(Input::Action(3, "accept".into())),
            [
                Output::Raise,
                Output::Answer {
                    id: 3,
                    accept: true
                }
            ]
        );
        // The listener then reports the offer answered: the notification is closed (the
        // server may have closed it already; closing again is harmless).
        assert_eq!(c.handle(Input::Ended(3)), [Output::Close(3)]);
    }

    #[test]
    fn decline_answers_and_a_click_on_the_body_only_raises() {
        let mut c = core();
        c.handle(ringing(4));
        assert_eq!(
            c.handle(Input::Action(4, "default".into())),
            [Output::Raise]
        );
        assert_eq!(
            c.handle(Input::Action(4, "decline".into())),
            [Output::Answer {
                id: 4,
                accept: false
            }]
        );
        assert_eq!(c.handle(Input::Action(4, "something-else".into())), []);
    }

    #[test]
    fn actions_on_a_notification_whose_ring_is_over_do_nothing() {
        let mut c = core();
        c.handle(ringing(5));
        c.handle(Input::Ended(5));
        assert_eq!(c.handle(Input::Action(5, "accept".into())), []);
        c.handle(ringing(6));
        assert_eq!(c.handle(Input::Action(5, "accept".into())), []);
    }

    #[test]
    fn a_dismissed_notification_is_forgotten_and_the_ring_goes_on() {
        let mut c = core();
        c.handle(ringing(7));
        assert_eq!(c.handle(Input::Closed(7)), []);
        assert_eq!(c.shown(), None);
        assert_eq!(c.handle(Input::Ended(7)), [], "nothing left to close");
    }

    #[test]
    fn a_new_ring_replaces_a_stale_notification() {
        let mut c = core();
        c.handle(ringing(8));
        let out = c.handle(ringing(9));
        assert_eq!(out.first(), Some(&Output::Close(8)));
        assert!(matches!(out.get(1), Some(Output::Show(r)) if r.id == 9));
    }

    #[test]
    fn the_setting_turns_it_off_and_closes_one_that_is_up() {
        let mut c = core();
        c.handle(ringing(10));
        assert_eq!(c.handle(Input::Enabled(false)), [Output::Close(10)]);
        assert_eq!(c.handle(ringing(11)), []);
        assert_eq!(c.handle(Input::Ended(11)), []);
        c.handle(Input::Enabled(true));
        assert!(matches!(
            c.handle(ringing(12)).as_slice(),
            [Output::Show(_)]
        ));
    }

    #[test]
    fn no_server_warns_once_until_one_answers_again() {
        let mut c = core();
        c.handle(ringing(1));
        assert_eq!(c.handle(Input::Failed(1)), [Output::WarnUnavailable]);
        assert_eq!(c.shown(), None);
        c.handle(ringing(2));
        assert_eq!(c.handle(Input::Failed(2)), [], "said once");
        c.handle(ringing(3));
        c.handle(Input::Shown(3));
        c.handle(ringing(4));
        assert_eq!(c.handle(Input::Failed(4)), [Output::WarnUnavailable]);
    }

    #[test]
    fn a_callers_name_cannot_inject_markup_or_lines() {
        let r = Ringing {
            id: 1,
            from: FP.into(),
            alias: Some("<b>Bank</b> & <a href='x'>co</a>\nline".into()),
            contact: None,
        };
        let name = caller_name(&r);
        assert!(!name.contains(['<', '>', '&', '\n']), "{name}");
        let long = Ringing {
            alias: Some("x".repeat(500)),
            ..r.clone()
        };
        assert_eq!(caller_name(&long).chars().count(), MAX_NAME_CHARS);
        // Nothing left: the short fingerprint, as the in-app screen does.
        let empty = Ringing {
            alias: Some("<>&".into()),
            ..r
        };
        assert_eq!(caller_name(&empty), "00aa:11bb");
    }

    #[test]
    fn the_tap_feeds_ring_events_and_passes_everything_on() {
        struct Seen(std::sync::Mutex<Vec<String>>);
        impl Emit for Seen {
            fn emit(&self, name: &str, _payload: serde_json::Value) {
                if let Ok(mut v) = self.0.lock() {
                    v.push(name.to_string());
                }
            }
        }
        let seen = Arc::new(Seen(std::sync::Mutex::new(Vec::new())));
        let (notifier, mut rx) = Notifier::new();
        let tap = Tap {
            inner: seen.clone(),
            notifier,
        };
        tap.emit(
            INCOMING_CALL,
            serde_json::json!({"id": 4, "from": FP, "alias": null, "relay": "r:1"}),
        );
        tap.emit(
            INCOMING_ENDED,
            serde_json::json!({"id": 4, "outcome": "missed", "entry": null}),
        );
        tap.emit("call-event", serde_json::json!({}));
        tap.emit(INCOMING_CALL, serde_json::json!({"nonsense": true}));
        assert_eq!(
            rx.try_recv().ok(),
            Some(Input::Ringing(Ringing {
                id: 4,
                from: FP.into(),
                alias: None,
                contact: None
            }))
        );
        assert_eq!(rx.try_recv().ok(), Some(Input::Ended(4)));
        assert!(rx.try_recv().is_err(), "nothing else reaches the notifier");
        let names = seen.0.lock().map(|v| v.clone()).unwrap_or_default();
        assert_eq!(
            names,
            [INCOMING_CALL, INCOMING_ENDED, "call-event", INCOMING_CALL]
        );
    }
}
