//! The shell's call wiring end to end, without a window: the embedded relay ("host on
//! this computer"), a headless peer (a plain engine call, as `wzp call` runs), and the
//! app's call manager joining the same room, then hanging up. Checks what the UI relies
//! on: forwarded events (state, participant, verification), the pinned relay, and the
//! history entry written to disk.
#![allow(missing_docs)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use wzp_desktop::call::{CALL_ENDED, CALL_EVENT, Calls, Emit, Request};
use wzp_desktop::host::Host;
use wzp_desktop::store::{self, History};
use wzp_engine::{Call, CallConfig, CallTarget, MediaIo, RelayConfig};
use wzp_transport::{RelayFingerprint, Trust};

#[derive(Default)]
struct Recorder(Mutex<Vec<(String, serde_json::Value)>>);

impl Emit for Recorder {
    fn emit(&self, name: &str, payload: serde_json::Value) {
        if let Ok(mut v) = self.0.lock() {
            v.push((name.to_string(), payload));
        }
    }
}

impl Recorder {
    fn find(&self, f: impl Fn(&str, &serde_json::Value) -> bool) -> Option<serde_json::Value> {
        self.0
            .lock()
            .ok()?
            .iter()
            .find(|(n, p)| f(n, p))
            .map(|(_, p)| p.clone())
    }
}

async fn wait_for(
    rec: &Recorder,
    what: &str,
    f: impl Fn(&str, &serde_json::Value) -> bool,
) -> serde_json::Value {
    for _ in 0..300 {
        if let Some(v) = rec.find(&f) {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

fn tmp_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "wzp-desktop-flow-{}-{:?}",
        std::process::id(),
        std::time::SystemTime::now()
    ));
    assert!(std::fs::create_dir_all(&d).is_ok());
    d
}

fn silent() -> MediaIo {
    MediaIo {
        audio_in: Box::new(wzp_audio::ToneSource::new(440.0, 0.3)),
        audio_out: Box::new(wzp_audio::MemorySink::default()),
        video_in: None,
        video_out: Box::new(wzp_engine::NullVideoSink),
    }
}

/// The app reachable for direct calls: an embedded relay, the call manager, and an
/// `Incoming` listener registered on the relay (waited for) with a fresh identity.
struct Reachable {
    dir: std::path::PathBuf,
    host: Host,
    info: wzp_desktop::host::HostInfo,
    rec: Arc<Recorder>,
    history_path: std::path::PathBuf,
    calls: Arc<Calls>,
    incoming: wzp_desktop::incoming::Incoming,
    me: wzp_crypto::Identity,
    my_fp: wzp_proto::Fingerprint,
}

async fn reachable_app(ring: Duration, alias: Option<&str>) -> Reachable {
    use wzp_desktop::incoming::{Incoming, LISTENER_STATE, Target};

    let dir = tmp_dir();
    let host = Host::start("127.0.0.1:0", &dir.join("host-relay.key")).await;
    let Ok(host) = host else {
        panic!("embedded relay did not start: {:?}", host.err());
    };
    let info = host.info().clone();
    let rec = Arc::new(Recorder::default());
    let history_path = dir.join("history.json");
    let calls = Arc::new(Calls::new(
        rec.clone(),
        Box::new(|_| silent()),
        History::default(),
        history_path.clone(),
        dir.join("relays.json"),
    ));
    let incoming = Incoming::new(rec.clone(), calls.clone(), ring);
    let me = wzp_crypto::Identity::generate(&mut rand_core::OsRng);
    let my_fp = me.fingerprint();
    incoming.set_target(Some((
        Target {
            relay: info.local_address.clone(),
            relay_fingerprint: Some(info.fingerprint.clone()),
            alias: alias.map(str::to_string),
        },
        me.clone(),
    )));
    wait_for(&rec, "listening", |n, p| {
        n == LISTENER_STATE && p["state"] == "listening"
    })
    .await;
    Reachable {
        dir,
        host,
        info,
        rec,
        history_path,
        calls,
        incoming,
        me,
        my_fp,
    }
}

/// A headless peer dialling the app's fingerprint through its embedded relay.
fn dial_app(
    info: &wzp_desktop::host::HostInfo,
    to: wzp_proto::Fingerprint,
    alias: &str,
) -> (Call, wzp_engine::Events) {
    let Ok(fp) = RelayFingerprint::parse(&info.fingerprint) else {
        panic!("bad relay fingerprint");
    };
    let Ok(addr) = info.local_address.parse() else {
        panic!("bad address");
    };
    let rc = RelayConfig {
        addr,
        server_name: "localhost".into(),
        trust: Trust::Pinned(fp),
        token: None,
    };
    let mut cfg = CallConfig::new(rc, wzp_crypto::Identity::generate(&mut rand_core::OsRng));
    cfg.alias = Some(alias.into());
    match Call::start(cfg, CallTarget::Direct(to), silent()) {
        Ok(c) => c,
        Err(e) => panic!("peer call did not start: {e}"),
    }
}

/// Waits (at most 15 s) until the peer's stats show the one other participant muted (or not).
async fn peer_sees_app_muted(events: &mut wzp_engine::Events, want: bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(wzp_engine::Event::Stats(s)))
                if s.participants.len() == 1 && s.participants[0].muted == want =>
            {
                return;
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => panic!("the peer never saw the app with muted = {want}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_room_on_embedded_relay_then_hang_up_writes_history() {
    let dir = tmp_dir();
    let host = Host::start("127.0.0.1:0", &dir.join("host-relay.key")).await;
    let Ok(host) = host else {
        panic!("embedded relay did not start: {:?}", host.err());
    };
    let info = host.info().clone();
    assert!(info.local_address.starts_with("127.0.0.1:"));

    // The headless peer, pinned to the embedded relay.
    let Ok(fp) = RelayFingerprint::parse(&info.fingerprint) else {
        panic!("bad relay fingerprint {}", info.fingerprint);
    };
    let Ok(addr) = info.local_address.parse() else {
        panic!("bad address");
    };
    let rc = RelayConfig {
        addr,
        server_name: "localhost".into(),
        trust: Trust::Pinned(fp),
        token: None,
    };
    let peer_id = wzp_crypto::Identity::generate(&mut rand_core::OsRng);
    let peer_fp = peer_id.fingerprint().to_hex();
    let mut cfg = CallConfig::new(rc, peer_id);
    cfg.alias = Some("peer".into());
    let Ok((peer, mut peer_events)) = Call::start(cfg, CallTarget::Room("lobby".into()), silent())
    else {
        panic!("peer call did not start");
    };

    // The app side: trust on first use (no fingerprint given), so it pins the relay.
    let rec = Arc::new(Recorder::default());
    let history_path = dir.join("history.json");
    let pins_path = dir.join("relays.json");
    let calls = Calls::new(
        rec.clone(),
        Box::new(|_| silent()),
        History::default(),
        history_path.clone(),
        pins_path.clone(),
    );
    // Push-to-talk is on: the call starts muted until the UI says the key is held.
    calls.set_start_muted(true);
    // "Start calls with my camera off": no camera is opened (the factory opens none),
    // but the call offers video, so the camera button can open one.
    calls.set_start_camera_off(true);
    let me = wzp_crypto::Identity::generate(&mut rand_core::OsRng);
    let started = calls.start(
        me,
        Request {
            relay: info.local_address.clone(),
            relay_fingerprint: None,
            target: CallTarget::Room("lobby".into()),
            alias: Some("app".into()),
        },
    );
    let Ok(started) = started else {
        panic!("app call did not start: {:?}", started.err());
    };
    assert!(started.muted, "push-to-talk: the call starts muted");
    assert!(
        started.video && !started.camera,
        "started with the camera off: video offered, camera closed"
    );
    assert!(matches!(calls.current(), Ok(Some(n)) if n == started.call_no));
    // A second call is refused while one runs.
    let again = calls.start(
        wzp_crypto::Identity::generate(&mut rand_core::OsRng),
        Request {
            relay: info.local_address.clone(),
            relay_fingerprint: None,
            target: CallTarget::Room("other".into()),
            alias: None,
        },
    );
    assert!(matches!(again, Err(wzp_desktop::AppError::AlreadyInCall)));
    // The settings screen's device checks are refused while the call owns the devices
    // (asked before any device is opened, so this needs no sound server).
    let checks = wzp_desktop::devtest::DeviceTest::new(rec.clone());
    assert!(matches!(
        checks.start_mic(&calls, None).await,
        Err(wzp_desktop::AppError::DevicesInCall)
    ));
    assert!(matches!(
        checks.play_sound(&calls, None).await,
        Err(wzp_desktop::AppError::DevicesInCall)
    ));
    assert_eq!(checks.mic_test(), None);

    let is_event = |kind: &'static str| {
        move |n: &str, p: &serde_json::Value| n == CALL_EVENT && p["event"]["event"] == kind
    };
    wait_for(&rec, "active", |n, p| {
        n == CALL_EVENT && p["event"]["event"] == "state" && p["event"]["state"] == "active"
    })
    .await;
    let joined = wait_for(&rec, "the peer joined", is_event("participant_joined")).await;
    assert_eq!(joined["event"]["fingerprint"], peer_fp.as_str());
    assert_eq!(joined["event"]["alias"], "peer");
    let v = wait_for(&rec, "verification", is_event("verification")).await;
    assert_eq!(v["event"]["short_code"].as_str().map(str::len), Some(6));
    wait_for(&rec, "stats", is_event("stats")).await;
    assert!(calls.stats().await.is_ok());
    // The peer sees the app muted from the start, then open once the key is held.
    peer_sees_app_muted(&mut peer_events, true).await;
    assert!(calls.with_call(|c| c.mute(false)).is_ok());
    peer_sees_app_muted(&mut peer_events, false).await;
    assert!(calls.with_call(|c| c.mute(true)).is_ok());

    // The relay was trusted on first use: now it is pinned.
    let pinned = wzp_transport::PinStore::load(&pins_path)
        .and_then(|s| s.get(&info.local_address))
        .ok()
        .flatten()
        .map(|f| f.to_string());
    assert_eq!(pinned.as_deref(), Some(info.fingerprint.as_str()));

    assert!(calls.with_call(Call::hang_up).is_ok());
    let ended = wait_for(&rec, "call-ended", |n, _| n == CALL_ENDED).await;
    assert_eq!(ended["reason"]["reason"], "local_hangup");
    assert!(matches!(calls.current(), Ok(None)));
    assert!(matches!(
        calls.with_call(|c| c.mute(false)),
        Err(wzp_desktop::AppError::NotInCall)
    ));

    let (saved, bad) = match store::load_or_default::<History>(&history_path) {
        Ok(x) => x,
        Err(e) => panic!("history not readable: {e}"),
    };
    assert!(bad.is_none());
    assert_eq!(saved.entries.len(), 1);
    let e = &saved.entries[0];
    assert_eq!(e.target, "lobby");
    assert_eq!(e.end_reason, "local_hangup");
    assert!(
        e.participants
            .iter()
            .any(|p| p.fingerprint.replace(':', "") == peer_fp),
        "history lists the peer: {e:?}"
    );

    let _ = peer.hang_up();
    let _ = peer.wait().await;
    host.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A direct call to the app: the listener registers on the embedded relay, a headless
/// peer dials the app's fingerprint, the offer reaches the UI, accept runs the call
/// through the same manager (history "received"); then a second call is declined
/// (the caller hears "declined", history "missed"/"declined").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incoming_call_is_answered_then_one_is_declined() {
    use wzp_desktop::incoming::{INCOMING_CALL, INCOMING_ENDED, LISTENER_STATE};

    let Reachable {
        dir,
        host,
        info,
        rec,
        history_path,
        calls,
        incoming,
        me: _,
        my_fp,
    } = reachable_app(Duration::from_secs(20), Some("app")).await;
    let dial = |alias: &str| dial_app(&info, my_fp, alias);

    // 1: answered.
    let (peer, _pe) = dial("caller");
    let offer = wait_for(&rec, "the offer", |n, _| n == INCOMING_CALL).await;
    assert_eq!(offer["alias"], "caller");
    assert!(matches!(incoming.ringing(), Some(o) if o.alias.as_deref() == Some("caller")));
    let id = offer["id"].as_u64().unwrap_or_default();
    // A wrong id is refused without touching the ringing call.
    assert!(matches!(
        incoming.answer(id + 100, true).await,
        Err(wzp_desktop::AppError::CallGone)
    ));
    let started = incoming.answer(id, true).await;
    let Ok(Some(started)) = started else {
        panic!("accept failed: {started:?}");
    };
    wait_for(&rec, "active", |n, p| {
        n == CALL_EVENT
            && p["call_no"] == started.call_no
            && p["event"]["event"] == "state"
            && p["event"]["state"] == "active"
    })
    .await;
    let joined = wait_for(&rec, "the caller joined", |n, p| {
        n == CALL_EVENT && p["event"]["event"] == "participant_joined"
    })
    .await;
    assert_eq!(joined["event"]["alias"], "caller");
    assert!(calls.with_call(Call::hang_up).is_ok());
    let ended = wait_for(&rec, "call-ended", |n, _| n == CALL_ENDED).await;
    assert_eq!(ended["entry"]["direction"], "received");
    let _ = peer.wait().await;

    // The listener registers again after the call; a second caller is declined.
    let mut relisten = false;
    for _ in 0..200 {
        let n = rec
            .0
            .lock()
            .map(|v| {
                v.iter()
                    .filter(|(n, p)| n == LISTENER_STATE && p["state"] == "listening")
                    .count()
            })
            .unwrap_or(0);
        if n >= 2 {
            relisten = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        relisten,
        "the listener did not register again after the call"
    );
    let (peer2, _pe2) = dial("second");
    let offer2 = wait_for(&rec, "the second offer", |n, p| {
        n == INCOMING_CALL && p["alias"] == "second"
    })
    .await;
    let id2 = offer2["id"].as_u64().unwrap_or_default();
    assert!(matches!(incoming.answer(id2, false).await, Ok(None)));
    let gone = wait_for(&rec, "declined", |n, p| {
        n == INCOMING_ENDED && p["outcome"] == "declined"
    })
    .await;
    assert_eq!(gone["entry"]["direction"], "missed");
    let reason = peer2.wait().await;
    assert!(
        matches!(reason, wzp_engine::EndReason::Declined),
        "caller saw {reason:?}"
    );
    let (saved, _) = match store::load_or_default::<History>(&history_path) {
        Ok(x) => x,
        Err(e) => panic!("history not readable: {e}"),
    };
    let kinds: Vec<_> = saved
        .entries
        .iter()
        .map(|e| (format!("{:?}", e.direction), e.end_reason.clone()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("Missed".to_string(), "declined".to_string()),
            ("Received".to_string(), "local_hangup".to_string())
        ]
    );
    incoming.set_target(None);
    host.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// An offer nobody answers is missed after the ring time; an offer that arrives while
/// the app is in another call is answered "busy" at once (the caller sees busy, not
/// declined) and kept as missed ("busy").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unanswered_offer_is_missed_and_one_during_a_call_is_busy() {
    use wzp_desktop::incoming::{INCOMING_CALL, INCOMING_ENDED};

    // A short ring time, so "missed" comes quickly.
    let Reachable {
        dir,
        host,
        info,
        rec,
        history_path: _,
        calls,
        incoming,
        me,
        my_fp,
    } = reachable_app(Duration::from_secs(1), None).await;
    let dial = |alias: &str| dial_app(&info, my_fp, alias);

    let (caller, _e) = dial("nobody-answers");
    wait_for(&rec, "the offer", |n, p| {
        n == INCOMING_CALL && p["alias"] == "nobody-answers"
    })
    .await;
    let missed = wait_for(&rec, "missed", |n, p| {
        n == INCOMING_ENDED && p["outcome"] == "missed"
    })
    .await;
    assert_eq!(missed["entry"]["direction"], "missed");
    assert_eq!(missed["entry"]["end_reason"], "missed");
    assert!(incoming.ringing().is_none());
    let _ = caller.hang_up();
    let _ = caller.wait().await;

    // Busy: the app is in a room call when the next offer arrives.
    let started = calls.start(
        me,
        Request {
            relay: info.local_address.clone(),
            relay_fingerprint: Some(info.fingerprint.clone()),
            target: CallTarget::Room("elsewhere".into()),
            alias: None,
        },
    );
    assert!(started.is_ok(), "room call: {:?}", started.err());
    let (caller2, _e2) = dial("while-busy");
    let busy = wait_for(&rec, "busy", |n, p| {
        n == INCOMING_ENDED && p["outcome"] == "busy"
    })
    .await;
    assert_eq!(busy["entry"]["end_reason"], "busy");
    let reason = caller2.wait().await;
    assert!(
        matches!(reason, wzp_engine::EndReason::Busy),
        "caller saw {reason:?}"
    );
    assert!(
        rec.find(|n, p| n == INCOMING_CALL && p["alias"] == "while-busy")
            .is_none(),
        "no ringing while busy"
    );
    assert!(calls.with_call(Call::hang_up).is_ok());
    wait_for(&rec, "call-ended", |n, _| n == CALL_ENDED).await;
    incoming.set_target(None);
    host.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// The listener keeps trying while its relay is away (state "retrying", with the
/// error and the pause) and registers once the relay is up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listener_retries_until_the_relay_is_up() {
    use wzp_desktop::incoming::{Incoming, LISTENER_STATE, Target};

    let dir = tmp_dir();
    // A free UDP port, with nothing on it yet.
    let port = match std::net::UdpSocket::bind("127.0.0.1:0").and_then(|s| s.local_addr()) {
        Ok(a) => a.port(),
        Err(e) => panic!("no free port: {e}"),
    };
    let addr = format!("127.0.0.1:{port}");
    let rec = Arc::new(Recorder::default());
    let calls = Arc::new(Calls::new(
        rec.clone(),
        Box::new(|_| silent()),
        History::default(),
        dir.join("history.json"),
        dir.join("relays.json"),
    ));
    let incoming = Incoming::new(rec.clone(), calls, Duration::from_secs(5));
    // The key file is made now, so the fingerprint is known before the relay runs.
    let key = dir.join("host-relay.key");
    let first = Host::start("127.0.0.1:0", &key).await;
    let Ok(first) = first else {
        panic!("embedded relay did not start: {:?}", first.err());
    };
    let relay_fp = first.info().fingerprint.clone();
    first.stop().await;
    incoming.set_target(Some((
        Target {
            relay: addr.clone(),
            relay_fingerprint: Some(relay_fp),
            alias: None,
        },
        wzp_crypto::Identity::generate(&mut rand_core::OsRng),
    )));
    // A QUIC handshake to a silent port fails only at its timeout, so allow a minute.
    let mut retrying = None;
    for _ in 0..600 {
        retrying = rec.find(|n, p| n == LISTENER_STATE && p["state"] == "retrying");
        if retrying.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let Some(retrying) = retrying else {
        panic!("the listener never reported retrying");
    };
    assert!(
        rec.find(|n, p| n == LISTENER_STATE && p["state"] == "connecting")
            .is_some()
    );
    assert_eq!(retrying["relay"], addr.as_str());
    assert!(retrying["error"].as_str().is_some_and(|e| !e.is_empty()));
    assert!(retrying["retry_in_secs"].as_u64().is_some_and(|s| s >= 1));
    assert_eq!(
        incoming.status().state,
        wzp_desktop::incoming::ListenerState::Retrying
    );

    let host = Host::start(&addr, &key).await;
    let Ok(host) = host else {
        panic!("embedded relay did not start on {addr}: {:?}", host.err());
    };
    wait_for(&rec, "listening after the relay came up", |n, p| {
        n == LISTENER_STATE && p["state"] == "listening"
    })
    .await;
    incoming.set_target(None);
    assert_eq!(
        incoming.status().state,
        wzp_desktop::incoming::ListenerState::Off
    );
    host.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A caller who hangs up while the app rings stops the ringing at once (long before the
/// ring time), and the offer is kept as missed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_who_gives_up_stops_the_ringing() {
    use wzp_desktop::incoming::{INCOMING_CALL, INCOMING_ENDED};

    let Reachable {
        dir,
        host,
        info,
        rec,
        history_path: _,
        calls: _,
        incoming,
        me: _,
        my_fp,
    } = reachable_app(Duration::from_secs(60), None).await;
    let (caller, _e) = dial_app(&info, my_fp, "gives-up");
    wait_for(&rec, "the offer", |n, p| {
        n == INCOMING_CALL && p["alias"] == "gives-up"
    })
    .await;
    assert!(incoming.ringing().is_some());
    let hung_up_at = std::time::Instant::now();
    assert!(caller.hang_up().is_ok());
    let over = wait_for(&rec, "the offer withdrawn", |n, p| {
        n == INCOMING_ENDED && p["outcome"] == "missed"
    })
    .await;
    assert!(
        hung_up_at.elapsed() < Duration::from_secs(10),
        "ringing went on for {:?}",
        hung_up_at.elapsed()
    );
    assert_eq!(over["entry"]["direction"], "missed");
    assert!(incoming.ringing().is_none());
    caller.wait().await;
    incoming.set_target(None);
    host.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
