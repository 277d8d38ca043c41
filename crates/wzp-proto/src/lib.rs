//! The WZP v2 wire format, as WZP Desktop implements it.
//!
//! This crate turns bytes into typed values and back, and nothing else: no
//! sockets, clocks, threads or async. That keeps every rule about the wire in one
//! place where tests can reach all of it, and lets the relay, the engine and the
//! `wzp packet decode` tool share one parser.
//!
//! # Media
//!
//! A media datagram carries one [`MediaHeader`] (16 bytes) and a body. Audio can
//! use compact framing: a [`Compressor`] on the sender and an [`Expander`] on
//! the receiver replace most headers with a 5-byte [`MiniHeader`].
//!
//! ```
//! use wzp_proto::{CodecId, Compressor, Expander, MediaHeader, Seq, StreamId, TimestampMs};
//!
//! let mut tx = Compressor::new();
//! let mut rx = Expander::new();
//! for i in 0..3u32 {
//!     let header = MediaHeader::new(CodecId::Opus24k, StreamId(0), Seq(i), TimestampMs(20 * i));
//!     let mut datagram = Vec::new();
//!     tx.write_header(&header, 4, &mut datagram);
//!     datagram.extend_from_slice(b"opus");
//!     let (got, body) = rx.expand(&datagram)?;
//!     assert_eq!((got, body), (header, &b"opus"[..]));
//! }
//! # Ok::<(), wzp_proto::ProtoError>(())
//! ```
//!
//! # Signals
//!
//! Control messages ([`SignalMessage`]) travel as length-prefixed JSON on a QUIC
//! stream; [`FrameDecoder`] reassembles them from chunks of any size.
//!
//! ```
//! use wzp_proto::{Decoded, FrameDecoder, SignalMessage, write_frame, DEFAULT_MAX_FRAME};
//!
//! let mut wire = Vec::new();
//! write_frame(&SignalMessage::Ping { ts_ms: 42 }, DEFAULT_MAX_FRAME, &mut wire)?;
//! let mut decoder = FrameDecoder::default();
//! decoder.push(&wire[..3]);
//! assert!(decoder.next_frame().is_none());
//! decoder.push(&wire[3..]);
//! assert_eq!(decoder.next_frame(), Some(Ok(Decoded::Message(SignalMessage::Ping { ts_ms: 42 }))));
//! # Ok::<(), wzp_proto::ProtoError>(())
//! ```

#![forbid(unsafe_code)]

pub mod codec;
pub mod compact;
pub mod datagram;
pub mod error;
pub mod framing;
pub mod header;
pub mod quality;
pub mod signal;
pub mod types;

pub use codec::{CodecId, CodecInfo};
pub use compact::{Compressor, Expander, ExpanderStats, FrameKind, MINI_FRAME_FULL_INTERVAL};
pub use datagram::{
    Datagram, FORWARD_PREFIX_LEN, MINI_HEADER_LEN, MiniHeader, TAG_FULL, TAG_MINI, parse_forwarded,
    split_quality, write_forwarded, write_plain,
};
pub use error::{ProtoError, Result};
pub use framing::{DEFAULT_MAX_FRAME, FrameDecoder, FrameStats, write_frame};
pub use header::{Flags, MEDIA_HEADER_LEN, MEDIA_VERSION, MediaHeader};
pub use quality::{QUALITY_REPORT_LEN, QualityReport};
pub use signal::{
    Blob, CloseCode, Decoded, ErrorCode, HangupReason, PROTOCOL_VERSION, Participant, PublicKey,
    SUPPORTED_VERSIONS, SignalMessage, decode_body, write_body,
};
pub use types::{
    CallId, FecRatio, Fingerprint, MediaType, ParticipantId, RoomId, Seq, StreamId, TimestampMs,
};
