//! WZP video: frame sources, H.264 through OpenH264, packetization into WZP
//! datagrams, and loss recovery (NACK and keyframe requests).
//!
//! Rendering is not here (see wzp-render), and neither is any socket: the
//! packetizer, depacketizer and loss-recovery types are sans-IO, taking bytes and
//! an `Instant` from the caller and returning bytes and events.

pub mod codec;
pub mod error;
pub mod frame;
pub mod ladder;
pub mod packet;
pub mod recovery;
pub mod source;

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
