//! The WZP call engine: one [`Call`] per call, used by the desktop app and the `wzp` CLI.
//!
//! A call connects to a relay, joins a room (or rings a peer), exchanges end-to-end keys
//! with every participant, and runs the audio and video pipelines until it ends. The
//! owner drives it with commands ([`Call::mute`], [`Call::hang_up`], [`Command`]) and
//! hears about it through [`Event`]s.
//!
//! ```no_run
//! # async fn demo(config: wzp_engine::CallConfig) -> wzp_engine::Result<()> {
//! use wzp_engine::{Call, CallTarget, Event, MediaIo};
//! let media = MediaIo::silent(Box::new(wzp_audio::MemorySink::default()));
//! let (call, mut events) = Call::start(config, CallTarget::Room("friends".into()), media)?;
//! while let Some(e) = events.recv().await {
//!     if let Event::State(s) = &e {
//!         if s.is_ended() { break; }
//!     }
//! }
//! let _why = call.wait().await;
//! # Ok(()) }
//! ```
//!
//! Threads: the call is one tokio task (network, keys, jitter buffers, Opus, mixing,
//! on a 20 ms clock); video encoding and decoding each run on their own OS thread
//! (see `video`). Time-critical parts are the sans-IO pieces of wzp-audio, wzp-video
//! and wzp-crypto; this crate is the shell that wires them to a connection.
#![forbid(unsafe_code)]

pub mod call;
pub mod config;
pub mod error;
pub mod event;
pub mod io;
pub mod pacer;
pub mod protection;
pub mod state;
mod video;

pub use call::{Call, Command, Events, IncomingCall, Listener};
pub use config::{CallConfig, CallTarget, RelayConfig, VideoConfig, VideoQuality};
pub use error::{EngineError, Result};
pub use event::{CallStats, Event, NetworkQuality, ParticipantInfo, ParticipantStats};
pub use io::{MediaIo, NullVideoSink, VideoSink, Y4mSink};
pub use state::{CallState, EndReason};
pub use video::{LOCAL, VIDEO_STREAM};
/// Re-exported: [`CallConfig::voice`] and [`Command::SetVoice`] take it.
pub use wzp_audio::VoiceConfig;
