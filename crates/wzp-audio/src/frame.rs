//! Frame geometry: everything inside the pipeline is 48 kHz mono `f32` in
//! `-1.0..=1.0`, cut in frames of 10, 20, 40 or 60 ms (20 ms by default).

use crate::error::{AudioError, Result};

/// The pipeline's sample rate. Devices at other rates are resampled at the edge.
pub const SAMPLE_RATE: u32 = 48_000;

/// Samples per millisecond at [`SAMPLE_RATE`].
pub const SAMPLES_PER_MS: usize = (SAMPLE_RATE / 1000) as usize;

/// A frame duration the pipeline (and Opus) supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FrameDuration(u32);

impl FrameDuration {
    /// 20 ms, the default.
    pub const MS20: FrameDuration = FrameDuration(20);

    /// From milliseconds: 10, 20, 40 or 60.
    pub fn from_ms(ms: u32) -> Result<Self> {
        match ms {
            10 | 20 | 40 | 60 => Ok(Self(ms)),
            other => Err(AudioError::FrameDuration(other)),
        }
    }

    /// Milliseconds.
    #[must_use]
    pub fn ms(self) -> u32 {
        self.0
    }

    /// Samples per frame at 48 kHz mono.
    #[must_use]
    pub fn samples(self) -> usize {
        self.0 as usize * SAMPLES_PER_MS
    }
}

impl Default for FrameDuration {
    fn default() -> Self {
        Self::MS20
    }
}

/// `f32` to `i16` with saturation.
#[must_use]
pub fn f32_to_i16(s: f32) -> i16 {
    (s.clamp(-1.0, 1.0) * 32767.0).round() as i16
}

/// `i16` to `f32`.
#[must_use]
pub fn i16_to_f32(s: i16) -> f32 {
    f32::from(s) / 32768.0
}

/// Converts a whole frame to `i16`, for sinks and codecs that want integers.
pub fn frame_to_i16(src: &[f32], dst: &mut [i16]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = f32_to_i16(*s);
    }
}

/// Converts a whole `i16` frame to `f32`.
pub fn frame_from_i16(src: &[i16], dst: &mut [f32]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = i16_to_f32(*s);
    }
}

/// Root-mean-square level of a frame (0.0 for an empty one).
#[must_use]
pub fn rms(frame: &[f32]) -> f32 {
    if frame.is_empty() {
        return 0.0;
    }
    let sum: f32 = frame.iter().map(|s| s * s).sum();
    (sum / frame.len() as f32).sqrt()
}
