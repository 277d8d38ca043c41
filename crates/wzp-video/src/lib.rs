//! WZP video: frame sources, H.264 through OpenH264, packetization into WZP
//! datagrams, loss recovery (NACK and keyframe requests) and the rate ladder.
//!
//! Rendering is not here (see wzp-render), and neither is any socket: the
//! packetizer, depacketizer, loss-recovery and ladder types are sans-IO, taking
//! bytes and an `Instant` from the caller and returning bytes and events.
//!
//! One frame from camera to decoder, the way the engine drives it:
//!
//! ```
//! use std::time::{Duration, Instant};
//! use wzp_proto::{Seq, StreamId, TimestampMs};
//! use wzp_video::{
//!     EncoderSettings, FrameSource, H264Decoder, H264Encoder, Packetizer, ReceiverConfig,
//!     ReceiverEvent, RetransmitCache, SyntheticSource, VideoReceiver, DEFAULT_MAX_PAYLOAD,
//! };
//!
//! // Sender: source -> encoder -> packetizer (-> seal -> datagram).
//! let mut source = SyntheticSource::new(320, 180, 15)?;
//! let mut encoder = H264Encoder::new(EncoderSettings {
//!     width: 320, height: 180, fps: 15.0, bitrate_bps: 300_000, ..EncoderSettings::hd()
//! })?;
//! let mut packetizer = Packetizer::new(StreamId(0), DEFAULT_MAX_PAYLOAD, Seq(1000))?;
//! let mut cache = RetransmitCache::new(Duration::from_millis(500), 4 << 20);
//! let frame = source.next_frame()?.ok_or(wzp_video::VideoError::Y4m("ended".into()))?;
//! let encoded = encoder.encode(&frame)?.ok_or(wzp_video::VideoError::Encode("skipped".into()))?;
//! let mut packets = Vec::new();
//! packetizer.packetize(&encoded.data, encoded.keyframe, TimestampMs(0), &mut packets)?;
//!
//! // Receiver: datagrams -> VideoReceiver -> decoder; NACK / PictureLoss go back
//! // to the sender as signal messages, and `handle_timeout` runs at `poll_timeout`.
//! let now = Instant::now();
//! let mut receiver = VideoReceiver::new(ReceiverConfig::default(), Duration::from_millis(50));
//! let mut decoder = H264Decoder::new()?;
//! let mut events = Vec::new();
//! for p in &packets {
//!     let datagram = p.to_datagram();
//!     cache.insert(p.header.seq, datagram.clone(), now);
//!     receiver.handle_datagram(&datagram, now, &mut events)?;
//! }
//! let mut shown = 0;
//! for e in events {
//!     match e {
//!         ReceiverEvent::Decode(au) => match decoder.decode(&au.data) {
//!             Ok(Some(_picture)) => shown += 1,
//!             Ok(None) => {}
//!             Err(_) => receiver.decode_failed(now, &mut Vec::new()),
//!         },
//!         ReceiverEvent::SendNack(seqs) => { let _resend = cache.on_nack(&seqs, now); }
//!         ReceiverEvent::SendPictureLoss => encoder.request_keyframe(),
//!     }
//! }
//! assert_eq!(shown, 1);
//! # Ok::<(), wzp_video::VideoError>(())
//! ```

#[cfg(feature = "camera")]
pub mod camera;
pub mod codec;
pub mod error;
pub mod frame;
pub mod ladder;
pub mod packet;
pub mod recovery;
pub mod source;
pub mod threaded;

pub use codec::{EncodedFrame, EncoderSettings, H264Decoder, H264Encoder};
pub use error::{Result, VideoError};
pub use frame::I420Frame;
pub use ladder::{DEFAULT_LADDER, RateLadder, Rung, VideoTarget};
pub use packet::{
    AccessUnit, DEFAULT_MAX_PAYLOAD, Depacketizer, DepacketizerEvent, Packetizer, VideoPacket,
};
pub use recovery::{
    KeyframeGate, KeyframeRequester, NackConfig, NackGenerator, ReceiverConfig, ReceiverEvent,
    RetransmitCache, VideoReceiver,
};
pub use source::{FrameSource, SyntheticSource, Y4mSource};
pub use threaded::ThreadedSource;
