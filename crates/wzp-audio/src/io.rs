//! Sources and sinks: one trait pair for devices, files and synthetic signals,
//! so that every pipeline runs headless in tests and the CLI exactly as it runs
//! against a microphone and speakers.
//!
//! Everything is 48 kHz mono `f32`, one frame per call. A source that has no
//! audio right now (a device whose ring is empty) fills silence and says so;
//! a source that has ended (a file) returns [`Pull::End`].

use std::path::Path;

use crate::device::DeviceEvent;
use crate::error::{AudioError, Result};
use crate::frame::{SAMPLE_RATE, f32_to_i16, i16_to_f32};
use crate::resample::StreamResampler;

/// What a source put in the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pull {
    /// The frame is full of audio.
    Audio,
    /// `n` samples were audio, the rest was padded with silence (a device
    /// delivered less than real time, or a file's last frame).
    Partial(usize),
    /// The source has ended; the frame is silence.
    End,
}

/// Something that produces 48 kHz mono audio one frame at a time.
pub trait AudioSource: Send {
    /// Fills `frame` (any supported frame length) with the next audio.
    fn pull(&mut self, frame: &mut [f32]) -> Result<Pull>;

    /// What happened to the device behind this source since the last call (lost,
    /// switched to the default, none available), for the owner to report. Sources
    /// without a device have none. Must not block: the call's media loop asks
    /// every frame.
    fn device_events(&mut self) -> Vec<DeviceEvent> {
        Vec::new()
    }
}

/// Something that consumes 48 kHz mono audio one frame at a time.
pub trait AudioSink: Send {
    /// Takes the next frame.
    fn push(&mut self, frame: &[f32]) -> Result<()>;
    /// Writes out anything buffered (a WAV header, device rings are no-ops).
    fn finish(&mut self) -> Result<()> {
        Ok(())
    }

    /// As [`AudioSource::device_events`], for the device behind this sink.
    fn device_events(&mut self) -> Vec<DeviceEvent> {
        Vec::new()
    }
}

/// A sine tone: the standard test signal (a frequency that must survive the
/// pipeline).
#[derive(Debug, Clone)]
pub struct ToneSource {
    freq_hz: f32,
    amplitude: f32,
    phase: f64,
    remaining: Option<usize>,
}

impl ToneSource {
    /// An endless tone.
    #[must_use]
    pub fn new(freq_hz: f32, amplitude: f32) -> Self {
        Self {
            freq_hz,
            amplitude: amplitude.clamp(0.0, 1.0),
            phase: 0.0,
            remaining: None,
        }
    }

    /// A tone that ends after `ms` milliseconds.
    #[must_use]
    pub fn with_duration_ms(mut self, ms: u64) -> Self {
        self.remaining = Some((ms * u64::from(SAMPLE_RATE) / 1000) as usize);
        self
    }
}

impl AudioSource for ToneSource {
    fn pull(&mut self, frame: &mut [f32]) -> Result<Pull> {
        let n = self.remaining.map_or(frame.len(), |r| r.min(frame.len()));
        let step = 2.0 * std::f64::consts::PI * f64::from(self.freq_hz) / f64::from(SAMPLE_RATE);
        for s in &mut frame[..n] {
            *s = (self.phase.sin() as f32) * self.amplitude;
            self.phase = (self.phase + step) % (2.0 * std::f64::consts::PI);
        }
        frame[n..].fill(0.0);
        if let Some(r) = self.remaining.as_mut() {
            *r -= n;
        }
        Ok(match n {
            0 => Pull::End,
            n if n == frame.len() => Pull::Audio,
            n => Pull::Partial(n),
        })
    }
}

/// Endless silence (a muted or absent microphone).
#[derive(Debug, Clone, Copy, Default)]
pub struct SilenceSource;

impl AudioSource for SilenceSource {
    fn pull(&mut self, frame: &mut [f32]) -> Result<Pull> {
        frame.fill(0.0);
        Ok(Pull::Audio)
    }
}

/// A WAV file read whole into memory, mixed down to mono and resampled to 48 kHz.
#[derive(Debug, Clone)]
pub struct WavSource {
    samples: Vec<f32>,
    pos: usize,
    looping: bool,
}

impl WavSource {
    /// Opens and converts a file (8-32 bit integer or 32-bit float PCM, any rate,
    /// any channel count).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let reader = hound::WavReader::open(path)?;
        Self::from_reader(reader)
    }

    /// Converts an already opened reader.
    pub fn from_reader<R: std::io::Read>(reader: hound::WavReader<R>) -> Result<Self> {
        let spec = reader.spec();
        let channels = usize::from(spec.channels.max(1));
        let interleaved: Vec<f32> = match spec.sample_format {
            hound::SampleFormat::Float => {
                if spec.bits_per_sample != 32 {
                    return Err(AudioError::WavFormat(format!(
                        "{}-bit float",
                        spec.bits_per_sample
                    )));
                }
                reader
                    .into_samples::<f32>()
                    .collect::<std::result::Result<_, _>>()?
            }
            hound::SampleFormat::Int => {
                let bits = spec.bits_per_sample;
                if !(8..=32).contains(&bits) {
                    return Err(AudioError::WavFormat(format!("{bits}-bit integer")));
                }
                let scale = 1.0 / (1u64 << (bits - 1)) as f32;
                reader
                    .into_samples::<i32>()
                    .map(|s| s.map(|v| v as f32 * scale))
                    .collect::<std::result::Result<_, _>>()?
            }
        };
        let mono: Vec<f32> = interleaved
            .chunks(channels)
            .map(|c| c.iter().sum::<f32>() / channels as f32)
            .collect();
        let samples = StreamResampler::convert_all(spec.sample_rate, SAMPLE_RATE, &mono)?;
        Ok(Self {
            samples,
            pos: 0,
            looping: false,
        })
    }

    /// Wraps samples already at 48 kHz mono.
    #[must_use]
    pub fn from_samples(samples: Vec<f32>) -> Self {
        Self {
            samples,
            pos: 0,
            looping: false,
        }
    }

    /// Restart at the beginning instead of ending.
    #[must_use]
    pub fn looping(mut self, on: bool) -> Self {
        self.looping = on;
        self
    }

    /// The whole clip (48 kHz mono).
    #[must_use]
    pub fn samples(&self) -> &[f32] {
        &self.samples
    }
}

impl AudioSource for WavSource {
    fn pull(&mut self, frame: &mut [f32]) -> Result<Pull> {
        let mut n = 0;
        while n < frame.len() {
            if self.pos >= self.samples.len() {
                if self.looping && !self.samples.is_empty() {
                    self.pos = 0;
                } else {
                    break;
                }
            }
            let take = (frame.len() - n).min(self.samples.len() - self.pos);
            frame[n..n + take].copy_from_slice(&self.samples[self.pos..self.pos + take]);
            self.pos += take;
            n += take;
        }
        frame[n..].fill(0.0);
        Ok(match n {
            0 => Pull::End,
            n if n == frame.len() => Pull::Audio,
            n => Pull::Partial(n),
        })
    }
}

/// Records to a 16-bit 48 kHz mono WAV file (or any writer).
pub struct WavSink<W: std::io::Write + std::io::Seek + Send> {
    writer: Option<hound::WavWriter<W>>,
}

impl<W: std::io::Write + std::io::Seek + Send> std::fmt::Debug for WavSink<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WavSink")
            .field("open", &self.writer.is_some())
            .finish()
    }
}

/// The format [`WavSink`] writes.
#[must_use]
pub fn wav_spec() -> hound::WavSpec {
    hound::WavSpec {
        channels: 1,
        sample_rate: SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    }
}

impl WavSink<std::io::BufWriter<std::fs::File>> {
    /// Creates (or truncates) a file.
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        Ok(Self {
            writer: Some(hound::WavWriter::create(path, wav_spec())?),
        })
    }
}

impl<W: std::io::Write + std::io::Seek + Send> WavSink<W> {
    /// Writes into any seekable writer.
    pub fn new(w: W) -> Result<Self> {
        Ok(Self {
            writer: Some(hound::WavWriter::new(w, wav_spec())?),
        })
    }
}

impl<W: std::io::Write + std::io::Seek + Send> AudioSink for WavSink<W> {
    fn push(&mut self, frame: &[f32]) -> Result<()> {
        if let Some(w) = self.writer.as_mut() {
            for s in frame {
                w.write_sample(f32_to_i16(*s))?;
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        if let Some(w) = self.writer.take() {
            w.finalize()?;
        }
        Ok(())
    }
}

/// Keeps everything in memory (tests, benches).
#[derive(Debug, Clone, Default)]
pub struct MemorySink {
    /// What was pushed so far.
    pub samples: Vec<f32>,
}

impl AudioSink for MemorySink {
    fn push(&mut self, frame: &[f32]) -> Result<()> {
        self.samples.extend_from_slice(frame);
        Ok(())
    }
}

/// Reads a WAV file as 48 kHz mono `i16` samples (convenience for tools).
pub fn read_wav_i16(path: impl AsRef<Path>) -> Result<Vec<i16>> {
    Ok(WavSource::open(path)?
        .samples()
        .iter()
        .map(|s| f32_to_i16(*s))
        .collect())
}

/// Writes 48 kHz mono `f32` samples as a 16-bit WAV file.
pub fn write_wav(path: impl AsRef<Path>, samples: &[f32]) -> Result<()> {
    let mut sink = WavSink::create(path)?;
    sink.push(samples)?;
    sink.finish()
}

/// `i16` samples to `f32` (convenience).
#[must_use]
pub fn to_f32(samples: &[i16]) -> Vec<f32> {
    samples.iter().map(|s| i16_to_f32(*s)).collect()
}

/// The speech asset (assets/speech_48k.wav) the crate's unit tests use.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) fn speech_asset() -> Vec<f32> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets/speech_48k.wav");
    WavSource::open(path).unwrap().samples().to_vec()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::analysis::dominant_frequency;

    #[test]
    fn tone_has_its_frequency_and_ends() {
        let mut t = ToneSource::new(440.0, 0.5).with_duration_ms(50);
        let mut f = vec![0.0; 960];
        assert_eq!(t.pull(&mut f).unwrap(), Pull::Audio);
        assert!((dominant_frequency(&f, 48_000) - 440.0).abs() < 3.0);
        assert_eq!(t.pull(&mut f).unwrap(), Pull::Audio);
        assert_eq!(t.pull(&mut f).unwrap(), Pull::Partial(480));
        assert_eq!(t.pull(&mut f).unwrap(), Pull::End);
    }

    #[test]
    fn wav_round_trip_through_sink_and_source() {
        let mut buf = std::io::Cursor::new(Vec::new());
        {
            let mut sink = WavSink::new(&mut buf).unwrap();
            let mut t = ToneSource::new(1000.0, 0.3);
            let mut f = vec![0.0; 960];
            for _ in 0..10 {
                t.pull(&mut f).unwrap();
                sink.push(&f).unwrap();
            }
            sink.finish().unwrap();
        }
        buf.set_position(0);
        let mut src = WavSource::from_reader(hound::WavReader::new(buf).unwrap()).unwrap();
        assert_eq!(src.samples().len(), 9600);
        let mut f = vec![0.0; 480];
        assert_eq!(src.pull(&mut f).unwrap(), Pull::Audio);
        assert!((dominant_frequency(&f, 48_000) - 1000.0).abs() < 5.0);
    }

    #[test]
    fn silence_is_silent() {
        let mut f = vec![1.0; 960];
        SilenceSource.pull(&mut f).unwrap();
        assert!(f.iter().all(|s| *s == 0.0));
    }
}
