//! The user's identity: a 32-byte seed kept in the OS secret store, or, where there is
//! none, in a file sealed with a passphrase; never in a plain file.
//!
//! Creating is two steps so the seed is only stored once the user has written the 24
//! words down: [`Identities::begin_create`] makes a seed and returns its words, the UI
//! asks for some of them back, and [`Identities::confirm_create`] stores it. Restoring
//! takes the 24 words and stores the seed they encode.
//!
//! Where no secret store exists (no Secret Service on the session bus, for example) the
//! error says so and nothing is written anywhere until the user chooses the other store:
//! [`Identities::use_passphrase_file`] switches to a [`SealedFileStore`], the file
//! `identity.sealed` in the app data folder, encrypted under a passphrase (see
//! [`crate::sealed`] for the format). Both stores sit behind [`SecretStore`], so creating
//! and restoring work the same over either.
//!
//! At start the file wins: if `identity.sealed` exists the user chose it, and the identity
//! stays locked ([`AppError::IdentityLocked`]) until [`Identities::unlock`] is given the
//! passphrase. Argon2 makes unlocking and writing the file take a noticeable fraction of a
//! second (about 0.5 s each on the 2-core build machine: benches/sealed.rs), so the
//! commands run those on a blocking thread.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use rand_core::OsRng;
use serde::Serialize;
use wzp_crypto::Identity;
use wzp_crypto::identity::Seed;
use zeroize::Zeroizing;

use crate::error::{AppError, Result};
use crate::sealed::{self, Sealer};

/// The passphrase file's name in the app data folder.
pub const SEALED_FILE: &str = "identity.sealed";

/// Where seeds are kept: the OS secret store ([`KeyringStore`]), a passphrase-sealed file
/// ([`SealedFileStore`]), or memory in tests. The passphrase methods have defaults for
/// stores that have no passphrase.
pub trait SecretStore: Send + Sync {
    /// The stored secret, or `None` when there is none; [`AppError::IdentityLocked`] when
    /// there is one that needs [`SecretStore::unlock`] first.
    fn get(&self) -> Result<Option<Zeroizing<String>>>;
    /// Stores (replaces) the secret.
    fn set(&self, secret: &str) -> Result<()>;
    /// Deletes the stored secret (nothing stored is not an error). Used once the identity
    /// has moved to the other store, so no copy stays behind.
    fn remove(&self) -> Result<()>;
    /// Which kind of store this is, for the UI.
    fn kind(&self) -> StorageKind {
        StorageKind::SecretStore
    }
    /// The file the secret is in, for stores that use one.
    fn path(&self) -> Option<&Path> {
        None
    }
    /// Whether a secret is stored that [`SecretStore::get`] cannot give before
    /// [`SecretStore::unlock`].
    fn is_locked(&self) -> bool {
        false
    }
    /// Opens the stored secret with its passphrase (slow for a sealed file: run it on a
    /// blocking thread). Stores without a passphrase have nothing to unlock.
    fn unlock(&self, _passphrase: &str) -> Result<()> {
        Ok(())
    }
    /// The passphrase the next [`SecretStore::set`] seals with. Stores without a
    /// passphrase refuse it.
    fn set_passphrase(&self, _passphrase: Zeroizing<String>) -> Result<()> {
        Err(AppError::invalid(
            "passphrase",
            "this store does not use a passphrase",
        ))
    }
    /// Re-seals the stored secret under `new` once `current` opens it (slow for a sealed
    /// file: two Argon2 runs). Stores without a passphrase refuse it.
    fn change_passphrase(&self, _current: &str, _new: Zeroizing<String>) -> Result<()> {
        Err(AppError::invalid(
            "passphrase",
            "this store does not use a passphrase",
        ))
    }
}

/// Which store holds the identity, as the UI is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StorageKind {
    /// The OS secret store.
    SecretStore,
    /// The passphrase-sealed file.
    PassphraseFile,
}

/// The identity's storage, for `app_status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StorageInfo {
    /// Which store.
    pub kind: StorageKind,
    /// The identity is in the file and waits for its passphrase.
    pub locked: bool,
    /// The file, when the store is the passphrase file.
    pub path: Option<String>,
    /// The shortest passphrase a new file accepts (so the UI checks the same number).
    pub min_passphrase_chars: usize,
}

/// The OS secret store through keyring 3: Secret Service on Linux, Keychain on macOS,
/// Credential Manager on Windows. One entry, service `org.wzp.desktop`, user `identity`.
#[derive(Debug)]
pub struct KeyringStore {
    service: String,
    user: String,
}

impl KeyringStore {
    /// The app's entry. `WZP_KEYRING_SERVICE` overrides the service name, so tests and a
    /// second profile do not touch the real identity.
    #[must_use]
    pub fn new() -> Self {
        Self {
            service: std::env::var("WZP_KEYRING_SERVICE")
                .unwrap_or_else(|_| "org.wzp.desktop".into()),
            user: "identity".into(),
        }
    }

    fn entry(&self) -> Result<keyring::Entry> {
        keyring::Entry::new(&self.service, &self.user).map_err(map_keyring)
    }
}

impl Default for KeyringStore {
    fn default() -> Self {
        Self::new()
    }
}

fn map_keyring(e: keyring::Error) -> AppError {
    match e {
        keyring::Error::PlatformFailure(_) | keyring::Error::NoStorageAccess(_) => {
            AppError::NoSecretStore(e.to_string())
        }
        other => AppError::SecretStore(other.to_string()),
    }
}

impl SecretStore for KeyringStore {
    fn get(&self) -> Result<Option<Zeroizing<String>>> {
        match self.entry()?.get_password() {
            Ok(s) => Ok(Some(Zeroizing::new(s))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(map_keyring(e)),
        }
    }

    fn set(&self, secret: &str) -> Result<()> {
        self.entry()?.set_password(secret).map_err(map_keyring)
    }

    fn remove(&self) -> Result<()> {
        match self.entry()?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(map_keyring(e)),
        }
    }
}

/// The passphrase-sealed identity file ([`crate::sealed`]) as a [`SecretStore`].
///
/// Reading needs the passphrase once ([`SecretStore::unlock`]); the opened seed is then kept
/// in memory, where the identity is anyway. Writing seals with the passphrase given by
/// [`SecretStore::set_passphrase`] (a fresh salt and nonce each time), and forgets it once
/// the file is written: a passphrase may be reused elsewhere, so it is held no longer than
/// the write it was given for.
pub struct SealedFileStore {
    path: PathBuf,
    sealer: Sealer,
    opened: Mutex<Option<Zeroizing<String>>>,
    next_passphrase: Mutex<Option<Zeroizing<String>>>,
}

impl SealedFileStore {
    /// The file at `path`, sealed and opened under `sealer`'s policy.
    #[must_use]
    pub fn new(path: PathBuf, sealer: Sealer) -> Self {
        Self {
            path,
            sealer,
            opened: Mutex::new(None),
            next_passphrase: Mutex::new(None),
        }
    }

    fn exists(&self) -> Result<bool> {
        self.path.try_exists().map_err(|e| self.storage_error(e))
    }

    fn storage_error(&self, e: impl std::fmt::Display) -> AppError {
        AppError::Storage {
            path: self.path.display().to_string(),
            detail: e.to_string(),
        }
    }
}

impl SealedFileStore {
    /// The seed in the file, opened with `passphrase` (slow: Argon2).
    fn open_file(&self, passphrase: &str) -> Result<Zeroizing<[u8; sealed::SEED_LEN]>> {
        let bytes = Zeroizing::new(match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(AppError::NoIdentity);
            }
            Err(e) => return Err(self.storage_error(e)),
        });
        self.sealer
            .open(&bytes, passphrase)
            .map_err(|e| AppError::sealed(&self.path, e))
    }
}

impl std::fmt::Debug for SealedFileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedFileStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SecretStore for SealedFileStore {
    fn get(&self) -> Result<Option<Zeroizing<String>>> {
        if let Some(s) = lock(&self.opened)?.as_ref() {
            return Ok(Some(s.clone()));
        }
        if self.exists()? {
            Err(AppError::IdentityLocked)
        } else {
            Ok(None)
        }
    }

    fn set(&self, secret: &str) -> Result<()> {
        let mut next = lock(&self.next_passphrase)?;
        let passphrase = next
            .as_ref()
            .ok_or_else(|| AppError::invalid("passphrase", "choose the file's passphrase first"))?;
        let seed = Seed::from_hex(secret.trim())
            .map_err(|e| AppError::Internal(format!("not a seed: {e}")))?;
        let bytes = Zeroizing::new(
            self.sealer
                .seal(seed.as_bytes(), passphrase, &mut OsRng)
                .map_err(|e| AppError::sealed(&self.path, e))?,
        );
        // write_atomic creates the file 0600 on Unix; the rename keeps that mode.
        wzp_transport::fsutil::write_atomic(&self.path, &bytes)
            .map_err(|e| self.storage_error(e))?;
        *next = None;
        *lock(&self.opened)? = Some(Zeroizing::new(secret.trim().to_string()));
        Ok(())
    }

    fn kind(&self) -> StorageKind {
        StorageKind::PassphraseFile
    }

    fn path(&self) -> Option<&Path> {
        Some(&self.path)
    }

    fn is_locked(&self) -> bool {
        let opened = lock(&self.opened).map(|g| g.is_some()).unwrap_or(false);
        !opened && self.exists().unwrap_or(false)
    }

    fn unlock(&self, passphrase: &str) -> Result<()> {
        if lock(&self.opened)?.is_some() {
            return Ok(());
        }
        let seed = self.open_file(passphrase)?;
        *lock(&self.opened)? = Some(Seed::from_bytes(*seed).to_hex());
        Ok(())
    }

    /// The current passphrase is asked for even when the file is already open: whoever
    /// sits at an unlocked computer should not be able to take the file over.
    fn change_passphrase(&self, current: &str, new: Zeroizing<String>) -> Result<()> {
        sealed::check_new_passphrase(&new).map_err(|e| AppError::sealed(&self.path, e))?;
        let seed = self.open_file(current)?;
        let bytes = Zeroizing::new(
            self.sealer
                .seal(&seed, &new, &mut OsRng)
                .map_err(|e| AppError::sealed(&self.path, e))?,
        );
        // Atomic: a crash leaves the old file (old passphrase) or the new one, never half.
        wzp_transport::fsutil::write_atomic(&self.path, &bytes)
            .map_err(|e| self.storage_error(e))?;
        *lock(&self.opened)? = Some(Seed::from_bytes(*seed).to_hex());
        tracing::info!(path = %self.path.display(), "identity file sealed under a new passphrase");
        Ok(())
    }

    fn set_passphrase(&self, passphrase: Zeroizing<String>) -> Result<()> {
        sealed::check_new_passphrase(&passphrase).map_err(|e| AppError::sealed(&self.path, e))?;
        *lock(&self.next_passphrase)? = Some(passphrase);
        Ok(())
    }

    fn remove(&self) -> Result<()> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(self.storage_error(e)),
        }
        *lock(&self.opened)? = None;
        Ok(())
    }
}

/// A secret store in memory, for tests.
#[derive(Debug, Default)]
pub struct MemoryStore(Mutex<Option<String>>);

impl SecretStore for MemoryStore {
    fn get(&self) -> Result<Option<Zeroizing<String>>> {
        let g = self
            .0
            .lock()
            .map_err(|_| AppError::Internal("secret lock".into()))?;
        Ok(g.clone().map(Zeroizing::new))
    }

    fn set(&self, secret: &str) -> Result<()> {
        let mut g = self
            .0
            .lock()
            .map_err(|_| AppError::Internal("secret lock".into()))?;
        *g = Some(secret.to_string());
        Ok(())
    }

    fn remove(&self) -> Result<()> {
        let mut g = self
            .0
            .lock()
            .map_err(|_| AppError::Internal("secret lock".into()))?;
        *g = None;
        Ok(())
    }
}

/// What the UI shows about the identity (never the seed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdentityInfo {
    /// The identity fingerprint others see and verify.
    pub fingerprint: String,
}

/// The identity as the app holds it: loaded once from the store, cached in memory.
pub struct Identities {
    /// Swapped once, when the user chooses the passphrase file; an `Arc` so a slow call
    /// (Argon2, dbus) runs without holding the lock.
    store: RwLock<Arc<dyn SecretStore>>,
    /// Where the passphrase file goes if the user chooses it (`None`: not offered).
    sealed: Option<(PathBuf, Sealer)>,
    /// The OS secret store, kept while the file is in use so the identity can move back.
    os_store: Arc<dyn SecretStore>,
    current: Mutex<Option<Identity>>,
    pending: Mutex<Option<Identity>>,
}

impl Identities {
    /// Over `store` alone (no passphrase file to switch to); nothing is read until asked.
    #[must_use]
    pub fn new(store: Box<dyn SecretStore>) -> Self {
        let store: Arc<dyn SecretStore> = Arc::from(store);
        Self {
            store: RwLock::new(store.clone()),
            sealed: None,
            os_store: store,
            current: Mutex::new(None),
            pending: Mutex::new(None),
        }
    }

    /// The app's choice at start: the passphrase file at `sealed_path` if it exists (the
    /// user chose it, even if a secret store has appeared since), else `secret_store`,
    /// with the file to switch to if the user chooses it later.
    #[must_use]
    pub fn open(sealed_path: PathBuf, sealer: Sealer, secret_store: Box<dyn SecretStore>) -> Self {
        let os_store: Arc<dyn SecretStore> = Arc::from(secret_store);
        let store: Arc<dyn SecretStore> = if sealed_path.exists() {
            tracing::info!(path = %sealed_path.display(), "the identity is in the passphrase file");
            Arc::new(SealedFileStore::new(sealed_path.clone(), sealer.clone()))
        } else {
            os_store.clone()
        };
        Self {
            store: RwLock::new(store),
            sealed: Some((sealed_path, sealer)),
            os_store,
            current: Mutex::new(None),
            pending: Mutex::new(None),
        }
    }

    fn store(&self) -> Result<Arc<dyn SecretStore>> {
        self.store
            .read()
            .map(|g| g.clone())
            .map_err(|_| AppError::Internal("identity store lock poisoned".into()))
    }

    /// Which store is in use and whether it is locked.
    pub fn storage(&self) -> Result<StorageInfo> {
        let store = self.store()?;
        let loaded = lock(&self.current)?.is_some();
        Ok(StorageInfo {
            kind: store.kind(),
            locked: !loaded && store.is_locked(),
            path: store.path().map(|p| p.display().to_string()),
            min_passphrase_chars: sealed::MIN_PASSPHRASE_CHARS,
        })
    }

    /// Keeps the identity in the passphrase file from now on: the next create or restore
    /// seals it with `passphrase`. Also the way to replace a locked file whose passphrase
    /// is forgotten (then restore from the 24 words). Refused while an identity is loaded,
    /// so it never moves an identity the user did not mean to move.
    pub fn use_passphrase_file(&self, passphrase: Zeroizing<String>) -> Result<StorageInfo> {
        sealed::check_new_passphrase(&passphrase)
            .map_err(|e| AppError::sealed(Path::new(SEALED_FILE), e))?;
        if lock(&self.current)?.is_some() {
            return Err(AppError::invalid(
                "passphrase",
                "an identity is already in use on this computer",
            ));
        }
        let store = self.store()?;
        if store.kind() == StorageKind::PassphraseFile {
            store.set_passphrase(passphrase)?;
        } else {
            let (path, sealer) = self.sealed.as_ref().ok_or_else(|| {
                AppError::invalid("passphrase", "a passphrase file is not available here")
            })?;
            let file = SealedFileStore::new(path.clone(), sealer.clone());
            file.set_passphrase(passphrase)?;
            self.swap_store(Arc::new(file))?;
            tracing::info!(path = %path.display(), "the identity will be kept in a passphrase file");
        }
        self.storage()
    }

    /// Opens the passphrase file (Argon2: a fraction of a second; call it on a blocking
    /// thread).
    pub fn unlock(&self, passphrase: &str) -> Result<IdentityInfo> {
        self.store()?.unlock(passphrase)?;
        let id = self.require()?;
        tracing::info!(fingerprint = %id.fingerprint(), "identity unlocked");
        Ok(IdentityInfo {
            fingerprint: id.fingerprint().to_string(),
        })
    }

    /// Seals the passphrase file under `new` once `current` opens it (two Argon2 runs:
    /// call it on a blocking thread). Refused for the OS secret store, which has no
    /// passphrase of ours.
    pub fn change_passphrase(&self, current: &str, new: Zeroizing<String>) -> Result<StorageInfo> {
        let store = self.store()?;
        if store.kind() != StorageKind::PassphraseFile {
            return Err(AppError::invalid(
                "passphrase",
                "the identity is in the system's secret store, which has no passphrase here",
            ));
        }
        store.change_passphrase(current, new)?;
        self.storage()
    }

    /// Moves the loaded identity from the OS secret store into the passphrase file, sealed
    /// under `passphrase` (two Argon2 runs: call it on a blocking thread). The file is
    /// written and read back before the secret store's copy is deleted, so a failure at
    /// any step leaves the identity where it was (at worst in both places, which the
    /// error says).
    pub fn move_to_file(&self, passphrase: Zeroizing<String>) -> Result<StorageInfo> {
        let from = self.store()?;
        if from.kind() == StorageKind::PassphraseFile {
            return Err(AppError::invalid(
                "passphrase",
                "the identity is already in the passphrase file",
            ));
        }
        let (path, sealer) = self.sealed.as_ref().ok_or_else(|| {
            AppError::invalid("passphrase", "a passphrase file is not available here")
        })?;
        let id = self.require()?;
        let file = SealedFileStore::new(path.clone(), sealer.clone());
        file.set_passphrase(passphrase.clone())?;
        file.set(id.seed().to_hex().as_str())?;
        Self::check_copy(&file, &id, || {
            file.open_file(&passphrase)
                .map(|seed| Seed::from_bytes(*seed).to_hex())
        })?;
        self.swap_store(Arc::new(file))?;
        tracing::info!(path = %path.display(), "identity moved into the passphrase file");
        from.remove().map_err(|e| {
            AppError::SecretStore(format!(
                "the identity is now in the passphrase file, but its copy in the system's \
                 secret store could not be deleted: {e}"
            ))
        })?;
        self.storage()
    }

    /// Moves the identity from the passphrase file into the OS secret store once
    /// `passphrase` opens the file (Argon2: call it on a blocking thread). The secret
    /// store's copy is written and read back before the file is deleted.
    pub fn move_to_secret_store(&self, passphrase: &str) -> Result<StorageInfo> {
        let from = self.store()?;
        if from.kind() != StorageKind::PassphraseFile {
            return Err(AppError::invalid(
                "identity",
                "the identity is already in the system's secret store",
            ));
        }
        // Asked for even when the file is open, as for a passphrase change: whoever sits
        // at an unlocked computer must not be able to take the identity out of the file.
        // The seed moved is the one the file holds (the app may not have opened it yet).
        let (path, sealer) = self.sealed.as_ref().ok_or_else(|| {
            AppError::Internal("a passphrase file is in use but has no location".into())
        })?;
        let seed = SealedFileStore::new(path.clone(), sealer.clone()).open_file(passphrase)?;
        let id = Identity::from_seed(Seed::from_bytes(*seed));
        let to = self.os_store.clone();
        to.set(id.seed().to_hex().as_str())?;
        Self::check_copy(to.as_ref(), &id, || {
            to.get()?.ok_or_else(|| {
                AppError::SecretStore("the system's secret store did not keep the identity".into())
            })
        })?;
        self.swap_store(to)?;
        *lock(&self.current)? = Some(id);
        tracing::info!("identity moved into the system's secret store");
        from.remove().map_err(|e| {
            AppError::SecretStore(format!(
                "the identity is now in the system's secret store, but the passphrase file \
                 could not be deleted: {e}"
            ))
        })?;
        self.storage()
    }

    /// Reads a freshly written copy back; a copy that does not hold `id` is deleted and
    /// reported, so the original is never given up for a bad copy.
    fn check_copy(
        store: &dyn SecretStore,
        id: &Identity,
        read: impl FnOnce() -> Result<Zeroizing<String>>,
    ) -> Result<()> {
        let same = read().map(|hex| hex.trim() == id.seed().to_hex().as_str());
        match same {
            Ok(true) => Ok(()),
            other => {
                if let Err(e) = store.remove() {
                    tracing::warn!(error = %e, "could not delete a bad copy of the identity");
                }
                Err(other.err().unwrap_or_else(|| {
                    AppError::SecretStore("the copy written does not read back the same".into())
                }))
            }
        }
    }

    fn swap_store(&self, to: Arc<dyn SecretStore>) -> Result<()> {
        *self
            .store
            .write()
            .map_err(|_| AppError::Internal("identity store lock poisoned".into()))? = to;
        Ok(())
    }

    /// The identity, loaded from the store on first use; `None` when none exists yet.
    pub fn current(&self) -> Result<Option<Identity>> {
        let mut cur = lock(&self.current)?;
        if cur.is_none() {
            if let Some(hex) = self.store()?.get()? {
                let seed = Seed::from_hex(hex.trim()).map_err(|e| {
                    AppError::SecretStore(format!("the stored identity is not readable: {e}"))
                })?;
                *cur = Some(Identity::from_seed(seed));
            }
        }
        Ok(cur.clone())
    }

    /// The identity, or [`AppError::NoIdentity`].
    pub fn require(&self) -> Result<Identity> {
        self.current()?.ok_or(AppError::NoIdentity)
    }

    /// Public info about the identity, if there is one.
    pub fn info(&self) -> Result<Option<IdentityInfo>> {
        Ok(self.current()?.map(|i| IdentityInfo {
            fingerprint: i.fingerprint().to_string(),
        }))
    }

    /// Makes a new identity (not stored yet) and returns its 24 words to back up.
    pub fn begin_create(&self) -> Result<Vec<String>> {
        let id = Identity::generate(&mut OsRng);
        let words = id.mnemonic().split_whitespace().map(String::from).collect();
        *lock(&self.pending)? = Some(id);
        Ok(words)
    }

    /// Stores the identity from [`Identities::begin_create`] after the user confirmed the
    /// words (`words` are checked against it, so a confirm for an older seed fails).
    /// Over the passphrase file this runs Argon2: call it on a blocking thread.
    ///
    /// Refused over a locked passphrase file: that would replace an identity nobody has
    /// seen with a new one. A forgotten passphrase is replaced by restoring the words.
    pub fn confirm_create(&self, words: &[String]) -> Result<IdentityInfo> {
        if self.store()?.is_locked() {
            return Err(AppError::IdentityLocked);
        }
        let mut pending = lock(&self.pending)?;
        let id = pending
            .as_ref()
            .ok_or_else(|| AppError::invalid("identity", "no new identity is waiting"))?;
        let phrase = Zeroizing::new(words.join(" "));
        if phrase.as_str() != id.mnemonic().as_str() {
            return Err(AppError::invalid(
                "words",
                "the words do not match the new identity",
            ));
        }
        let id = id.clone();
        self.save(&id)?;
        *pending = None;
        Ok(IdentityInfo {
            fingerprint: id.fingerprint().to_string(),
        })
    }

    /// Restores an identity from its 24 words and stores it (replacing a passphrase file
    /// whose passphrase was forgotten, once a new one is set). Over the passphrase file
    /// this runs Argon2: call it on a blocking thread.
    pub fn restore(&self, phrase: &str) -> Result<IdentityInfo> {
        let normal = Zeroizing::new(
            phrase
                .split_whitespace()
                .map(str::to_lowercase)
                .collect::<Vec<_>>()
                .join(" "),
        );
        let id = Identity::from_mnemonic(&normal).map_err(|e| AppError::invalid("words", e))?;
        self.save(&id)?;
        Ok(IdentityInfo {
            fingerprint: id.fingerprint().to_string(),
        })
    }

    /// The 24 words of the stored identity (for a backup screen).
    pub fn words(&self) -> Result<Vec<String>> {
        let id = self.require()?;
        Ok(id.mnemonic().split_whitespace().map(String::from).collect())
    }

    fn save(&self, id: &Identity) -> Result<()> {
        let store = self.store()?;
        store.set(id.seed().to_hex().as_str())?;
        tracing::info!(fingerprint = %id.fingerprint(), store = ?store.kind(), "identity stored");
        *lock(&self.current)? = Some(id.clone());
        Ok(())
    }
}

fn lock<T>(m: &Mutex<T>) -> Result<std::sync::MutexGuard<'_, T>> {
    m.lock()
        .map_err(|_| AppError::Internal("identity lock poisoned".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_needs_confirmation_before_storing() {
        let ids = Identities::new(Box::new(MemoryStore::default()));
        assert!(matches!(ids.current(), Ok(None)));
        let words = ids.begin_create().unwrap_or_default();
        assert_eq!(words.len(), 24);
        assert!(
            matches!(ids.current(), Ok(None)),
            "not stored before confirm"
        );
        let mut wrong = words.clone();
        wrong.swap(0, 1);
        if wrong != words {
            assert!(ids.confirm_create(&wrong).is_err());
        }
        let info = ids.confirm_create(&words);
        assert!(info.is_ok());
        let fp = ids.info().ok().flatten().map(|i| i.fingerprint);
        assert_eq!(fp, info.ok().map(|i| i.fingerprint));
    }

    #[test]
    fn restore_gives_the_same_fingerprint_and_survives_reload() {
        let ids = Identities::new(Box::new(MemoryStore::default()));
        let words = ids.begin_create().unwrap_or_default();
        let created = ids.confirm_create(&words).ok();
        let other = Identities::new(Box::new(MemoryStore::default()));
        let restored = other.restore(&words.join("  ").to_uppercase()).ok();
        assert_eq!(created, restored);
        assert!(other.restore("not a mnemonic").is_err());
    }

    fn tmp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "wzp-identity-{name}-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
        ));
        assert!(std::fs::create_dir_all(&d).is_ok());
        d
    }

    fn over_file(dir: &Path, secret_store: MemoryStore) -> Identities {
        Identities::open(
            dir.join(SEALED_FILE),
            Sealer::insecure_fast_for_tests(),
            Box::new(secret_store),
        )
    }

    fn pass(s: &str) -> Zeroizing<String> {
        Zeroizing::new(s.to_string())
    }

    fn kind<T: std::fmt::Debug>(r: Result<T>) -> &'static str {
        r.err().map_or("ok", |e| e.kind())
    }

    /// Creates an identity in a passphrase file in `dir`; returns its words and fingerprint.
    /// After a restart, `old` no longer opens the file and `new` opens identity `fp`.
    fn assert_file_opens_only_with(dir: &Path, old: &str, new: &str, fp: &str) {
        let again = over_file(dir, MemoryStore::default());
        assert_eq!(kind(again.unlock(old)), "wrong_passphrase");
        assert_eq!(
            again.unlock(new).ok().map(|i| i.fingerprint),
            Some(fp.to_string())
        );
    }

    /// The file is readable by its owner only (Unix).
    fn assert_owner_only(path: &Path) {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(path).map(|m| m.permissions().mode() & 0o777);
            assert_eq!(mode.ok(), Some(0o600));
        }
        #[cfg(not(unix))]
        let _ = path;
    }

    fn create_in_file(dir: &Path, passphrase: &str) -> (Vec<String>, String) {
        let ids = over_file(dir, MemoryStore::default());
        assert_eq!(
            ids.storage().ok().map(|s| s.kind),
            Some(StorageKind::SecretStore)
        );
        assert!(ids.use_passphrase_file(pass(passphrase)).is_ok());
        let words = ids.begin_create().unwrap_or_default();
        let info = ids.confirm_create(&words);
        assert!(info.is_ok(), "{info:?}");
        (words, info.map(|i| i.fingerprint).unwrap_or_default())
    }

    #[test]
    fn the_passphrase_file_round_trips_and_starts_locked() {
        let dir = tmp_dir("roundtrip");
        let (words, fp) = create_in_file(&dir, "a long passphrase");
        let path = dir.join(SEALED_FILE);
        let bytes = std::fs::read(&path).unwrap_or_default();
        assert_eq!(bytes.len(), sealed::FILE_LEN);
        let seed_hex = Identity::from_mnemonic(&words.join(" "))
            .map(|i| i.seed().to_hex().to_string())
            .unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(&seed_hex),
            "the seed is not in the file in the clear"
        );
        assert_owner_only(&path);

        // A restart: the file wins over the secret store (which holds another identity).
        let other = MemoryStore::default();
        assert!(other.set(&"11".repeat(32)).is_ok());
        let ids = over_file(&dir, other);
        let st = ids.storage().ok();
        assert_eq!(
            st.as_ref().map(|s| (s.kind, s.locked)),
            Some((StorageKind::PassphraseFile, true))
        );
        assert_eq!(st.and_then(|s| s.path), Some(path.display().to_string()));
        assert_eq!(kind(ids.current()), "identity_locked");
        assert_eq!(kind(ids.require()), "identity_locked");

        assert_eq!(kind(ids.unlock("a long passphrasE")), "wrong_passphrase");
        assert_eq!(ids.storage().ok().map(|s| s.locked), Some(true));
        assert_eq!(
            ids.unlock("a long passphrase").ok().map(|i| i.fingerprint),
            Some(fp.clone())
        );
        assert_eq!(ids.storage().ok().map(|s| s.locked), Some(false));
        assert_eq!(ids.info().ok().flatten().map(|i| i.fingerprint), Some(fp));
        assert_eq!(ids.words().ok(), Some(words));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn choosing_the_file_checks_the_passphrase_and_never_moves_a_loaded_identity() {
        let dir = tmp_dir("choose");
        let ids = over_file(&dir, MemoryStore::default());
        assert_eq!(
            kind(ids.use_passphrase_file(pass("short"))),
            "invalid_input"
        );
        assert_eq!(
            ids.storage().ok().map(|s| s.kind),
            Some(StorageKind::SecretStore)
        );
        let words = ids.begin_create().unwrap_or_default();
        assert!(ids.confirm_create(&words).is_ok());
        assert_eq!(
            kind(ids.use_passphrase_file(pass("long enough"))),
            "invalid_input"
        );
        assert!(!dir.join(SEALED_FILE).exists());
        // Without a file location (Identities::new) there is nothing to switch to.
        let plain = Identities::new(Box::new(MemoryStore::default()));
        assert_eq!(
            kind(plain.use_passphrase_file(pass("long enough"))),
            "invalid_input"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_forgotten_passphrase_is_replaced_by_restoring_the_words() {
        let dir = tmp_dir("forgot");
        let (words, fp) = create_in_file(&dir, "first passphrase");
        let ids = over_file(&dir, MemoryStore::default());
        // Restoring without a new passphrase is refused; the file is untouched.
        assert_eq!(kind(ids.restore(&words.join(" "))), "invalid_input");
        assert!(ids.use_passphrase_file(pass("second passphrase")).is_ok());
        // Creating a new identity over the locked one is refused: only the words replace it.
        let new_words = ids.begin_create().unwrap_or_default();
        assert_eq!(kind(ids.confirm_create(&new_words)), "identity_locked");
        assert_eq!(
            ids.restore(&words.join(" ")).ok().map(|i| i.fingerprint),
            Some(fp.clone())
        );
        assert_file_opens_only_with(&dir, "first passphrase", "second passphrase", &fp);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_passphrase_changes_only_with_the_current_one_and_a_good_new_one() {
        let dir = tmp_dir("change");
        let (_, fp) = create_in_file(&dir, "first passphrase");
        let path = dir.join(SEALED_FILE);
        let before = std::fs::read(&path).unwrap_or_default();
        let ids = over_file(&dir, MemoryStore::default());
        assert!(ids.unlock("first passphrase").is_ok());
        // The current passphrase is checked even though the file is open.
        assert_eq!(
            kind(ids.change_passphrase("not it", pass("second passphrase"))),
            "wrong_passphrase"
        );
        assert_eq!(
            kind(ids.change_passphrase("first passphrase", pass("short"))),
            "invalid_input"
        );
        assert_eq!(
            std::fs::read(&path).unwrap_or_default(),
            before,
            "untouched"
        );
        let st = ids.change_passphrase("first passphrase", pass("second passphrase"));
        assert_eq!(
            st.ok().map(|s| (s.kind, s.locked)),
            Some((StorageKind::PassphraseFile, false))
        );
        assert_eq!(
            ids.info().ok().flatten().map(|i| i.fingerprint),
            Some(fp.clone())
        );
        assert_owner_only(&path);
        assert_file_opens_only_with(&dir, "first passphrase", "second passphrase", &fp);
        // The OS secret store has no passphrase to change.
        let plain = Identities::new(Box::new(MemoryStore::default()));
        assert_eq!(
            kind(plain.change_passphrase("first passphrase", pass("second passphrase"))),
            "invalid_input"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A memory store the test can still look into after handing it to [`Identities`];
    /// `fail_set` makes it refuse writes, as a secret store that is locked or gone does.
    #[derive(Clone, Default)]
    struct Shared(Arc<MemoryStore>, Arc<std::sync::atomic::AtomicBool>);

    impl SecretStore for Shared {
        fn get(&self) -> Result<Option<Zeroizing<String>>> {
            self.0.get()
        }
        fn set(&self, secret: &str) -> Result<()> {
            if self.1.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(AppError::NoSecretStore("the test's store refuses".into()));
            }
            self.0.set(secret)
        }
        fn remove(&self) -> Result<()> {
            self.0.remove()
        }
    }

    #[test]
    fn the_identity_moves_to_the_file_and_back_and_leaves_no_copy_behind() {
        let dir = tmp_dir("move");
        let path = dir.join(SEALED_FILE);
        let os = Shared::default();
        let ids = Identities::open(
            path.clone(),
            Sealer::insecure_fast_for_tests(),
            Box::new(os.clone()),
        );
        // Nothing to move before an identity exists.
        assert_eq!(
            kind(ids.move_to_file(pass("a good passphrase"))),
            "no_identity"
        );
        let words = ids.begin_create().unwrap_or_default();
        let fp = ids
            .confirm_create(&words)
            .map(|i| i.fingerprint)
            .unwrap_or_default();
        let hex = os.get().ok().flatten().map(|h| h.to_string());
        assert!(hex.is_some());
        assert_eq!(kind(ids.move_to_secret_store("any")), "invalid_input");
        assert_eq!(kind(ids.move_to_file(pass("short"))), "invalid_input");
        assert!(!path.exists());

        let st = ids.move_to_file(pass("a good passphrase"));
        assert_eq!(
            st.ok().map(|s| (s.kind, s.locked)),
            Some((StorageKind::PassphraseFile, false))
        );
        assert!(
            matches!(os.get(), Ok(None)),
            "no copy left in the secret store"
        );
        assert_owner_only(&path);
        assert_eq!(
            ids.info().ok().flatten().map(|i| i.fingerprint),
            Some(fp.clone())
        );
        assert_eq!(
            kind(ids.move_to_file(pass("a good passphrase"))),
            "invalid_input"
        );
        // A restart finds it in the file, locked, and it opens with that passphrase.
        assert_file_opens_only_with(&dir, "not the passphrase", "a good passphrase", &fp);

        // Back: the passphrase is asked for even though the file is open.
        let before = std::fs::read(&path).unwrap_or_default();
        assert_eq!(
            kind(ids.move_to_secret_store("not the passphrase")),
            "wrong_passphrase"
        );
        // A secret store that refuses leaves everything in the file.
        os.1.store(true, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(
            kind(ids.move_to_secret_store("a good passphrase")),
            "no_secret_store"
        );
        os.1.store(false, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(
            std::fs::read(&path).unwrap_or_default(),
            before,
            "file untouched"
        );
        assert_eq!(
            ids.storage().ok().map(|s| s.kind),
            Some(StorageKind::PassphraseFile)
        );
        assert!(matches!(os.get(), Ok(None)));

        let st = ids.move_to_secret_store("a good passphrase");
        assert_eq!(st.ok().map(|s| s.kind), Some(StorageKind::SecretStore));
        assert!(!path.exists(), "the file is deleted");
        assert_eq!(os.get().ok().flatten().map(|h| h.to_string()), hex);
        // A restart reads it from the secret store, unlocked.
        let again = Identities::open(
            path.clone(),
            Sealer::insecure_fast_for_tests(),
            Box::new(os.clone()),
        );
        assert_eq!(again.info().ok().flatten().map(|i| i.fingerprint), Some(fp));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_locked_file_moves_to_the_secret_store_with_its_passphrase() {
        let dir = tmp_dir("move-locked");
        let (_, fp) = create_in_file(&dir, "first passphrase");
        let os = Shared::default();
        let ids = Identities::open(
            dir.join(SEALED_FILE),
            Sealer::insecure_fast_for_tests(),
            Box::new(os.clone()),
        );
        assert_eq!(kind(ids.current()), "identity_locked");
        let st = ids.move_to_secret_store("first passphrase");
        assert_eq!(
            st.ok().map(|s| (s.kind, s.locked)),
            Some((StorageKind::SecretStore, false))
        );
        assert_eq!(ids.info().ok().flatten().map(|i| i.fingerprint), Some(fp));
        assert!(!dir.join(SEALED_FILE).exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_damaged_file_says_so_and_stays_on_disk() {
        let dir = tmp_dir("damaged");
        let path = dir.join(SEALED_FILE);
        assert!(std::fs::write(&path, b"WZPSEAL\n\x01 cut short").is_ok());
        let ids = over_file(&dir, MemoryStore::default());
        assert_eq!(kind(ids.unlock("any passphrase")), "sealed_file");
        let mut newer = sealed::MAGIC.to_vec();
        newer.push(2);
        assert!(std::fs::write(&path, &newer).is_ok());
        assert_eq!(kind(ids.unlock("any passphrase")), "sealed_file_version");
        assert!(path.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
