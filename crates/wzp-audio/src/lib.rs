//! WZP audio: everything between a microphone and the network, and between the
//! network and a speaker, except the network itself.
//!
//! The pipeline is 48 kHz mono `f32`, 20 ms frames by default:
//!
//! ```text
//! send:    AudioSource -> VoiceProcessor -> OpusEncoder -> (packets to the engine)
//! receive: (packets) -> Receivers (jitter buffer, FEC/DRED/PLC) -> Mixer -> AudioSink
//! ```
//!
//! Sources and sinks ([`io`]) are tone, silence, WAV files and memory for
//! tests and the CLI, and [`device`] for real hardware (cpal), behind the same
//! traits. The jitter buffer, receivers, quality controller and mixer are
//! sans-IO: time is an argument, never read from a clock, so tests run a
//! minute of lossy call in a second and reproduce any loss from a seed.
//!
//! A headless round trip:
//!
//! ```
//! use std::time::{Duration, Instant};
//! use wzp_audio::{AudioReceiver, AudioSource, EncoderConfig, OpusEncoder, ReceiverConfig, ToneSource};
//! use wzp_proto::{CodecId, Seq, TimestampMs};
//!
//! let mut enc = OpusEncoder::new(EncoderConfig::for_codec(CodecId::Opus32k))?;
//! let mut rx = AudioReceiver::new(ReceiverConfig::default())?;
//! let mut tone = ToneSource::new(440.0, 0.5);
//! let (mut pcm, mut pkt, mut out) = (vec![0.0; 960], vec![0u8; 1275], vec![0.0; 960]);
//! let t0 = Instant::now();
//! for i in 0..10u32 {
//!     let now = t0 + Duration::from_millis(u64::from(i) * 20);
//!     tone.pull(&mut pcm)?;
//!     let n = enc.encode(&pcm, &mut pkt)?;
//!     rx.insert(Seq(i), TimestampMs(i * 20), &pkt[..n], now);
//!     rx.pull(now, &mut out)?;
//! }
//! # Ok::<(), wzp_audio::AudioError>(())
//! ```

pub mod analysis;
pub mod codec;
pub mod device;
mod drift;
pub mod error;
pub mod frame;
pub mod io;
pub mod jitter;
pub mod mixer;
pub mod quality;
pub mod receiver;
pub mod resample;
pub mod voice;

pub use codec::{EncoderConfig, OpusDecoder, OpusEncoder, Recovery};
pub use device::{CaptureDevice, DeviceEvent, DeviceInfo, Direction, PlaybackDevice, list_devices};
pub use error::{AudioError, Result};
pub use frame::{FrameDuration, SAMPLE_RATE};
pub use io::{
    AudioSink, AudioSource, MemorySink, Pull, SilenceSource, ToneSource, WavSink, WavSource,
};
pub use jitter::{JitterBuffer, JitterConfig, JitterStats, Playout};
pub use mixer::{LevelMeter, Mixer, SpeakingLevel};
pub use quality::{PathReport, QualityConfig, QualityController};
pub use receiver::{AudioReceiver, FrameOrigin, ReceiverConfig, Receivers};
pub use resample::StreamResampler;
pub use voice::{VoiceConfig, VoiceProcessor, VoiceStats};
