//! The user's identity: a 32-byte seed kept in the OS secret store, never in a plain file.
//!
//! Creating is two steps so the seed is only stored once the user has written the 24
//! words down: [`Identities::begin_create`] makes a seed and returns its words, the UI
//! asks for some of them back, and [`Identities::confirm_create`] stores it. Restoring
//! takes the 24 words and stores the seed they encode.
//!
//! Where no secret store exists (no Secret Service on the session bus, for example) the
//! error says so and nothing is written anywhere. A passphrase-encrypted file fallback is
//! not built yet (see docs/ARCHITECTURE.md, "Desktop app").

use std::sync::Mutex;

use rand_core::OsRng;
use serde::Serialize;
use wzp_crypto::Identity;
use wzp_crypto::identity::Seed;
use zeroize::Zeroizing;

use crate::error::{AppError, Result};

/// Where seeds are kept. The real one is the OS secret store ([`KeyringStore`]); tests
/// use an in-memory one.
pub trait SecretStore: Send + Sync {
    /// The stored secret, or `None` when there is none.
    fn get(&self) -> Result<Option<Zeroizing<String>>>;
    /// Stores (replaces) the secret.
    fn set(&self, secret: &str) -> Result<()>;
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
}

/// What the UI shows about the identity (never the seed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdentityInfo {
    /// The identity fingerprint others see and verify.
    pub fingerprint: String,
}

/// The identity as the app holds it: loaded once from the store, cached in memory.
pub struct Identities {
    store: Box<dyn SecretStore>,
    current: Mutex<Option<Identity>>,
    pending: Mutex<Option<Identity>>,
}

impl Identities {
    /// Over `store`; nothing is read until asked.
    #[must_use]
    pub fn new(store: Box<dyn SecretStore>) -> Self {
        Self {
            store,
            current: Mutex::new(None),
            pending: Mutex::new(None),
        }
    }

    /// The identity, loaded from the store on first use; `None` when none exists yet.
    pub fn current(&self) -> Result<Option<Identity>> {
        let mut cur = lock(&self.current)?;
        if cur.is_none() {
            if let Some(hex) = self.store.get()? {
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
    pub fn confirm_create(&self, words: &[String]) -> Result<IdentityInfo> {
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

    /// Restores an identity from its 24 words and stores it.
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
        self.store.set(id.seed().to_hex().as_str())?;
        tracing::info!(fingerprint = %id.fingerprint(), "identity stored in the secret store");
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
}
