//! The identity commands over the passphrase file, as the UI drives them, without a window:
//! a computer with no secret store chooses the file, creates an identity, restarts locked,
//! fails with a wrong passphrase, unlocks; then the "forgot the passphrase" path replaces
//! the file by restoring the 24 words. Cheap Argon2 parameters keep it fast; the format
//! and the real parameters are tested in `sealed.rs`.
#![allow(missing_docs)]

use std::sync::Arc;

use wzp_desktop::call::Emit;
use wzp_desktop::identity::{SEALED_FILE, SecretStore, StorageKind};
use wzp_desktop::sealed::Sealer;
use wzp_desktop::{AppError, AppState, Result, commands};
use zeroize::Zeroizing;

struct NoEvents;

impl Emit for NoEvents {
    fn emit(&self, _name: &str, _payload: serde_json::Value) {}
}

/// A computer without a secret store, as keyring reports it when no dbus session exists.
struct NoSecretStore;

impl SecretStore for NoSecretStore {
    fn get(&self) -> Result<Option<Zeroizing<String>>> {
        Err(AppError::NoSecretStore("no session bus".into()))
    }
    fn set(&self, _secret: &str) -> Result<()> {
        Err(AppError::NoSecretStore("no session bus".into()))
    }
    fn remove(&self) -> Result<()> {
        Err(AppError::NoSecretStore("no session bus".into()))
    }
}

fn start(dir: &std::path::Path) -> AppState {
    let st = AppState::load_with(
        dir.to_path_buf(),
        Box::new(NoSecretStore),
        Sealer::insecure_fast_for_tests(),
        Arc::new(NoEvents),
    );
    assert!(st.is_ok(), "{:?}", st.as_ref().err());
    match st {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    }
}

fn kind<T>(r: Result<T>) -> &'static str {
    r.err().map_or("ok", |e| e.kind())
}

fn pass(s: &str) -> Zeroizing<String> {
    Zeroizing::new(s.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_store_then_passphrase_file_then_locked_restarts() {
    let dir = std::env::temp_dir().join(format!(
        "wzp-desktop-identity-flow-{}-{:?}",
        std::process::id(),
        std::time::SystemTime::now()
    ));

    // First start: no secret store, so the UI offers the file.
    let app = start(&dir);
    assert_eq!(kind(app.identities.info()), "no_secret_store");
    let storage = app.identities.storage().ok();
    assert_eq!(
        storage
            .as_ref()
            .map(|s| (s.kind, s.locked, s.min_passphrase_chars)),
        Some((StorageKind::SecretStore, false, 8))
    );
    assert_eq!(
        kind(app.identities.use_passphrase_file(pass("1234567"))),
        "invalid_input"
    );
    let chosen = app
        .identities
        .use_passphrase_file(pass("correct horse"))
        .ok();
    assert_eq!(
        chosen.as_ref().map(|s| s.kind),
        Some(StorageKind::PassphraseFile)
    );
    // Now there is simply no identity yet: the welcome screen's create / restore.
    assert!(matches!(app.identities.info(), Ok(None)));
    let words = app.identities.begin_create().unwrap_or_default();
    let created = commands::confirm_create(&app, words.clone()).await;
    assert!(created.is_ok(), "{:?}", created.as_ref().err());
    let fp = created.map(|i| i.fingerprint).unwrap_or_default();
    assert!(dir.join(SEALED_FILE).exists());
    drop(app);

    // Restart: the file is found, the identity is locked until the passphrase is given.
    let app = start(&dir);
    assert_eq!(kind(app.identities.info()), "identity_locked");
    assert_eq!(app.identities.storage().ok().map(|s| s.locked), Some(true));
    assert_eq!(
        kind(commands::unlock(&app, pass("correct horsE")).await),
        "wrong_passphrase"
    );
    let unlocked = commands::unlock(&app, pass("correct horse")).await;
    assert_eq!(unlocked.ok().map(|i| i.fingerprint), Some(fp.clone()));
    assert_eq!(
        app.identities.info().ok().flatten().map(|i| i.fingerprint),
        Some(fp.clone())
    );
    assert_eq!(app.identities.storage().ok().map(|s| s.locked), Some(false));
    drop(app);

    // Restart, passphrase forgotten: a new passphrase, then the 24 words replace the file.
    let app = start(&dir);
    assert!(
        app.identities
            .use_passphrase_file(pass("battery staple"))
            .is_ok()
    );
    let restored = commands::restore(&app, Zeroizing::new(words.join(" "))).await;
    assert_eq!(restored.ok().map(|i| i.fingerprint), Some(fp.clone()));
    drop(app);
    let app = start(&dir);
    assert_eq!(
        kind(commands::unlock(&app, pass("correct horse")).await),
        "wrong_passphrase"
    );
    let unlocked = commands::unlock(&app, pass("battery staple")).await;
    assert_eq!(unlocked.ok().map(|i| i.fingerprint), Some(fp));
    let _ = std::fs::remove_dir_all(&dir);
}
