//! The CLI's one error type.

use std::path::PathBuf;

/// Everything a `wzp` subcommand can fail with.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bytes that do not form a valid packet or message.
    #[error("{0}")]
    Proto(#[from] wzp_proto::ProtoError),
    /// A command-line value that could not be used.
    #[error("{0}")]
    Usage(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// Identity or key material that was rejected (bad recovery words, seed,
    /// public key or identity file).
    #[error("{0}")]
    Crypto(#[from] wzp_crypto::CryptoError),
    /// `identity new`/`restore` would replace an existing identity.
    #[error(
        "an identity already exists at {path}; pass --force to replace it (it is lost unless its words were written down)"
    )]
    IdentityExists {
        /// The identity file.
        path: PathBuf,
    },
    /// No identity file where one was expected.
    #[error(
        "no identity at {path}: create one with `wzp identity new` or `wzp identity restore`, or pass --identity PATH"
    )]
    NoIdentity {
        /// The identity file looked for.
        path: PathBuf,
    },
    /// The relay failed to start or run.
    #[error("{0}")]
    Relay(#[from] wzp_relay::RelayError),
    /// A network operation failed.
    #[error("{0}")]
    Transport(#[from] wzp_transport::TransportError),
    /// A call failed or ended abnormally (the message says why).
    #[error("{0}")]
    Call(String),
    /// Video source or file problem.
    #[error("{0}")]
    Video(#[from] wzp_video::VideoError),
    /// Output could not be serialized.
    #[error("cannot write JSON output: {0}")]
    Json(#[from] serde_json::Error),
}

impl CliError {
    /// Process exit code: 2 for usage errors (as clap uses), 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => 2,
            _ => 1,
        }
    }
}
