//! The shell's one error type. Every command returns it; the UI receives it as
//! `{ kind, message }` and turns `kind` into words and a next step (ui/src/strings.ts).

use serde::ser::SerializeStruct as _;

/// Everything a command can fail with, by cause.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// No OS secret store is reachable (no Secret Service on the session bus, or no bus).
    #[error("no secret store is available to keep the identity: {0}")]
    NoSecretStore(String),
    /// The secret store answered with an error other than "not there".
    #[error("the secret store failed: {0}")]
    SecretStore(String),
    /// No identity was created or restored yet.
    #[error("no identity yet: create or restore one first")]
    NoIdentity,
    /// The identity is in the passphrase file and the passphrase was not given yet.
    #[error("the identity is locked: enter its passphrase")]
    IdentityLocked,
    /// The passphrase did not open the identity file (or the file's encrypted part was
    /// changed: the two look the same, by design).
    #[error("the passphrase is wrong")]
    WrongPassphrase,
    /// The passphrase-sealed identity file cannot be used: damaged, not such a file, made
    /// by a newer version, or asking for refused key derivation costs.
    #[error("{path}: {error}")]
    SealedFile {
        /// The file.
        path: String,
        /// What is wrong with it.
        error: crate::sealed::SealedError,
    },
    /// A value the user typed is not acceptable; names it.
    #[error("{field}: {reason}")]
    InvalidInput {
        /// Which input.
        field: &'static str,
        /// Why it is refused.
        reason: String,
    },
    /// A settings or history file could not be read or written.
    #[error("{path}: {detail}")]
    Storage {
        /// The file.
        path: String,
        /// The cause.
        detail: String,
    },
    /// A call is already running; hang up first.
    #[error("a call is already in progress")]
    AlreadyInCall,
    /// A device test (microphone meter, test sound) was asked for while a call runs:
    /// the call owns the microphone and speaker.
    #[error("the call is using the microphone and speaker; test them after it ends")]
    DevicesInCall,
    /// The command needs a running call.
    #[error("there is no call in progress")]
    NotInCall,
    /// The incoming call being answered stopped ringing (the caller gave up, or it
    /// was already answered).
    #[error("that call is no longer ringing")]
    CallGone,
    /// The engine refused to start or run the call.
    #[error("{0}")]
    Call(#[from] wzp_engine::EngineError),
    /// A microphone or speaker could not be opened or failed (a call keeps the one it
    /// had; a device test stops). The message says which, in words.
    #[error("{0}")]
    Device(String),
    /// The camera could not be opened or stopped working. The message says why.
    #[error("camera: {0}")]
    Camera(String),
    /// This computer has no camera.
    #[error("no camera was found")]
    NoCamera,
    /// The push-to-talk key cannot be read while the app is in the background here
    /// (no X11 display, a key outside the table, another platform). It still works
    /// while the window has the focus.
    #[error("push-to-talk in the background: {0}")]
    GlobalKeys(String),
    /// The embedded relay could not start.
    #[error("the relay on this computer could not start: {0}")]
    Relay(String),
    /// Something in the shell itself (a poisoned lock, a window that went away).
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    /// Stable machine-readable kind the UI switches on.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NoSecretStore(_) => "no_secret_store",
            Self::SecretStore(_) => "secret_store",
            Self::NoIdentity => "no_identity",
            Self::IdentityLocked => "identity_locked",
            Self::WrongPassphrase => "wrong_passphrase",
            Self::SealedFile {
                error:
                    crate::sealed::SealedError::UnsupportedVersion(_)
                    | crate::sealed::SealedError::UnsupportedKdf(_),
                ..
            } => "sealed_file_version",
            Self::SealedFile { .. } => "sealed_file",
            Self::InvalidInput { .. } => "invalid_input",
            Self::Storage { .. } => "storage",
            Self::AlreadyInCall => "already_in_call",
            Self::DevicesInCall => "devices_in_call",
            Self::NotInCall => "not_in_call",
            Self::CallGone => "call_gone",
            Self::Device(_) => "device",
            Self::Camera(_) => "camera",
            Self::NoCamera => "no_camera",
            Self::GlobalKeys(_) => "global_keys",
            Self::Call(wzp_engine::EngineError::Config { .. }) => "invalid_input",
            Self::Call(wzp_engine::EngineError::Transport(_)) => "relay_unreachable",
            Self::Call(_) => "call",
            Self::Relay(_) => "relay_host",
            Self::Internal(_) => "internal",
        }
    }

    /// A sealed-file error as the UI should see it: a wrong passphrase and a passphrase
    /// of the wrong length are their own kinds, the rest name the file.
    pub fn sealed(path: &std::path::Path, error: crate::sealed::SealedError) -> Self {
        use crate::sealed::{MAX_PASSPHRASE_CHARS, MIN_PASSPHRASE_CHARS, SealedError};
        match error {
            SealedError::WrongPassphrase => Self::WrongPassphrase,
            SealedError::PassphraseLength => Self::invalid(
                "passphrase",
                format!(
                    "use at least {MIN_PASSPHRASE_CHARS} characters (and at most {MAX_PASSPHRASE_CHARS})"
                ),
            ),
            error => Self::SealedFile {
                path: path.display().to_string(),
                error,
            },
        }
    }

    /// Shorthand for [`AppError::InvalidInput`].
    pub fn invalid(field: &'static str, reason: impl std::fmt::Display) -> Self {
        Self::InvalidInput {
            field,
            reason: reason.to_string(),
        }
    }
}

impl serde::Serialize for AppError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("AppError", 2)?;
        st.serialize_field("kind", self.kind())?;
        st.serialize_field("message", &self.to_string())?;
        st.end()
    }
}

/// Result with [`AppError`].
pub type Result<T> = std::result::Result<T, AppError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_kind_and_message() {
        let e = AppError::invalid("room", "must not be empty");
        let v = serde_json::to_value(&e).ok();
        assert_eq!(
            v,
            Some(
                serde_json::json!({"kind": "invalid_input", "message": "room: must not be empty"})
            )
        );
    }

    #[test]
    fn sealed_file_errors_get_their_own_kinds() {
        use crate::sealed::SealedError;
        let p = std::path::Path::new("/d/identity.sealed");
        let kind = |e| AppError::sealed(p, e).kind();
        assert_eq!(kind(SealedError::WrongPassphrase), "wrong_passphrase");
        assert_eq!(kind(SealedError::PassphraseLength), "invalid_input");
        assert_eq!(
            kind(SealedError::UnsupportedVersion(9)),
            "sealed_file_version"
        );
        assert_eq!(kind(SealedError::NotSealed), "sealed_file");
        assert_eq!(kind(SealedError::Params("x".into())), "sealed_file");
        assert!(
            AppError::sealed(p, SealedError::NotSealed)
                .to_string()
                .starts_with("/d/identity.sealed: ")
        );
    }
}
