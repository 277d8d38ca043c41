//! The 16-byte v2 media header that starts every media datagram.
//!
//! Layout (big-endian), byte-compatible with the reference WZP v2:
//!
//! | byte  | field                                                      |
//! |-------|------------------------------------------------------------|
//! | 0     | version, always 0x02                                       |
//! | 1     | flags: 0x80 repair, 0x40 quality trailer, 0x20 keyframe, 0x10 frame end; 0x0f reserved, zero |
//! | 2     | media type 0..=3                                           |
//! | 3     | codec id                                                   |
//! | 4     | stream id                                                  |
//! | 5     | FEC ratio 0..=200 (hundredths)                             |
//! | 6-9   | sequence, u32                                              |
//! | 10-13 | timestamp ms, u32                                          |
//! | 14-15 | FEC block, u16                                             |
//!
//! The encoded header is also the AEAD associated data of the packet, so its
//! encoding must be canonical: one header, one byte string. That is why the
//! parser refuses reserved bits rather than ignoring them.

use serde::{Deserialize, Serialize};

use crate::codec::CodecId;
use crate::error::{ProtoError, Result, need};
use crate::types::{FecRatio, MediaType, Seq, StreamId, TimestampMs};

/// Wire format version carried in byte 0.
pub const MEDIA_VERSION: u8 = 0x02;

/// Encoded size of [`MediaHeader`].
pub const MEDIA_HEADER_LEN: usize = 16;

/// The per-packet flag bits of header byte 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Flags {
    /// FEC repair packet rather than source media.
    pub repair: bool,
    /// A 4-byte [`QualityReport`](crate::QualityReport) trailer follows the payload.
    pub quality_report: bool,
    /// Part of a frame that decodes without earlier frames.
    pub keyframe: bool,
    /// Last packet of a frame.
    pub frame_end: bool,
}

impl Flags {
    const REPAIR: u8 = 0x80;
    const QUALITY: u8 = 0x40;
    const KEYFRAME: u8 = 0x20;
    const FRAME_END: u8 = 0x10;
    const RESERVED: u8 = 0x0f;

    /// Parses the flags byte; reserved bits must be zero.
    pub fn from_byte(b: u8) -> Result<Self> {
        if b & Self::RESERVED != 0 {
            return Err(ProtoError::ReservedBits { flags: b });
        }
        Ok(Self {
            repair: b & Self::REPAIR != 0,
            quality_report: b & Self::QUALITY != 0,
            keyframe: b & Self::KEYFRAME != 0,
            frame_end: b & Self::FRAME_END != 0,
        })
    }

    /// The flags byte.
    #[must_use]
    pub fn byte(self) -> u8 {
        (if self.repair { Self::REPAIR } else { 0 })
            | (if self.quality_report {
                Self::QUALITY
            } else {
                0
            })
            | (if self.keyframe { Self::KEYFRAME } else { 0 })
            | (if self.frame_end { Self::FRAME_END } else { 0 })
    }
}

/// A decoded v2 media header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MediaHeader {
    /// Per-packet flags.
    pub flags: Flags,
    /// What the payload is.
    pub media_type: MediaType,
    /// How the payload is encoded.
    pub codec: CodecId,
    /// Stream within the sender (simulcast layer, or 0).
    pub stream: StreamId,
    /// FEC repair ratio in force for this packet's block.
    pub fec_ratio: FecRatio,
    /// Per-stream sequence number.
    pub seq: Seq,
    /// Media time of the frame this packet belongs to.
    pub timestamp: TimestampMs,
    /// FEC block (audio: low byte block id, high byte symbol index; video: frame fragment info).
    pub fec_block: u16,
}

impl MediaHeader {
    /// A header for a plain source packet with no flags, FEC or trailer.
    #[must_use]
    pub fn new(codec: CodecId, stream: StreamId, seq: Seq, timestamp: TimestampMs) -> Self {
        Self {
            flags: Flags::default(),
            media_type: codec.media_type(),
            codec,
            stream,
            fec_ratio: FecRatio::NONE,
            seq,
            timestamp,
            fec_block: 0,
        }
    }

    /// The 16 wire bytes.
    #[must_use]
    pub fn encode(&self) -> [u8; MEDIA_HEADER_LEN] {
        let mut b = [0u8; MEDIA_HEADER_LEN];
        b[0] = MEDIA_VERSION;
        b[1] = self.flags.byte();
        b[2] = self.media_type as u8;
        b[3] = self.codec.id();
        b[4] = self.stream.0;
        b[5] = self.fec_ratio.byte();
        b[6..10].copy_from_slice(&self.seq.0.to_be_bytes());
        b[10..14].copy_from_slice(&self.timestamp.0.to_be_bytes());
        b[14..16].copy_from_slice(&self.fec_block.to_be_bytes());
        b
    }

    /// Parses the first 16 bytes of `buf` (anything after them is ignored).
    ///
    /// Checks run in byte order, so the error names the first bad byte.
    pub fn decode(buf: &[u8]) -> Result<Self> {
        need(buf, MEDIA_HEADER_LEN, "media header")?;
        if buf[0] != MEDIA_VERSION {
            return Err(ProtoError::WrongVersion { found: buf[0] });
        }
        let flags = Flags::from_byte(buf[1])?;
        let media_type = MediaType::from_u8(buf[2])?;
        let codec = CodecId::from_u8(buf[3])?;
        let fec_ratio = FecRatio::from_byte(buf[5])?;
        Ok(Self {
            flags,
            media_type,
            codec,
            stream: StreamId(buf[4]),
            fec_ratio,
            seq: Seq(u32::from_be_bytes([buf[6], buf[7], buf[8], buf[9]])),
            timestamp: TimestampMs(u32::from_be_bytes([buf[10], buf[11], buf[12], buf[13]])),
            fec_block: u16::from_be_bytes([buf[14], buf[15]]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand-computed from the layout table above.
    const VECTOR: [u8; 16] = [
        0x02, // version
        0x70, // Q | keyframe | frame end
        0x01, // video
        0x09, // H.264 baseline
        0x02, // stream 2
        0x32, // fec ratio 0.50
        0x01, 0x02, 0x03, 0x04, // seq 0x01020304
        0xde, 0xad, 0xbe, 0xef, // ts 0xdeadbeef
        0x12, 0x34, // fec block
    ];

    fn vector_header() -> MediaHeader {
        MediaHeader {
            flags: Flags {
                repair: false,
                quality_report: true,
                keyframe: true,
                frame_end: true,
            },
            media_type: MediaType::Video,
            codec: CodecId::H264Baseline,
            stream: StreamId(2),
            fec_ratio: FecRatio::from_ratio(0.5),
            seq: Seq(0x0102_0304),
            timestamp: TimestampMs(0xdead_beef),
            fec_block: 0x1234,
        }
    }

    #[test]
    fn encodes_hand_computed_vector() {
        assert_eq!(vector_header().encode(), VECTOR);
    }

    #[test]
    fn decodes_hand_computed_vector() {
        assert_eq!(MediaHeader::decode(&VECTOR), Ok(vector_header()));
    }

    #[test]
    fn audio_vector_with_repair_flag() {
        let bytes = [
            0x02, 0x80, 0x00, 0x04, 0x00, 0x64, 0, 0, 0, 7, 0, 0, 0x03, 0xe8, 0x01, 0x05,
        ];
        let h = MediaHeader::decode(&bytes).unwrap_or_else(|e| panic!("{e}"));
        assert!(h.flags.repair && !h.flags.quality_report);
        assert_eq!(h.media_type, MediaType::Audio);
        assert_eq!(h.codec, CodecId::Codec2_1200);
        assert_eq!(h.fec_ratio.byte(), 100);
        assert_eq!(h.seq, Seq(7));
        assert_eq!(h.timestamp, TimestampMs(1000));
        assert_eq!(h.fec_block, 0x0105);
        assert_eq!(h.encode(), bytes);
    }

    #[test]
    fn distinct_errors() {
        let mut b = VECTOR;
        assert_eq!(
            MediaHeader::decode(&b[..15]),
            Err(ProtoError::Truncated {
                what: "media header",
                needed: 16,
                got: 15
            })
        );
        b[0] = 0x01;
        assert_eq!(
            MediaHeader::decode(&b),
            Err(ProtoError::WrongVersion { found: 1 })
        );
        b = VECTOR;
        b[1] = 0x71;
        assert_eq!(
            MediaHeader::decode(&b),
            Err(ProtoError::ReservedBits { flags: 0x71 })
        );
        b = VECTOR;
        b[2] = 4;
        assert_eq!(
            MediaHeader::decode(&b),
            Err(ProtoError::UnknownMediaType(4))
        );
        b = VECTOR;
        b[3] = 14;
        assert_eq!(MediaHeader::decode(&b), Err(ProtoError::UnknownCodec(14)));
        b = VECTOR;
        b[5] = 201;
        assert_eq!(
            MediaHeader::decode(&b),
            Err(ProtoError::FecRatioOutOfRange(201))
        );
    }
}
