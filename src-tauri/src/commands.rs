//! The commands the UI invokes. Each one is thin: check input, call one function, map
//! the result. Names and argument names are the UI's contract (ui/src/api.ts).

use serde::Serialize;
use tauri::{Emitter as _, State};
use wzp_engine::CallTarget;
use zeroize::Zeroizing;

use crate::AppState;
use crate::call::{self, CallInfo, Request};
use crate::error::{AppError, Result};
use crate::host::{Host, HostInfo};
use crate::identity::{Identities, IdentityInfo, StorageInfo};
use crate::incoming::{ListenerStatus, Offer};
use crate::relays::{self, PingResult, RelayView};
use crate::store::{self, Contact, Contacts, CorruptFile, History, Settings};

/// Everything the UI needs to draw its first screen.
#[derive(Debug, Serialize)]
pub struct AppStatus {
    /// The identity, or `None` on first run.
    pub identity: Option<IdentityInfo>,
    /// When the identity could not be read: why (no secret store: the UI offers the
    /// passphrase file instead of an identity that could not be kept; locked: it asks
    /// for the passphrase).
    pub identity_error: Option<AppError>,
    /// Where the identity is kept (secret store or passphrase file) and whether it is
    /// locked.
    pub storage: StorageInfo,
    /// Preferences.
    pub settings: Settings,
    /// Past calls, newest first.
    pub history: History,
    /// Files that were corrupt at start-up and were moved aside.
    pub notices: Vec<CorruptFile>,
    /// The running call's number, if one runs (the UI reloaded mid-call).
    pub call_no: Option<u64>,
    /// The embedded relay, when hosting.
    pub host: Option<HostInfo>,
    /// The app data folder.
    pub data_dir: String,
    /// Whether direct calls can reach us, and through which relay.
    pub listener: ListenerStatus,
    /// A call ringing now (the UI reloaded while it rang).
    pub incoming: Option<Offer>,
    /// Saved contacts, by name.
    pub contacts: Contacts,
    /// A `wzp://` link opened since the UI last asked (handed over once).
    pub link: Option<crate::links::Opened>,
}

/// The state for the first screen.
#[tauri::command]
pub async fn app_status(state: State<'_, AppState>) -> Result<AppStatus> {
    let (identity, identity_error) = match state.identities.info() {
        Ok(i) => (i, None),
        Err(e) => (None, Some(e)),
    };
    let settings = lock_settings(&state)?.clone();
    let status = AppStatus {
        identity,
        identity_error,
        storage: state.identities.storage()?,
        settings,
        history: state.calls.history()?,
        notices: state.notices.clone(),
        call_no: state.calls.current()?,
        host: state.host.lock().await.as_ref().map(|h| h.info().clone()),
        data_dir: state.data_dir.display().to_string(),
        listener: state.incoming.status(),
        incoming: state.incoming.ringing(),
        contacts: lock_contacts(&state)?.clone(),
        link: state.pending_link.lock().ok().and_then(|mut l| l.take()),
    };
    /// Logs once, when the UI's first command (sent when its page has loaded) is answered:
    /// the UI then draws its first screen. That line ends "cold start to interactive" as
    /// scripts/measure-app.sh measures it (process start -> this line).
    static FIRST: std::sync::Once = std::sync::Once::new();
    FIRST.call_once(|| tracing::info!("first app_status answered"));
    Ok(status)
}

/// Makes a new identity (not stored yet) and returns its 24 words.
#[tauri::command]
pub fn identity_begin_create(state: State<'_, AppState>) -> Result<Vec<String>> {
    state.identities.begin_create()
}

/// Stores the new identity once the user has confirmed its words.
#[tauri::command]
pub async fn identity_confirm_create(
    state: State<'_, AppState>,
    words: Vec<String>,
) -> Result<IdentityInfo> {
    confirm_create(&state, words).await
}

/// Restores an identity from its 24 words.
#[tauri::command]
pub async fn identity_restore(state: State<'_, AppState>, phrase: String) -> Result<IdentityInfo> {
    restore(&state, Zeroizing::new(phrase)).await
}

/// Keeps the identity in a passphrase-sealed file from now on (no OS secret store here,
/// or the passphrase of an existing file is forgotten): the next create or restore writes
/// it. The passphrase must have at least `storage.min_passphrase_chars` characters.
#[tauri::command]
pub fn identity_use_passphrase_file(
    state: State<'_, AppState>,
    passphrase: String,
) -> Result<StorageInfo> {
    state
        .identities
        .use_passphrase_file(Zeroizing::new(passphrase))
}

/// Opens the passphrase file; then calls can be received.
#[tauri::command]
pub async fn identity_unlock(
    state: State<'_, AppState>,
    passphrase: String,
) -> Result<IdentityInfo> {
    unlock(&state, Zeroizing::new(passphrase)).await
}

/// Seals the passphrase file under a new passphrase once the current one opens it.
#[tauri::command]
pub async fn identity_change_passphrase(
    state: State<'_, AppState>,
    current: String,
    passphrase: String,
) -> Result<StorageInfo> {
    let (current, new) = (Zeroizing::new(current), Zeroizing::new(passphrase));
    blocking(&state, move |ids| ids.change_passphrase(&current, new)).await
}

/// Moves the identity from the system's secret store into a passphrase-sealed file.
#[tauri::command]
pub async fn identity_move_to_file(
    state: State<'_, AppState>,
    passphrase: String,
) -> Result<StorageInfo> {
    let passphrase = Zeroizing::new(passphrase);
    blocking(&state, move |ids| ids.move_to_file(passphrase)).await
}

/// Moves the identity from the passphrase file into the system's secret store, once the
/// passphrase opens the file.
#[tauri::command]
pub async fn identity_move_to_secret_store(
    state: State<'_, AppState>,
    passphrase: String,
) -> Result<StorageInfo> {
    let passphrase = Zeroizing::new(passphrase);
    blocking(&state, move |ids| ids.move_to_secret_store(&passphrase)).await
}

// The identity commands' bodies, callable without a window (tests/identity_flow.rs).

/// [`identity_confirm_create`]: stores the seed (Argon2 over the passphrase file, off the
/// async threads), then starts listening for calls.
pub async fn confirm_create(state: &AppState, words: Vec<String>) -> Result<IdentityInfo> {
    let words = Zeroizing::new(words);
    let info = blocking(state, move |ids| ids.confirm_create(&words)).await?;
    refresh_listener(state).await;
    Ok(info)
}

/// [`identity_restore`]: stores the seed the words encode, then starts listening.
pub async fn restore(state: &AppState, phrase: Zeroizing<String>) -> Result<IdentityInfo> {
    let info = blocking(state, move |ids| ids.restore(&phrase)).await?;
    refresh_listener(state).await;
    Ok(info)
}

/// [`identity_unlock`]: opens the passphrase file, then starts listening.
pub async fn unlock(state: &AppState, passphrase: Zeroizing<String>) -> Result<IdentityInfo> {
    let info = blocking(state, move |ids| ids.unlock(&passphrase)).await?;
    refresh_listener(state).await;
    Ok(info)
}

/// Runs an identity operation that may be slow (Argon2 for the passphrase file, dbus for
/// the secret store) on tokio's blocking pool, so the async runtime and the UI that waits
/// on it keep running.
async fn blocking<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&Identities) -> Result<T> + Send + 'static,
) -> Result<T> {
    let ids = state.identities.clone();
    tokio::task::spawn_blocking(move || f(&ids))
        .await
        .map_err(|e| AppError::Internal(format!("identity task: {e}")))?
}

/// The stored identity's 24 words, for a backup.
#[tauri::command]
pub fn identity_words(state: State<'_, AppState>) -> Result<Vec<String>> {
    state.identities.words()
}

/// Replaces the preferences (all but the relay list, which the relay commands keep) and
/// writes them.
#[tauri::command]
pub async fn save_settings(state: State<'_, AppState>, settings: Settings) -> Result<()> {
    if let Some(a) = &settings.alias {
        if a.chars().count() > 64 {
            return Err(AppError::invalid("name", "at most 64 characters"));
        }
    }
    if let Some(k) = &settings.push_to_talk {
        if k.is_empty() || k.len() > 32 || !k.chars().all(|c| c.is_ascii_graphic()) {
            return Err(AppError::invalid(
                "push-to-talk key",
                "press a key to choose it, or turn push-to-talk off",
            ));
        }
    }
    if let Some(r) = settings.receive_relay.as_deref().map(str::trim) {
        if !r.is_empty() {
            call::resolve(r)?;
        }
    }
    // The relay list is the relay commands' (and calls') to change: a UI copy of the
    // settings read before a relay was added must not drop it.
    let mut settings = settings;
    settings.relays = lock_settings(&state)?.relays.clone();
    store::save(&state.paths.settings, &settings)?;
    state.calls.set_voice(settings.voice.config())?;
    state
        .notifier
        .send(crate::notify::Input::Enabled(settings.call_notifications));
    state.calls.set_start_muted(settings.push_to_talk.is_some());
    state
        .calls
        .set_start_camera_off(settings.camera_off_at_start);
    if let Ok(mut d) = state.devices.lock() {
        d.input = settings.audio_input.clone();
        d.output = settings.audio_output.clone();
        d.camera = settings.camera.clone();
    }
    *lock_settings(&state)? = settings;
    refresh_listener(&state).await;
    Ok(())
}

/// Watches the push-to-talk key system-wide while a call runs (`key`), or stops
/// watching (`None`). Each press and release comes to the UI as
/// [`crate::globalkey::PTT_EVENT`] (`true`: held), and the UI decides about the
/// microphone as for the window's own key events. Watching replaces any earlier watch.
#[tauri::command]
pub fn ptt_watch(
    app: tauri::AppHandle,
    state: State<'_, AppState>,
    key: Option<String>,
) -> Result<()> {
    let mut slot = state
        .ptt_watch
        .lock()
        .map_err(|_| AppError::Internal("push-to-talk watch lock poisoned".into()))?;
    // The old watch (its thread joined) goes first, so two never report at once.
    *slot = None;
    let Some(key) = key else { return Ok(()) };
    let watch = crate::globalkey::KeyWatch::start(&key, move |held| {
        if let Err(e) = app.emit(crate::globalkey::PTT_EVENT, held) {
            tracing::warn!(error = %e, "cannot send the push-to-talk key to the UI");
        }
    })?;
    *slot = Some(watch);
    Ok(())
}

/// A sound device, as the settings screen lists it.
#[derive(Debug, Serialize)]
pub struct Device {
    /// Id to store.
    pub id: String,
    /// Name to show.
    pub name: String,
    /// "input" or "output".
    pub direction: &'static str,
    /// The system default.
    pub is_default: bool,
}

/// Microphones and speakers.
#[tauri::command]
pub fn list_audio_devices() -> Result<Vec<Device>> {
    let list = wzp_audio::list_devices().map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(list
        .into_iter()
        .map(|d| Device {
            id: d.id,
            name: d.name,
            direction: match d.direction {
                wzp_audio::Direction::Input => "input",
                wzp_audio::Direction::Output => "output",
            },
            is_default: d.is_default,
        })
        .collect())
}

/// Joins (or creates) a room on a relay.
#[tauri::command]
pub async fn join_room(
    state: State<'_, AppState>,
    relay: String,
    relay_fingerprint: Option<String>,
    room: String,
) -> Result<CallInfo> {
    let room = room.trim().to_string();
    if room.is_empty() {
        return Err(AppError::invalid("room", "enter a room name"));
    }
    if room.len() > 128 {
        return Err(AppError::invalid("room", "at most 128 characters"));
    }
    let info = start(
        &state,
        relay,
        relay_fingerprint,
        CallTarget::Room(room.clone()),
        Some(room),
    )?;
    refresh_listener(&state).await;
    Ok(info)
}

/// Calls someone by their identity fingerprint (they must be online at the relay).
#[tauri::command]
pub async fn call_fingerprint(
    state: State<'_, AppState>,
    relay: String,
    relay_fingerprint: Option<String>,
    fingerprint: String,
) -> Result<CallInfo> {
    let fp = call::parse_fingerprint(&fingerprint)?;
    let info = start(
        &state,
        relay,
        relay_fingerprint,
        CallTarget::Direct(fp),
        None,
    )?;
    refresh_listener(&state).await;
    Ok(info)
}

/// Answers the ringing call `id`: accept starts it (the call's info is returned),
/// decline refuses it (`None`).
#[tauri::command]
pub async fn answer_call(
    state: State<'_, AppState>,
    id: u64,
    accept: bool,
) -> Result<Option<CallInfo>> {
    state.incoming.answer(id, accept).await
}

/// Points the incoming-call listener at the relay the settings choose (after the
/// identity, the settings, hosting or the last used relay changed). Without an
/// identity, or with nothing to listen on, it stops.
pub async fn refresh_listener(state: &AppState) {
    let identity = match state.identities.require() {
        Ok(i) => i,
        Err(_) => {
            state.incoming.set_target(None);
            return;
        }
    };
    let host = state.host.lock().await.as_ref().map(|h| h.info().clone());
    let target = match state.settings.lock() {
        Ok(s) => crate::incoming::choose_target(&s, host.as_ref()),
        Err(_) => return,
    };
    state.incoming.set_target(target.map(|t| (t, identity)));
}

fn start(
    state: &AppState,
    relay: String,
    relay_fingerprint: Option<String>,
    target: CallTarget,
    room: Option<String>,
) -> Result<CallInfo> {
    let identity = state.identities.require()?;
    let relay = relay.trim().to_string();
    let alias = lock_settings(state)?.alias.clone();
    let info = state.calls.start(
        identity,
        Request {
            relay: relay.clone(),
            relay_fingerprint: relay_fingerprint.clone(),
            target,
            alias,
        },
    )?;
    // Remember the relay and room for next time; a failure here must not stop the call.
    let mut s = lock_settings(state)?;
    s.remember_relay(&relay, relay_fingerprint.filter(|f| !f.trim().is_empty()));
    if room.is_some() {
        s.last_room = room;
    }
    if let Err(e) = store::save(&state.paths.settings, &*s) {
        tracing::warn!(error = %e, "cannot save settings");
    }
    Ok(info)
}

/// Ends the running call.
#[tauri::command]
pub fn hang_up(state: State<'_, AppState>) -> Result<()> {
    state.calls.with_call(wzp_engine::Call::hang_up)
}

/// Mutes or unmutes the microphone.
#[tauri::command]
pub fn mute(state: State<'_, AppState>, on: bool) -> Result<()> {
    state.calls.with_call(|c| c.mute(on))
}

/// Switches the running call's microphone (`direction: "input"`) or speaker
/// (`"output"`) to device `id` (`None`: the system default). The device is opened
/// first: if that fails the call keeps its current device and the error (kind
/// `device`) says why. Applies to this call only; the settings choose the next one.
#[tauri::command]
pub async fn set_audio_device(
    state: State<'_, AppState>,
    direction: String,
    id: Option<String>,
) -> Result<()> {
    if state.calls.current()?.is_none() {
        return Err(AppError::NotInCall);
    }
    let id = id.filter(|s| !s.trim().is_empty());
    let shown = id.clone().unwrap_or_else(|| "default".into());
    let started = std::time::Instant::now();
    // Opening blocks and has been seen to take many seconds (device enumeration, a busy
    // sound server): the answer comes within OPEN_WAIT either way, and a device that
    // opens later is dropped instead of replacing the current one.
    const OPEN_WAIT: std::time::Duration = std::time::Duration::from_secs(8);
    tracing::debug!(%direction, device = %shown, "opening a device for the call");
    let slow = |what: &str| {
        tracing::warn!(device = %shown, "{what} did not open within 8 s");
        AppError::Device(format!("{what}: did not open within 8 s"))
    };
    let joined = |e: tokio::task::JoinError| AppError::Internal(format!("device open: {e}"));
    match direction.as_str() {
        "input" => {
            let open = tokio::task::spawn_blocking(move || crate::media::open_input(id.as_deref()));
            let dev = tokio::time::timeout(OPEN_WAIT, open)
                .await
                .map_err(|_| slow("microphone"))?
                .map_err(joined)??;
            state
                .calls
                .with_call(|c| c.command(wzp_engine::Command::SetAudioInput(dev)))?;
        }
        "output" => {
            let open =
                tokio::task::spawn_blocking(move || crate::media::open_output(id.as_deref()));
            let dev = tokio::time::timeout(OPEN_WAIT, open)
                .await
                .map_err(|_| slow("speaker"))?
                .map_err(joined)??;
            state
                .calls
                .with_call(|c| c.command(wzp_engine::Command::SetAudioOutput(dev)))?;
        }
        _ => return Err(AppError::invalid("direction", "input or output")),
    }
    let took_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    tracing::info!(%direction, device = %shown, took_ms, "audio device switched in the call");
    Ok(())
}

/// Starts the settings screen's microphone test on device `id` (`None`: the system
/// default), replacing one that runs; levels arrive as `mic-level` events carrying the
/// returned test number. Refused while a call runs (kind `devices_in_call`).
#[tauri::command]
pub async fn mic_test_start(state: State<'_, AppState>, id: Option<String>) -> Result<u64> {
    let id = id.filter(|s| !s.trim().is_empty());
    state.devtest.start_mic(&state.calls, id).await
}

/// Stops the microphone test (nothing happens when none runs).
#[tauri::command]
pub fn mic_test_stop(state: State<'_, AppState>) -> Result<()> {
    state.devtest.stop_mic();
    Ok(())
}

/// Plays the test sound on speaker `id` (`None`: the system default); answers once it
/// has played. Refused while a call runs (kind `devices_in_call`).
#[tauri::command]
pub async fn play_test_sound(state: State<'_, AppState>, id: Option<String>) -> Result<()> {
    let id = id.filter(|s| !s.trim().is_empty());
    state.devtest.play_sound(&state.calls, id).await
}

/// The cameras on this computer (none: an empty list).
#[tauri::command]
pub async fn list_cameras() -> Result<Vec<crate::media::Camera>> {
    tokio::task::spawn_blocking(crate::media::list_cameras)
        .await
        .map_err(|e| AppError::Internal(format!("cameras: {e}")))?
}

/// Shows camera `id` (`None`: the first one) in the video view as our own tile, for the
/// settings screen's preview. Returns the preview's number. Refused while a call runs;
/// `no_camera` when there is none; `camera` when it cannot be opened.
#[tauri::command]
pub async fn camera_preview_start(state: State<'_, AppState>, id: Option<String>) -> Result<u64> {
    let sink = state
        .video
        .get()
        .filter(|v| v.unavailable().is_none())
        .map(|v| Box::new(v.self_sink()) as Box<dyn wzp_engine::VideoSink>)
        .ok_or_else(|| AppError::Camera("video cannot be shown in this window".into()))?;
    let id = id.filter(|s| !s.trim().is_empty());
    state.preview.start(&state.calls, sink, id).await
}

/// Opens camera `id` (`None`: the first one) for the running call, off the async
/// runtime and within 8 s; refused when no call runs.
async fn open_call_camera(
    state: &AppState,
    id: Option<String>,
) -> Result<Box<dyn wzp_video::FrameSource + Send>> {
    if state.calls.current()?.is_none() {
        return Err(AppError::NotInCall);
    }
    crate::devtest::blocking("camera", std::time::Duration::from_secs(8), move || {
        crate::media::open_video(id.as_deref())
    })
    .await?
    .ok_or(AppError::NoCamera)
}

/// Switches the running call's camera to `id` (`None`: the first one). The camera is
/// opened first: if that fails the call keeps its camera and the error says why.
#[tauri::command]
pub async fn set_camera(state: State<'_, AppState>, id: Option<String>) -> Result<()> {
    let id = id.filter(|s| !s.trim().is_empty());
    let shown = id.clone().unwrap_or_else(|| "first".into());
    let source = open_call_camera(&state, id).await?;
    state
        .calls
        .with_call(|c| c.command(wzp_engine::Command::SetVideoInput(Some(source))))?;
    tracing::info!(camera = %shown, "camera switched in the call");
    Ok(())
}

/// Stops the camera preview (nothing happens if none runs).
#[tauri::command]
pub fn camera_preview_stop(state: State<'_, AppState>) -> Result<()> {
    state.preview.stop();
    Ok(())
}

/// What the tray icon shows: the UI's words (once) and the call and mute state.
#[tauri::command]
pub fn tray_set(
    state: State<'_, AppState>,
    labels: Option<crate::tray::TrayLabels>,
    in_call: bool,
    muted: bool,
) -> Result<()> {
    match state.tray.get() {
        Some(t) => t.set(labels, in_call, muted),
        None => Ok(()),
    }
}

/// The words of the incoming-call notification (from the UI's strings).
#[tauri::command]
pub fn notify_labels(state: State<'_, AppState>, labels: crate::notify::Labels) {
    state.notifier.send(crate::notify::Input::Labels(labels));
}

/// Turns outgoing video on or off. Off closes the camera itself, so its light goes out
/// (not only the stream); on opens the chosen camera again (or for the first time, in a
/// call started with the camera off) before sending resumes: if that fails the camera
/// stays off and the error says why.
/// `id` is the camera the call uses (the one picked in the call, if any); `None` is the
/// settings' choice.
#[tauri::command]
pub async fn camera(state: State<'_, AppState>, on: bool, id: Option<String>) -> Result<()> {
    if !on {
        return state.calls.with_call(|c| {
            c.camera(false)?;
            c.command(wzp_engine::Command::SetVideoInput(None))
        });
    }
    let id = match id.filter(|s| !s.trim().is_empty()) {
        Some(id) => Some(id),
        None => state
            .devices
            .lock()
            .map_err(|_| AppError::Internal("device choice lock poisoned".into()))?
            .camera
            .clone(),
    };
    let source = open_call_camera(&state, id).await?;
    state.calls.with_call(|c| {
        c.command(wzp_engine::Command::SetVideoInput(Some(source)))?;
        c.camera(true)
    })
}

/// A stats snapshot of the running call.
#[tauri::command]
pub async fn stats(state: State<'_, AppState>) -> Result<wzp_engine::CallStats> {
    state.calls.stats().await
}

/// Starts the embedded relay (or returns the running one).
#[tauri::command]
pub async fn host_start(state: State<'_, AppState>) -> Result<HostInfo> {
    let mut host = state.host.lock().await;
    if let Some(h) = host.as_ref() {
        return Ok(h.info().clone());
    }
    let listen = std::env::var("WZP_HOST_LISTEN").unwrap_or_else(|_| "0.0.0.0:0".into());
    let h = Host::start(&listen, &state.data_dir.join("host-relay.key")).await?;
    let info = h.info().clone();
    *host = Some(h);
    drop(host);
    refresh_listener(&state).await;
    Ok(info)
}

/// Stops the embedded relay.
#[tauri::command]
pub async fn host_stop(state: State<'_, AppState>) -> Result<()> {
    let stopped = state.host.lock().await.take();
    if let Some(h) = stopped {
        h.stop().await;
    }
    refresh_listener(&state).await;
    Ok(())
}

/// Empties the call history.
#[tauri::command]
pub fn clear_history(state: State<'_, AppState>) -> Result<()> {
    state.calls.clear_history()
}

/// Saves a contact (or renames one), optionally setting its verified mark. The
/// fingerprint is checked with the protocol's parser, so a typo is refused here.
#[tauri::command]
pub fn add_contact(
    state: State<'_, AppState>,
    name: String,
    fingerprint: String,
    verified: Option<bool>,
) -> Result<Contact> {
    let fp = call::parse_fingerprint(&fingerprint)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    update_contacts(&state, |c| c.upsert(&name, &fp, verified, now))
}

/// Marks a contact as verified (the user compared safety numbers) or not.
#[tauri::command]
pub fn set_contact_verified(
    state: State<'_, AppState>,
    fingerprint: String,
    verified: bool,
) -> Result<Contact> {
    let fp = call::parse_fingerprint(&fingerprint)?;
    update_contacts(&state, |c| c.set_verified(&fp, verified))
}

/// Removes a contact (nothing happens if it is not there).
#[tauri::command]
pub fn remove_contact(state: State<'_, AppState>, fingerprint: String) -> Result<()> {
    let fp = call::parse_fingerprint(&fingerprint)?;
    update_contacts(&state, |c| Ok(c.remove(&fp))).map(|_| ())
}

/// The relay list, each with the key it is pinned to.
#[tauri::command]
pub fn relay_list(state: State<'_, AppState>) -> Result<Vec<RelayView>> {
    let pins = load_pins(&state)?;
    Ok(relays::list(&*lock_settings(&state)?, &pins))
}

/// Adds a relay to the list (or updates the one at that address), with the key its
/// operator gave if the user has it.
#[tauri::command]
pub fn relay_add(
    state: State<'_, AppState>,
    name: String,
    address: String,
    fingerprint: Option<String>,
) -> Result<Vec<RelayView>> {
    update_relays(&state, |s, _| {
        relays::add(s, &name, &address, fingerprint.as_deref())
    })
}

/// Removes a relay and forgets its pinned key.
#[tauri::command]
pub async fn relay_remove(state: State<'_, AppState>, address: String) -> Result<Vec<RelayView>> {
    let out = update_relays(&state, |s, pins| relays::remove(s, pins, &address))?;
    refresh_listener(&state).await;
    Ok(out)
}

/// Accepts a relay's new key after a key change (the user checked it with the
/// relay's operator).
#[tauri::command]
pub async fn relay_trust(
    state: State<'_, AppState>,
    address: String,
    fingerprint: String,
) -> Result<Vec<RelayView>> {
    let out = update_relays(&state, |s, pins| {
        relays::trust(s, pins, &address, &fingerprint)
    })?;
    refresh_listener(&state).await;
    Ok(out)
}

/// Connects to a relay and pings it: round trip, the key it presents, a changed key.
#[tauri::command]
pub async fn relay_ping(state: State<'_, AppState>, address: String) -> Result<PingResult> {
    let address = address.trim().to_string();
    let mut pins = load_pins(&state)?;
    let typed = lock_settings(&state)?
        .relays
        .iter()
        .find(|r| r.address == address)
        .and_then(|r| r.fingerprint.clone());
    let trust = relays::trust_for(typed.as_deref(), &pins, &address)?;
    relays::ping(&address, trust, &mut pins).await
}

fn load_pins(state: &AppState) -> Result<wzp_transport::PinStore> {
    wzp_transport::PinStore::load(&state.paths.pins).map_err(|e| AppError::Storage {
        path: state.paths.pins.display().to_string(),
        detail: e.to_string(),
    })
}

/// Applies a change to a copy of the settings' relay list and the pin store, writes
/// the settings, and only then keeps the change.
fn update_relays(
    state: &AppState,
    f: impl FnOnce(&mut Settings, &mut wzp_transport::PinStore) -> Result<()>,
) -> Result<Vec<RelayView>> {
    let mut pins = load_pins(state)?;
    let mut settings = lock_settings(state)?;
    let mut next = settings.clone();
    f(&mut next, &mut pins)?;
    store::save(&state.paths.settings, &next)?;
    *settings = next;
    Ok(relays::list(&settings, &pins))
}

/// Applies a change to a copy of the contacts, writes the file, and only then keeps
/// the change (so memory and disk never disagree after a failed write).
fn update_contacts<T>(state: &AppState, f: impl FnOnce(&mut Contacts) -> Result<T>) -> Result<T> {
    let mut contacts = lock_contacts(state)?;
    let mut next = contacts.clone();
    let out = f(&mut next)?;
    store::save(&state.paths.contacts, &next)?;
    *contacts = next;
    Ok(out)
}

fn lock_contacts(state: &AppState) -> Result<std::sync::MutexGuard<'_, Contacts>> {
    state
        .contacts
        .lock()
        .map_err(|_| AppError::Internal("contacts lock poisoned".into()))
}

fn lock_settings(state: &AppState) -> Result<std::sync::MutexGuard<'_, Settings>> {
    state
        .settings
        .lock()
        .map_err(|_| AppError::Internal("settings lock poisoned".into()))
}

/// Where the UI's video area and tiles are (CSS pixels, window coordinates), or
/// `area: None` to hide the video. The native view follows on the main thread.
#[tauri::command]
pub fn video_layout(
    window: tauri::WebviewWindow,
    state: State<'_, AppState>,
    area: Option<crate::video::UiRect>,
    tiles: Vec<crate::video::UiTile>,
) -> Result<()> {
    let Some(view) = state.video.get() else {
        return Ok(());
    };
    let scale = window.scale_factor().unwrap_or(1.0);
    let layout = area.and_then(|a| crate::video::layout_from_ui(a, &tiles, scale));
    view.set_layout(layout);
    Ok(())
}
