//! Streaming mono resampler (rubato FFT resampler) between a device rate and
//! the pipeline's 48 kHz.
//!
//! Devices deliver whatever block sizes they like; the resampler wants fixed
//! chunks. [`StreamResampler`] buffers input until a chunk is ready, so callers
//! push any number of samples and pull what has been produced. It runs on a
//! worker thread, never in a device callback; buffers are allocated up front.

use rubato::audioadapter_buffers::direct::SequentialSliceOfSlices;
use rubato::{Fft, FixedSync, Resampler};

use crate::error::{AudioError, Result};

/// Mono streaming resampler from `from_hz` to `to_hz`.
pub struct StreamResampler {
    inner: Option<Fft<f32>>,
    pending: Vec<f32>,
    scratch: Vec<f32>,
    out: Vec<f32>,
}

impl std::fmt::Debug for StreamResampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamResampler")
            .field("passthrough", &self.inner.is_none())
            .field("pending", &self.pending.len())
            .finish()
    }
}

impl StreamResampler {
    /// A resampler that takes chunks of about `chunk` input samples (e.g. 10 ms).
    /// Equal rates make a pass-through that copies.
    pub fn new(from_hz: u32, to_hz: u32, chunk: usize) -> Result<Self> {
        let inner = if from_hz == to_hz {
            None
        } else {
            Some(
                Fft::<f32>::new(
                    from_hz as usize,
                    to_hz as usize,
                    chunk.max(16),
                    1,
                    FixedSync::Input,
                )
                .map_err(|e| AudioError::Resample(e.to_string()))?,
            )
        };
        let out_max = inner.as_ref().map_or(chunk, |r| r.output_frames_max());
        Ok(Self {
            inner,
            pending: Vec::with_capacity(chunk * 4),
            scratch: vec![0.0; out_max],
            out: Vec::with_capacity(out_max * 4),
        })
    }

    /// Adds input samples.
    pub fn push(&mut self, input: &[f32]) -> Result<()> {
        let Some(r) = self.inner.as_mut() else {
            self.out.extend_from_slice(input);
            return Ok(());
        };
        self.pending.extend_from_slice(input);
        loop {
            let need = r.input_frames_next();
            if self.pending.len() < need {
                break;
            }
            let chunk = [&self.pending[..need]];
            let inp = SequentialSliceOfSlices::new(&chunk, 1, need)
                .map_err(|e| AudioError::Resample(e.to_string()))?;
            let out_len = self.scratch.len();
            let mut outs = [&mut self.scratch[..]];
            let mut outp = SequentialSliceOfSlices::new_mut(&mut outs, 1, out_len)
                .map_err(|e| AudioError::Resample(e.to_string()))?;
            let (used, made) = r
                .process_into_buffer(&inp, &mut outp, None)
                .map_err(|e| AudioError::Resample(e.to_string()))?;
            self.out.extend_from_slice(&self.scratch[..made]);
            self.pending.drain(..used);
        }
        Ok(())
    }

    /// Samples available to [`StreamResampler::pull`].
    #[must_use]
    pub fn available(&self) -> usize {
        self.out.len()
    }

    /// Moves up to `dst.len()` output samples into `dst`; returns how many.
    pub fn pull(&mut self, dst: &mut [f32]) -> usize {
        let n = dst.len().min(self.out.len());
        dst[..n].copy_from_slice(&self.out[..n]);
        self.out.drain(..n);
        n
    }

    /// Resamples a whole clip at once (for files).
    pub fn convert_all(from_hz: u32, to_hz: u32, input: &[f32]) -> Result<Vec<f32>> {
        if from_hz == to_hz {
            return Ok(input.to_vec());
        }
        let chunk = (from_hz / 100) as usize;
        let mut r = Self::new(from_hz, to_hz, chunk)?;
        r.push(input)?;
        // Flush the resampler's delay with silence.
        r.push(&vec![0.0; chunk * 4])?;
        let want = (input.len() as u64 * u64::from(to_hz) / u64::from(from_hz)) as usize;
        let delay = r.inner.as_ref().map_or(0, |x| x.output_delay());
        let mut all = vec![0.0; r.available()];
        let n = r.pull(&mut all);
        all.truncate(n);
        let start = delay.min(all.len());
        let end = (start + want).min(all.len());
        Ok(all[start..end].to_vec())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn resamples_44k1_tone_to_48k_keeping_pitch() {
        let input: Vec<f32> = (0..44_100)
            .map(|i| (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 44_100.0).sin() * 0.5)
            .collect();
        let out = StreamResampler::convert_all(44_100, 48_000, &input).unwrap();
        assert!((out.len() as i64 - 48_000).abs() < 100, "len {}", out.len());
        let f = crate::analysis::dominant_frequency(&out[4800..43_200], 48_000);
        assert!((f - 1000.0).abs() < 5.0, "freq {f}");
    }
}
