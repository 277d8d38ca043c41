//! Small value types that give raw wire integers their meaning.
//!
//! A `u32` on the wire may be a sequence number or a timestamp; mixing them up is
//! a bug the compiler can catch if they are different types.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{ProtoError, Result};

/// Per-stream packet sequence number. Wraps at 2^32; compare with [`Seq::diff`].
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Seq(pub u32);

impl Seq {
    /// The sequence number `n` steps after this one, wrapping.
    #[must_use]
    pub fn wrapping_add(self, n: u32) -> Seq {
        Seq(self.0.wrapping_add(n))
    }

    /// Signed distance `self - other`, taking wrap-around into account: the
    /// result is in `-2^31..2^31`, so "a little ahead across the wrap" is positive.
    #[must_use]
    pub fn diff(self, other: Seq) -> i64 {
        i64::from(self.0.wrapping_sub(other.0) as i32)
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Media timestamp in milliseconds since the sender's session start. Wraps at 2^32
/// (about 49.7 days) and is not reset on rekey.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct TimestampMs(pub u32);

impl TimestampMs {
    /// Signed distance `self - other` in milliseconds, wrap-aware.
    #[must_use]
    pub fn diff(self, other: TimestampMs) -> i64 {
        i64::from(self.0.wrapping_sub(other.0) as i32)
    }
}

impl fmt::Display for TimestampMs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ms", self.0)
    }
}

/// Stream within a sender: 0 for single-layer streams, simulcast layers 0 (low),
/// 1 (mid), 2 (high).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct StreamId(pub u8);

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A participant's number inside one room, assigned by the relay. It names the
/// sender of forwarded media and the addressee of key envelopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ParticipantId(pub u16);

impl fmt::Display for ParticipantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "p{}", self.0)
    }
}

/// What a media packet carries (byte 2 of the media header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum MediaType {
    /// Voice.
    Audio = 0,
    /// Camera or screen.
    Video = 1,
    /// Application data.
    Data = 2,
    /// In-band control.
    Control = 3,
}

impl MediaType {
    /// Parses the wire byte.
    pub fn from_u8(b: u8) -> Result<Self> {
        match b {
            0 => Ok(Self::Audio),
            1 => Ok(Self::Video),
            2 => Ok(Self::Data),
            3 => Ok(Self::Control),
            other => Err(ProtoError::UnknownMediaType(other)),
        }
    }

    /// Lower-case name, as used in text output.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Audio => "audio",
            Self::Video => "video",
            Self::Data => "data",
            Self::Control => "control",
        }
    }
}

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// FEC repair ratio as carried in header byte 5: `0..=200` meaning `0.0..=2.0`
/// (repair symbols per source symbol), in hundredths.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(try_from = "u8", into = "u8")]
pub struct FecRatio(u8);

impl FecRatio {
    /// Largest encodable value (ratio 2.0).
    pub const MAX: u8 = 200;
    /// No repair.
    pub const NONE: FecRatio = FecRatio(0);

    /// From the wire byte; values above 200 are an error.
    pub fn from_byte(b: u8) -> Result<Self> {
        if b > Self::MAX {
            Err(ProtoError::FecRatioOutOfRange(b))
        } else {
            Ok(Self(b))
        }
    }

    /// From a ratio, rounded to hundredths and clamped to `0.0..=2.0`
    /// (NaN becomes 0): a controller asking for more repair than the wire can
    /// express gets the most it can express.
    #[must_use]
    pub fn from_ratio(r: f32) -> Self {
        if r.is_nan() || r <= 0.0 {
            return Self(0);
        }
        let hundredths = (r * 100.0).round();
        if hundredths >= f32::from(Self::MAX) {
            Self(Self::MAX)
        } else {
            Self(hundredths as u8)
        }
    }

    /// The ratio as a float.
    #[must_use]
    pub fn ratio(self) -> f32 {
        f32::from(self.0) / 100.0
    }

    /// The wire byte.
    #[must_use]
    pub fn byte(self) -> u8 {
        self.0
    }
}

impl TryFrom<u8> for FecRatio {
    type Error = ProtoError;
    fn try_from(b: u8) -> Result<Self> {
        Self::from_byte(b)
    }
}

impl From<FecRatio> for u8 {
    fn from(r: FecRatio) -> u8 {
        r.0
    }
}

macro_rules! hex_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; 16]);

        impl $name {
            /// Parses 32 hex digits; `:` separators (as in the display form) are allowed.
            pub fn parse(s: &str) -> Result<Self> {
                let clean: String = s.chars().filter(|c| *c != ':').collect();
                let mut out = [0u8; 16];
                hex::decode_to_slice(&clean, &mut out).map_err(|e| ProtoError::InvalidText {
                    what: $what,
                    reason: format!("{e} (want 32 hex digits)"),
                })?;
                Ok(Self(out))
            }

            /// 32 lower-case hex digits, no separators.
            #[must_use]
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_hex())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

hex_id!(
    /// An identity's fingerprint: SHA-256 of its Ed25519 public key, first 16
    /// bytes. Displayed as 8 groups of 4 hex digits joined by `:`.
    Fingerprint,
    "fingerprint"
);

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, pair) in self.0.chunks(2).enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(
                f,
                "{:02x}{:02x}",
                pair[0],
                pair.get(1).copied().unwrap_or(0)
            )?;
        }
        Ok(())
    }
}

hex_id!(
    /// A room as the relay knows it: a hash of the room name, so the relay routes
    /// rooms without learning their names.
    RoomId,
    "room id"
);

impl RoomId {
    /// The room id for a human room name: `SHA-256("featherchat-group:" || name)[0..16]`,
    /// the reference's convention, so the same name meets in the same room.
    #[must_use]
    pub fn from_name(name: &str) -> Self {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(b"featherchat-group:");
        h.update(name.as_bytes());
        let digest = h.finalize();
        let mut out = [0u8; 16];
        out.copy_from_slice(&digest[..16]);
        Self(out)
    }
}

impl fmt::Display for RoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

hex_id!(
    /// A direct call's identifier, chosen at random by the caller.
    CallId,
    "call id"
);

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_diff_wraps() {
        assert_eq!(Seq(1).diff(Seq(u32::MAX)), 2);
        assert_eq!(Seq(u32::MAX).diff(Seq(1)), -2);
        assert_eq!(Seq(u32::MAX).wrapping_add(3), Seq(2));
    }

    #[test]
    fn fec_ratio_encoding() {
        assert_eq!(FecRatio::from_ratio(0.5).byte(), 50);
        assert_eq!(FecRatio::from_ratio(2.0).byte(), 200);
        assert_eq!(FecRatio::from_ratio(9.0).byte(), 200);
        assert_eq!(FecRatio::from_ratio(-1.0).byte(), 0);
        assert_eq!(FecRatio::from_ratio(f32::NAN).byte(), 0);
        assert_eq!(
            FecRatio::from_byte(201),
            Err(ProtoError::FecRatioOutOfRange(201))
        );
        assert!((FecRatio::from_byte(25).map(FecRatio::ratio).unwrap_or(0.0) - 0.25).abs() < 1e-6);
    }

    #[test]
    fn fingerprint_display_and_parse() {
        let fp = Fingerprint([
            0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55,
            0x66, 0x77,
        ]);
        let s = fp.to_string();
        assert_eq!(s, "0123:4567:89ab:cdef:0011:2233:4455:6677");
        assert_eq!(Fingerprint::parse(&s), Ok(fp));
        assert!(matches!(
            Fingerprint::parse("0123"),
            Err(ProtoError::InvalidText {
                what: "fingerprint",
                ..
            })
        ));
    }

    #[test]
    fn room_id_matches_reference_hash() {
        // sha256("featherchat-group:test") computed independently with coreutils:
        // printf 'featherchat-group:test' | sha256sum
        let id = RoomId::from_name("test");
        assert_eq!(id.to_hex(), "f33756955bd215d4a17cc091d25f3df1");
        assert_ne!(id, RoomId::from_name("Test"));
    }
}
