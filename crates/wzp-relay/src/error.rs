//! The one error type of wzp-relay.

use std::path::PathBuf;

/// Why the relay could not start or keep running.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RelayError {
    /// A setting is invalid; the message names it.
    #[error("invalid setting `{setting}`: {reason}")]
    Config {
        /// The setting's name as written in the config file.
        setting: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The config file could not be read or parsed.
    #[error("config file {path}: {reason}")]
    ConfigFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A transport-level failure (binding the port, TLS identity, ...).
    #[error(transparent)]
    Transport(#[from] wzp_transport::TransportError),
    /// Other I/O failure.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// Result alias for this crate.
pub type Result<T, E = RelayError> = std::result::Result<T, E>;
