//! The one error type of this crate.

use thiserror::Error;

/// Everything that can go wrong in wzp-video. Callers can match on the kind;
/// the strings only add detail for logs.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum VideoError {
    /// A frame size that I420 or the codec cannot carry (odd, zero, too large,
    /// or too small for the synthetic pattern).
    #[error("bad frame size {width}x{height}: {reason}")]
    BadDimensions {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
        /// Why it was refused.
        reason: &'static str,
    },
    /// Plane buffers whose lengths do not match the declared size.
    #[error("plane {plane} has {got} bytes, expected {expected}")]
    BadPlane {
        /// "y", "u" or "v".
        plane: &'static str,
        /// Bytes present.
        got: usize,
        /// Bytes needed.
        expected: usize,
    },
    /// A setting outside its allowed range; the message names it.
    #[error("bad setting {name}: {reason}")]
    BadSetting {
        /// Name of the setting.
        name: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// A Y4M stream that is malformed or uses a format this crate does not read.
    #[error("bad Y4M input: {0}")]
    Y4m(String),
    /// Reading a source failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A camera could not be listed or opened (the message is the backend's).
    #[error("camera: {0}")]
    Camera(String),
    /// An open camera stopped delivering frames (unplugged, taken by another
    /// app). The call goes on; the owner switches to another source or to none.
    #[error("camera lost: {0}")]
    CameraLost(String),
    /// OpenH264 refused to encode.
    #[error("H.264 encode failed: {0}")]
    Encode(String),
    /// OpenH264 could not decode an access unit (corrupt or missing reference).
    #[error("H.264 decode failed: {0}")]
    Decode(String),
    /// A datagram that is not a well-formed H.264 video packet of this stream.
    #[error("bad video packet: {0}")]
    BadPacket(String),
    /// The wire format layer refused the header.
    #[error("media header: {0}")]
    Proto(#[from] wzp_proto::ProtoError),
}

/// Result with [`VideoError`].
pub type Result<T, E = VideoError> = std::result::Result<T, E>;
