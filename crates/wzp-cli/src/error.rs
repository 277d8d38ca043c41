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
