//! The 4-byte QualityReport a receiver attaches to a packet it sends, telling its
//! peer how the path looks from its side.
//!
//! | byte | field            | encoding                      |
//! |------|------------------|-------------------------------|
//! | 0    | loss             | 0..=255 maps to 0..=100 %     |
//! | 1    | rtt              | 4 ms units, 0..=1020 ms       |
//! | 2    | jitter           | ms, 0..=255                   |
//! | 3    | bitrate cap      | kbps, 0..=255                 |
//!
//! Under end-to-end encryption the trailer is sealed with the payload, so the
//! relay cannot read or change it.

use serde::{Deserialize, Serialize};

use crate::error::{Result, need};

/// Encoded size of [`QualityReport`].
pub const QUALITY_REPORT_LEN: usize = 4;

/// A path quality report, stored as its wire bytes (every byte value is valid).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct QualityReport {
    /// Loss, 255 = 100 %.
    pub loss: u8,
    /// Round-trip time in units of 4 ms.
    pub rtt_4ms: u8,
    /// Jitter in ms.
    pub jitter_ms: u8,
    /// The bitrate the reporter can take, in kbps.
    pub bitrate_cap_kbps: u8,
}

impl QualityReport {
    /// Builds a report from measurements, saturating each at what the byte can hold.
    #[must_use]
    pub fn from_measurements(
        loss_pct: f32,
        rtt_ms: u32,
        jitter_ms: u32,
        bitrate_cap_kbps: u32,
    ) -> Self {
        let loss = if loss_pct.is_nan() || loss_pct <= 0.0 {
            0
        } else if loss_pct >= 100.0 {
            255
        } else {
            (loss_pct * 2.55).round() as u8
        };
        Self {
            loss,
            rtt_4ms: u8::try_from(rtt_ms.div_ceil(4)).unwrap_or(u8::MAX),
            jitter_ms: u8::try_from(jitter_ms).unwrap_or(u8::MAX),
            bitrate_cap_kbps: u8::try_from(bitrate_cap_kbps).unwrap_or(u8::MAX),
        }
    }

    /// Loss in percent, 0.0..=100.0.
    #[must_use]
    pub fn loss_pct(&self) -> f32 {
        f32::from(self.loss) / 2.55
    }

    /// Round-trip time in ms.
    #[must_use]
    pub fn rtt_ms(&self) -> u32 {
        u32::from(self.rtt_4ms) * 4
    }

    /// The 4 wire bytes.
    #[must_use]
    pub fn encode(&self) -> [u8; QUALITY_REPORT_LEN] {
        [
            self.loss,
            self.rtt_4ms,
            self.jitter_ms,
            self.bitrate_cap_kbps,
        ]
    }

    /// Parses the first 4 bytes of `buf`.
    pub fn decode(buf: &[u8]) -> Result<Self> {
        need(buf, QUALITY_REPORT_LEN, "quality report")?;
        Ok(Self {
            loss: buf[0],
            rtt_4ms: buf[1],
            jitter_ms: buf[2],
            bitrate_cap_kbps: buf[3],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ProtoError;

    #[test]
    fn vector() {
        // 10 % loss -> 25.5 -> 26; 101 ms -> 26 units (104 ms); 7 ms; 200 kbps.
        let q = QualityReport::from_measurements(10.0, 101, 7, 200);
        assert_eq!(q.encode(), [26, 26, 7, 200]);
        assert_eq!(QualityReport::decode(&[26, 26, 7, 200]), Ok(q));
        assert_eq!(q.rtt_ms(), 104);
        assert!((q.loss_pct() - 10.196).abs() < 0.01);
    }

    #[test]
    fn saturates() {
        let q = QualityReport::from_measurements(250.0, 5000, 999, 100_000);
        assert_eq!(q.encode(), [255, 255, 255, 255]);
        assert_eq!(QualityReport::from_measurements(f32::NAN, 0, 0, 0).loss, 0);
    }

    #[test]
    fn truncated() {
        assert_eq!(
            QualityReport::decode(&[1, 2, 3]),
            Err(ProtoError::Truncated {
                what: "quality report",
                needed: 4,
                got: 3
            })
        );
    }
}
