//! The codec table: codec ids 0..=13 as the WZP v2 wire format numbers them.
//!
//! The table is data, not behaviour: it tells a receiver what clock and frame
//! size a codec id implies, and the quality controller what each tier costs.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{ProtoError, Result};
use crate::types::MediaType;

/// A codec id (header byte 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
#[repr(u8)]
#[allow(missing_docs)] // the table below documents each id
pub enum CodecId {
    Opus24k = 0,
    Opus16k = 1,
    Opus6k = 2,
    Codec2_3200 = 3,
    Codec2_1200 = 4,
    ComfortNoise = 5,
    Opus32k = 6,
    Opus48k = 7,
    Opus64k = 8,
    H264Baseline = 9,
    H264Main = 10,
    H265Main = 11,
    Av1Main = 12,
    /// Reserved; may never be implemented.
    Vp9 = 13,
}

/// What a codec id implies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodecInfo {
    /// Human name.
    pub name: &'static str,
    /// Audio or video.
    pub media_type: MediaType,
    /// RTP-style clock rate in Hz (the codec's sample rate for audio, 90 kHz for video).
    pub clock_rate_hz: u32,
    /// Frame duration in ms for audio codecs; `None` for video (frame rate varies).
    pub frame_ms: Option<u16>,
    /// Nominal bitrate in bits per second; `None` for video (set by rate control).
    pub nominal_bps: Option<u32>,
}

const fn audio(name: &'static str, clock: u32, frame_ms: u16, bps: u32) -> CodecInfo {
    CodecInfo {
        name,
        media_type: MediaType::Audio,
        clock_rate_hz: clock,
        frame_ms: Some(frame_ms),
        nominal_bps: Some(bps),
    }
}

const fn video(name: &'static str) -> CodecInfo {
    CodecInfo {
        name,
        media_type: MediaType::Video,
        clock_rate_hz: 90_000,
        frame_ms: None,
        nominal_bps: None,
    }
}

impl CodecId {
    /// Every codec id in wire order.
    pub const ALL: [CodecId; 14] = [
        Self::Opus24k,
        Self::Opus16k,
        Self::Opus6k,
        Self::Codec2_3200,
        Self::Codec2_1200,
        Self::ComfortNoise,
        Self::Opus32k,
        Self::Opus48k,
        Self::Opus64k,
        Self::H264Baseline,
        Self::H264Main,
        Self::H265Main,
        Self::Av1Main,
        Self::Vp9,
    ];

    /// Parses the wire byte.
    pub fn from_u8(b: u8) -> Result<Self> {
        Self::ALL
            .get(usize::from(b))
            .copied()
            .ok_or(ProtoError::UnknownCodec(b))
    }

    /// The wire byte.
    #[must_use]
    pub fn id(self) -> u8 {
        self as u8
    }

    /// The table row for this codec.
    #[must_use]
    pub fn info(self) -> CodecInfo {
        match self {
            Self::Opus24k => audio("Opus 24k", 48_000, 20, 24_000),
            Self::Opus16k => audio("Opus 16k", 48_000, 20, 16_000),
            Self::Opus6k => audio("Opus 6k", 48_000, 40, 6_000),
            Self::Codec2_3200 => audio("Codec2 3200", 8_000, 20, 3_200),
            Self::Codec2_1200 => audio("Codec2 1200", 8_000, 40, 1_200),
            Self::ComfortNoise => audio("Comfort noise", 48_000, 20, 0),
            Self::Opus32k => audio("Opus 32k", 48_000, 20, 32_000),
            Self::Opus48k => audio("Opus 48k", 48_000, 20, 48_000),
            Self::Opus64k => audio("Opus 64k", 48_000, 20, 64_000),
            Self::H264Baseline => video("H.264 Baseline"),
            Self::H264Main => video("H.264 Main"),
            Self::H265Main => video("H.265 Main"),
            Self::Av1Main => video("AV1 Main"),
            Self::Vp9 => video("VP9 (reserved)"),
        }
    }

    /// Audio or video.
    #[must_use]
    pub fn media_type(self) -> MediaType {
        self.info().media_type
    }
}

impl TryFrom<u8> for CodecId {
    type Error = ProtoError;
    fn try_from(b: u8) -> Result<Self> {
        Self::from_u8(b)
    }
}

impl From<CodecId> for u8 {
    fn from(c: CodecId) -> u8 {
        c.id()
    }
}

impl fmt::Display for CodecId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.info().name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_match_reference_numbers() {
        for (i, c) in CodecId::ALL.iter().enumerate() {
            assert_eq!(usize::from(c.id()), i);
            assert_eq!(CodecId::from_u8(c.id()), Ok(*c));
        }
        assert_eq!(CodecId::Opus64k.id(), 8);
        assert_eq!(CodecId::H264Baseline.id(), 9);
        assert_eq!(CodecId::from_u8(14), Err(ProtoError::UnknownCodec(14)));
    }

    #[test]
    fn table_rows() {
        let o6 = CodecId::Opus6k.info();
        assert_eq!(
            (o6.clock_rate_hz, o6.frame_ms, o6.nominal_bps),
            (48_000, Some(40), Some(6_000))
        );
        let c2 = CodecId::Codec2_1200.info();
        assert_eq!((c2.clock_rate_hz, c2.frame_ms), (8_000, Some(40)));
        assert_eq!(CodecId::Av1Main.media_type(), MediaType::Video);
        assert_eq!(CodecId::ComfortNoise.media_type(), MediaType::Audio);
    }
}
