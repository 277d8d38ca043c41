//! The one error type of this crate.
//!
//! Every parser in wzp-proto reports *what* was wrong with its input, so that a
//! receiver can count drops by reason and a person reading `wzp packet decode`
//! output knows which byte to look at.

/// Everything that can be wrong with bytes handed to this crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtoError {
    /// The input ended before a complete structure could be read.
    #[error("truncated {what}: need {needed} bytes, got {got}")]
    Truncated {
        /// Which structure was being read.
        what: &'static str,
        /// Bytes needed for it.
        needed: usize,
        /// Bytes available.
        got: usize,
    },
    /// The media header's version byte is not 0x02.
    #[error("wrong media header version {found:#04x} (this implementation speaks 0x02)")]
    WrongVersion {
        /// The version byte found.
        found: u8,
    },
    /// Reserved flag bits (3..0 of the flags byte) are not zero.
    #[error("reserved flag bits set in flags byte {flags:#04x} (mask 0x0f must be zero)")]
    ReservedBits {
        /// The whole flags byte.
        flags: u8,
    },
    /// The media type byte is above 3.
    #[error("unknown media type {0} (0 audio, 1 video, 2 data, 3 control)")]
    UnknownMediaType(u8),
    /// The FEC ratio byte is above 200.
    #[error("fec ratio byte {0} out of range 0..=200")]
    FecRatioOutOfRange(u8),
    /// A length field disagrees with the bytes actually present.
    #[error("length mismatch in {what}: declared {declared}, actual {actual}")]
    LengthMismatch {
        /// Which structure carried the length.
        what: &'static str,
        /// The length the field declares.
        declared: usize,
        /// The length actually available.
        actual: usize,
    },
    /// The compact frame tag is neither 0x00 (full) nor 0x01 (mini).
    #[error("unknown compact frame tag {0:#04x} (0x00 full, 0x01 mini)")]
    UnknownFrameTag(u8),
    /// A mini frame arrived before any full header gave it a baseline.
    #[error("mini frame before any full header: no baseline to expand it against")]
    MiniBeforeBaseline,
    /// A codec id outside the table 0..=13.
    #[error("unknown codec id {0}")]
    UnknownCodec(u8),
    /// A signal frame declares a body larger than the configured cap.
    #[error("signal frame of {len} bytes exceeds the cap of {max} bytes")]
    FrameTooLarge {
        /// Declared body length.
        len: usize,
        /// Configured maximum.
        max: usize,
    },
    /// A signal frame declares an empty body.
    #[error("empty signal frame")]
    EmptyFrame,
    /// A signal body is not valid JSON for a known message.
    #[error("malformed signal message: {0}")]
    MalformedSignal(String),
    /// A signal message carries a protocol version this implementation does not speak.
    #[error("unsupported protocol version {found} (supported: {supported:?})")]
    UnsupportedVersion {
        /// Version found in the message.
        found: u8,
        /// Versions this implementation accepts.
        supported: &'static [u8],
    },
    /// A textual value (hex id, fingerprint, base64 blob) could not be parsed.
    #[error("invalid {what}: {reason}")]
    InvalidText {
        /// What was being parsed.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
}

impl ProtoError {
    /// A short stable name for the kind of error, for drop counters, metrics
    /// labels and machine-readable output.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Truncated { .. } => "truncated",
            Self::WrongVersion { .. } => "wrong_version",
            Self::ReservedBits { .. } => "reserved_bits",
            Self::UnknownMediaType(_) => "unknown_media_type",
            Self::FecRatioOutOfRange(_) => "fec_ratio_out_of_range",
            Self::LengthMismatch { .. } => "length_mismatch",
            Self::UnknownFrameTag(_) => "unknown_frame_tag",
            Self::MiniBeforeBaseline => "mini_before_baseline",
            Self::UnknownCodec(_) => "unknown_codec",
            Self::FrameTooLarge { .. } => "frame_too_large",
            Self::EmptyFrame => "empty_frame",
            Self::MalformedSignal(_) => "malformed_signal",
            Self::UnsupportedVersion { .. } => "unsupported_version",
            Self::InvalidText { .. } => "invalid_text",
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = ProtoError> = std::result::Result<T, E>;

/// Checks that `buf` holds at least `needed` bytes.
pub(crate) fn need(buf: &[u8], needed: usize, what: &'static str) -> Result<()> {
    if buf.len() < needed {
        Err(ProtoError::Truncated {
            what,
            needed,
            got: buf.len(),
        })
    } else {
        Ok(())
    }
}
