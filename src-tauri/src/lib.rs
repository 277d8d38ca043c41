//! WZP Desktop's Tauri shell: typed commands and events between the web UI (`ui/`) and
//! the call engine (`wzp-engine`), plus what only the shell can do (the OS secret store,
//! the app data folder, the embedded relay).
//!
//! No call logic lives here. Each command validates what the user typed, calls one
//! engine or store function, and returns its result or an [`AppError`] (sent to the UI
//! as `{ kind, message }`). Engine events are forwarded as they come (see [`call`]).
//!
//! Files in the app data folder (`WZP_DATA_DIR` overrides it): `settings.json`,
//! `history.json`, `contacts.json`, `relays.json` (relay pins), `host-relay.key` (the
//! embedded relay's TLS key), and `identity.sealed` only if the user chose to keep the
//! identity in a passphrase-sealed file (no OS secret store on this computer; see
//! [`identity`]). Otherwise the identity seed is only in the OS secret store.

pub mod call;
pub mod commands;
pub mod devtest;
pub mod error;
pub mod globalkey;
pub mod host;
pub mod identity;
pub mod incoming;
pub mod links;
pub mod logfile;
pub mod media;
pub mod notify;
pub mod preview;
pub mod relays;
pub mod sealed;
pub mod solo;
pub mod store;
pub mod tray;
pub mod video;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tauri::{Emitter as _, Manager as _};

pub use error::{AppError, Result};

/// Everything the commands share.
pub struct AppState {
    /// File locations.
    pub paths: store::Paths,
    /// The app data folder.
    pub data_dir: PathBuf,
    /// The identity (secret store or passphrase file). An `Arc` so the slow calls (Argon2)
    /// run on a blocking thread.
    pub identities: Arc<identity::Identities>,
    /// Preferences (the file is rewritten on every change).
    pub settings: Mutex<store::Settings>,
    /// Saved contacts (the file is rewritten on every change).
    pub contacts: Mutex<store::Contacts>,
    /// The running call and the history.
    pub calls: Arc<call::Calls>,
    /// Being reachable for direct calls (the listener and the ringing offer).
    pub incoming: incoming::Incoming,
    /// The embedded relay, when hosting.
    pub host: tokio::sync::Mutex<Option<host::Host>>,
    /// Files that did not parse at start-up (moved aside), for the UI to report.
    pub notices: Vec<store::CorruptFile>,
    /// Devices the next call opens.
    pub devices: Arc<Mutex<media::DeviceChoice>>,
    /// The native video view, once the main window exists (none in headless tests).
    pub video: Arc<std::sync::OnceLock<video::VideoView>>,
    /// The tray icon, where the desktop has a tray.
    pub tray: std::sync::OnceLock<tray::Tray>,
    /// The last `wzp://` link opened, until the UI has read it.
    pub pending_link: Mutex<Option<links::Opened>>,
    /// The settings screen's microphone meter and test sound.
    pub devtest: Arc<devtest::DeviceTest>,
    /// The incoming-call notification (fed by the listener's events through
    /// [`notify::Tap`]; its shell runs only in the app).
    pub notifier: notify::Notifier,
    /// The settings screen's camera preview.
    pub preview: Arc<preview::CameraPreview>,
    /// The push-to-talk key read system-wide during a call, when the user asked for it.
    pub ptt_watch: Mutex<Option<globalkey::KeyWatch>>,
}

/// Sends events to the app's windows.
struct TauriEmit(tauri::AppHandle);

impl call::Emit for TauriEmit {
    fn emit(&self, name: &str, payload: serde_json::Value) {
        if let Err(e) = self.0.emit(name, payload) {
            tracing::warn!(error = %e, event = name, "cannot send an event to the UI");
        }
    }
}

/// The notification's actions: answers go to the UI (the same code as its buttons), the
/// window comes to the front, contacts come from the app's list.
struct NotifySink(tauri::AppHandle);

impl notify::Sink for NotifySink {
    fn answer(&self, id: u64, accept: bool) {
        let ev = notify::ActionEvent {
            id,
            action: if accept { "accept" } else { "decline" },
        };
        if let Err(e) = self.0.emit(notify::NOTIFICATION_ACTION, ev) {
            tracing::warn!(error = %e, "cannot send a notification action to the UI");
        }
    }

    fn raise(&self) {
        if let Some(w) = self.0.get_webview_window("main") {
            let _ = w.unminimize();
            let _ = w.show();
            match w.set_focus() {
                Ok(()) => tracing::info!("window brought to the front"),
                Err(e) => tracing::warn!(error = %e, "cannot bring the window to the front"),
            }
        }
    }

    fn contact(&self, from: &str) -> Option<(String, bool)> {
        let fp = call::parse_fingerprint(from).ok()?;
        let state = self.0.try_state::<AppState>()?;
        let contacts = state.contacts.lock().ok()?;
        contacts.find(&fp).map(|c| (c.name.clone(), c.verified))
    }
}

impl AppState {
    /// Loads settings and history from `data_dir` (moving corrupt files aside), over
    /// the given secret store (unless the passphrase file is in `data_dir`, which wins)
    /// and event sink.
    pub fn load(
        data_dir: PathBuf,
        secrets: Box<dyn identity::SecretStore>,
        emit: Arc<dyn call::Emit>,
    ) -> Result<Self> {
        Self::load_with(data_dir, secrets, sealed::Sealer::new(), emit)
    }

    /// [`AppState::load`] with the passphrase file's policy given (tests use cheap
    /// Argon2 parameters).
    pub fn load_with(
        data_dir: PathBuf,
        secrets: Box<dyn identity::SecretStore>,
        sealer: sealed::Sealer,
        emit: Arc<dyn call::Emit>,
    ) -> Result<Self> {
        // Without the app's notification shell (tests) the inputs are simply dropped.
        let (notifier, _) = notify::Notifier::new();
        Self::load_notifying(data_dir, secrets, sealer, emit, notifier)
    }

    /// [`AppState::load_with`] with the listener's ring events also going to `notifier`.
    pub fn load_notifying(
        data_dir: PathBuf,
        secrets: Box<dyn identity::SecretStore>,
        sealer: sealed::Sealer,
        emit: Arc<dyn call::Emit>,
        notifier: notify::Notifier,
    ) -> Result<Self> {
        let emit: Arc<dyn call::Emit> = Arc::new(notify::Tap {
            inner: emit,
            notifier: notifier.clone(),
        });
        std::fs::create_dir_all(&data_dir).map_err(|e| AppError::Storage {
            path: data_dir.display().to_string(),
            detail: e.to_string(),
        })?;
        let paths = store::Paths::in_dir(&data_dir);
        let mut notices = Vec::new();
        let (settings, bad) = store::load_or_default::<store::Settings>(&paths.settings)?;
        notices.extend(bad);
        let (history, bad) = store::load_or_default::<store::History>(&paths.history)?;
        notices.extend(bad);
        let (contacts, bad) = store::load_or_default::<store::Contacts>(&paths.contacts)?;
        notices.extend(bad);
        let devices = Arc::new(Mutex::new(media::DeviceChoice {
            input: settings.audio_input.clone(),
            output: settings.audio_output.clone(),
            camera: settings.camera.clone(),
        }));
        let media_devices = devices.clone();
        let video: Arc<std::sync::OnceLock<video::VideoView>> =
            Arc::new(std::sync::OnceLock::new());
        let media_video = video.clone();
        let warn_emit = emit.clone();
        let devtest = Arc::new(devtest::DeviceTest::new(emit.clone()));
        let media_devtest = devtest.clone();
        let preview = Arc::new(preview::CameraPreview::new(emit.clone()));
        let media_preview = preview.clone();
        let factory: call::MediaFactory = Box::new(move |camera| {
            let warn = |message: String| {
                warn_emit.emit(
                    call::CALL_EVENT,
                    serde_json::json!({"call_no": 0, "event": {"event": "warning", "message": message}}),
                );
            };
            // The call owns the devices: a microphone test still running ends first.
            if media_devtest.stop_mic() {
                tracing::info!("a call starts: microphone test stopped");
            }
            if media_preview.stop() {
                tracing::info!("a call starts: camera preview stopped");
            }
            let mut io = media::open(&media_devices, camera, &warn);
            if let Some(v) = media_video.get() {
                io.video_out = Box::new(v.sink());
            }
            io
        });
        let self_video = video.clone();
        let calls = Arc::new(
            call::Calls::new(
                emit.clone(),
                factory,
                history,
                paths.history.clone(),
                paths.pins.clone(),
            )
            .with_self_view(Box::new(move || {
                self_video
                    .get()
                    .map(|v| Box::new(v.self_sink()) as Box<dyn wzp_engine::VideoSink>)
            })),
        );
        calls.set_voice(settings.voice.config())?;
        notifier.send(notify::Input::Enabled(settings.call_notifications));
        calls.set_start_muted(settings.push_to_talk.is_some());
        calls.set_start_camera_off(settings.camera_off_at_start);
        let incoming = incoming::Incoming::new(emit, calls.clone(), incoming::RING_TIME);
        let identities = Arc::new(identity::Identities::open(
            data_dir.join(identity::SEALED_FILE),
            sealer,
            secrets,
        ));
        Ok(Self {
            paths,
            data_dir,
            identities,
            settings: Mutex::new(settings),
            contacts: Mutex::new(contacts),
            calls,
            incoming,
            host: tokio::sync::Mutex::new(None),
            notices,
            devices,
            video,
            tray: std::sync::OnceLock::new(),
            pending_link: Mutex::new(None),
            devtest,
            notifier,
            preview,
            ptt_watch: Mutex::new(None),
        })
    }

    /// A `wzp://` link was opened (the app started with one, or a second start handed
    /// one over): kept for the UI's next `app_status` and sent to it now.
    pub fn open_link(&self, text: &str, emit: &dyn call::Emit) {
        let opened = links::Opened::from_text(text);
        match serde_json::to_value(&opened) {
            Ok(v) => emit.emit(LINK_EVENT, v),
            Err(e) => tracing::warn!(error = %e, "cannot send a link to the UI"),
        }
        if let Ok(mut p) = self.pending_link.lock() {
            *p = Some(opened);
        }
    }
}

/// The UI event carrying an opened `wzp://` link ([`links::Opened`]).
pub const LINK_EVENT: &str = "link";

/// Takes `wzp://` links: the one the app was started with (the UI picks it up with its
/// first `app_status`) and those a second start hands over.
fn watch_links(app: &tauri::App) {
    use tauri_plugin_deep_link::DeepLinkExt as _;
    let handle = app.handle().clone();
    app.deep_link().on_open_url(move |event| {
        let emit = TauriEmit(handle.clone());
        for url in event.urls() {
            tracing::info!("a wzp:// link was opened");
            handle.state::<AppState>().open_link(url.as_str(), &emit);
        }
    });
    match app.deep_link().get_current() {
        Ok(Some(urls)) => {
            let emit = TauriEmit(app.handle().clone());
            for url in urls {
                tracing::info!("started with a wzp:// link");
                app.state::<AppState>().open_link(url.as_str(), &emit);
            }
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "cannot read the link the app was started with"),
    }
}

fn data_dir(app: &tauri::App) -> Result<PathBuf> {
    if let Some(d) = std::env::var_os("WZP_DATA_DIR") {
        return Ok(PathBuf::from(d));
    }
    app.path()
        .app_data_dir()
        .map_err(|e| AppError::Internal(format!("no app data folder: {e}")))
}

/// Logs to stderr and, once the data folder is known, to a rotated file in it
/// (`logs/wzp-desktop.log`, 5 MB per file, 3 old files kept).
fn init_logging(dir: &std::path::Path) {
    use tracing_subscriber::fmt::writer::MakeWriterExt as _;
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| "info,wzp_desktop=debug".into())
    };
    match logfile::RotatingLog::open(&dir.join("logs"), "wzp-desktop.log", 5 << 20, 3) {
        Ok(file) => {
            let file = Arc::new(file);
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter())
                .with_ansi(false)
                .with_writer(std::io::stderr.and(file))
                .try_init();
        }
        Err(e) => {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter())
                .with_writer(std::io::stderr)
                .try_init();
            tracing::warn!(error = %e, "no log file; logging to stderr only");
        }
    }
}

/// Runs the app (the binary's `main`).
pub fn run() {
    let result = tauri::Builder::default()
        // First: a second start of the app hands over to this one (over the session
        // D-Bus on Linux) and exits, instead of opening a second window with the same
        // identity, files and relay port.
        .plugin(tauri_plugin_single_instance::init(|app, argv, _cwd| {
            tracing::info!(
                args = argv.len().saturating_sub(1),
                "the app was started again: showing this window instead"
            );
            if let Some(w) = app.get_webview_window("main") {
                let _ = w.unminimize();
                let _ = w.show();
                let _ = w.set_focus();
            }
        }))
        .plugin(tauri_plugin_deep_link::init())
        .setup(|app| {
            let dir = data_dir(app)?;
            init_logging(&dir);
            tracing::info!(data_dir = %dir.display(), "starting");
            let emit: Arc<dyn call::Emit> = Arc::new(TauriEmit(app.handle().clone()));
            let (notifier, notifications) = notify::Notifier::new();
            let state = AppState::load_notifying(
                dir,
                Box::new(identity::KeyringStore::new()),
                sealed::Sealer::new(),
                emit,
                notifier.clone(),
            )?;
            tauri::async_runtime::spawn(notify::run(
                notifications,
                notifier,
                Arc::new(NotifySink(app.handle().clone())),
                incoming::RING_TIME,
            ));
            if let Some(w) = app.get_webview_window("main") {
                let _ = state.video.set(video::VideoView::attach(&w));
            }
            match tray::Tray::create(app.handle()) {
                Ok(t) => {
                    let _ = state.tray.set(t);
                }
                Err(e) => tracing::warn!(error = %e, "no tray icon"),
            }
            app.manage(state);
            watch_links(app);
            // Start receiving calls (if there is an identity and a relay to use).
            let handle = app.handle().clone();
            tauri::async_runtime::spawn(async move {
                commands::refresh_listener(&handle.state::<AppState>()).await;
            });
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::app_status,
            commands::identity_begin_create,
            commands::identity_confirm_create,
            commands::identity_restore,
            commands::identity_words,
            commands::identity_use_passphrase_file,
            commands::identity_unlock,
            commands::identity_change_passphrase,
            commands::identity_move_to_file,
            commands::identity_move_to_secret_store,
            commands::ptt_watch,
            commands::save_settings,
            commands::list_audio_devices,
            commands::join_room,
            commands::call_fingerprint,
            commands::answer_call,
            commands::hang_up,
            commands::mute,
            commands::camera,
            commands::set_audio_device,
            commands::mic_test_start,
            commands::mic_test_stop,
            commands::play_test_sound,
            commands::list_cameras,
            commands::camera_preview_start,
            commands::camera_preview_stop,
            commands::set_camera,
            commands::tray_set,
            commands::notify_labels,
            commands::stats,
            commands::host_start,
            commands::host_stop,
            commands::clear_history,
            commands::add_contact,
            commands::set_contact_verified,
            commands::remove_contact,
            commands::relay_list,
            commands::relay_add,
            commands::relay_remove,
            commands::relay_trust,
            commands::relay_ping,
            commands::video_layout,
        ])
        .run(tauri::generate_context!());
    if let Err(e) = result {
        // Logging may not be set up yet (setup failed early), so also say it on stderr.
        eprintln!("wzp-desktop: {e}");
        tracing::error!(error = %e, "the app failed");
        std::process::exit(1);
    }
}
