//! The engine's one error type.

use std::time::Duration;

use wzp_proto::HangupReason;

/// Everything that can go wrong in a call, by cause, so the UI can say what to do next.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The relay could not be reached or refused the connection.
    #[error("cannot reach the relay: {0}")]
    Transport(#[from] wzp_transport::TransportError),
    /// Key exchange or media protection failed.
    #[error("end-to-end encryption failed: {0}")]
    Crypto(#[from] wzp_crypto::CryptoError),
    /// The audio pipeline failed (device, codec, file).
    #[error("audio: {0}")]
    Audio(#[from] wzp_audio::AudioError),
    /// The video pipeline failed (source, codec, file).
    #[error("video: {0}")]
    Video(#[from] wzp_video::VideoError),
    /// A message from the relay broke the protocol.
    #[error("protocol: {0}")]
    Proto(#[from] wzp_proto::ProtoError),
    /// A setting is invalid; names it.
    #[error("invalid setting {name}: {reason}")]
    Config {
        /// The setting.
        name: &'static str,
        /// Why it is refused.
        reason: String,
    },
    /// The relay or the peer ended the call.
    #[error("call ended by the other side: {0:?}")]
    Hangup(HangupReason),
    /// Nothing happened within the time allowed.
    #[error("{what} did not happen within {after:?}")]
    Timeout {
        /// What was waited for.
        what: &'static str,
        /// How long.
        after: Duration,
    },
    /// The call already ended; the command cannot be applied.
    #[error("the call has ended")]
    CallEnded,
    /// A file could not be written or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Result with [`EngineError`].
pub type Result<T> = std::result::Result<T, EngineError>;
