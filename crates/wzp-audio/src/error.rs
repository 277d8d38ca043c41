//! The crate's one error type.

/// Errors from wzp-audio.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// A frame length that is not 10, 20, 40 or 60 ms at 48 kHz.
    #[error("unsupported frame duration: {0} ms (10, 20, 40 or 60)")]
    FrameDuration(u32),
    /// A buffer of the wrong size was passed.
    #[error("buffer has {got} samples, expected {expected}")]
    BufferSize {
        /// Samples given.
        got: usize,
        /// Samples expected.
        expected: usize,
    },
    /// A codec id that is not an Opus codec.
    #[error("codec {0:?} is not supported by this pipeline")]
    UnsupportedCodec(wzp_proto::CodecId),
    /// libopus refused an operation.
    #[error("opus: {0:?}")]
    Opus(opusic_c::ErrorCode),
    /// Reading or writing a WAV file failed.
    #[error("WAV: {0}")]
    Wav(#[from] hound::Error),
    /// A WAV file in a format this crate does not read.
    #[error("unsupported WAV format: {0}")]
    WavFormat(String),
    /// Resampler construction or processing failed.
    #[error("resampler: {0}")]
    Resample(String),
    /// No such audio device (by id), or no default device.
    #[error("audio device not found: {0}")]
    DeviceNotFound(String),
    /// The audio backend failed (device busy, unplugged, server gone...).
    #[error("audio device error: {0}")]
    Device(String),
    /// Redundancy (DRED) did not give usable audio for a lost span.
    #[error("lost audio could not be rebuilt from redundancy")]
    Unrecoverable,
    /// The voice processor failed.
    #[error("voice processing: {0}")]
    Processing(String),
}

impl From<opusic_c::ErrorCode> for AudioError {
    fn from(e: opusic_c::ErrorCode) -> Self {
        Self::Opus(e)
    }
}

/// Result with [`AudioError`].
pub type Result<T> = std::result::Result<T, AudioError>;
