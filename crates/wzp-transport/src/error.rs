//! The one error type of wzp-transport.

use std::path::PathBuf;

use crate::tls::RelayFingerprint;

/// Everything that can go wrong setting up or using a WZP QUIC connection.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The relay presented a different key than the one pinned for it. This is
    /// what a man-in-the-middle looks like, and also what a relay that lost its
    /// key file looks like: the user must decide, so it is never accepted silently.
    #[error("relay key changed: pinned {expected}, presented {presented}")]
    RelayKeyChanged {
        /// The pinned fingerprint.
        expected: RelayFingerprint,
        /// The fingerprint the relay presented.
        presented: RelayFingerprint,
    },
    /// The relay's certificate did not verify against the configured CA.
    #[error("relay certificate not trusted: {0}")]
    Untrusted(String),
    /// Could not start connecting (bad address, endpoint closed, ...).
    #[error("cannot connect: {0}")]
    Connect(#[from] quinn::ConnectError),
    /// The connection failed or was closed.
    #[error("connection: {0}")]
    Connection(#[from] quinn::ConnectionError),
    /// The peer closed the connection on purpose, saying why.
    #[error("closed by peer: {reason} (code {code})")]
    ClosedByPeer {
        /// Application close code.
        code: u64,
        /// The reason the peer gave.
        reason: String,
    },
    /// Writing to a stream failed.
    #[error("stream write: {0}")]
    Write(#[from] quinn::WriteError),
    /// Reading from a stream failed.
    #[error("stream read: {0}")]
    Read(#[from] quinn::ReadError),
    /// The relay refused a request.
    #[error("refused by relay ({code:?}): {message}")]
    Refused {
        /// Class of refusal.
        code: wzp_proto::ErrorCode,
        /// The relay's explanation.
        message: String,
    },
    /// The stream was closed (finished or reset) by the peer.
    #[error("signal stream closed by peer")]
    StreamClosed,
    /// The relay did not answer in time (a probe's handshake or ping).
    #[error("no {what} from the relay within {wait:?}")]
    NoAnswer {
        /// What was awaited.
        what: &'static str,
        /// How long.
        wait: std::time::Duration,
    },
    /// Sending a datagram failed.
    #[error("datagram: {0}")]
    Datagram(#[from] quinn::SendDatagramError),
    /// A wire-format error.
    #[error("protocol: {0}")]
    Proto(#[from] wzp_proto::ProtoError),
    /// TLS configuration or certificate generation failed.
    #[error("tls: {0}")]
    Tls(String),
    /// An identity proof did not verify.
    #[error("identity proof invalid: {0}")]
    BadProof(&'static str),
    /// A file (relay key, pin store, CA) could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// A file's contents were not usable.
    #[error("{path}: {reason}")]
    BadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

impl From<rustls::Error> for TransportError {
    fn from(e: rustls::Error) -> Self {
        Self::Tls(e.to_string())
    }
}

impl From<rcgen::Error> for TransportError {
    fn from(e: rcgen::Error) -> Self {
        Self::Tls(e.to_string())
    }
}

/// Result alias for this crate.
pub type Result<T, E = TransportError> = std::result::Result<T, E>;
