//! Adaptive quality: path measurements in, Opus tier out. Sans-IO.
//!
//! The tier follows the reference's classification (loss and RTT thresholds),
//! with jitter counted as extra RTT and the transport's bandwidth estimate as a
//! hard ceiling. Hysteresis keeps it from flapping: going down needs
//! [`QualityConfig::down_after`] consecutive worse reports and jumps straight to
//! the observed tier (losses hurt now); going up needs more consecutive better
//! reports and climbs one step at a time (a probe, not a leap). A room-wide
//! `QualityDirective` from the relay caps the result.

use wzp_proto::{CodecId, SignalMessage};

use crate::codec::{EncoderConfig, OPUS_TIERS, dred_frames_for, is_opus};

/// Measured loss (percent) from which the link counts as lossy and the
/// encoder spends CPU and bits on DRED.
pub const LOSSY_PCT: f32 = 5.0;

/// One report about the path to the receivers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PathReport {
    /// Packet loss in percent.
    pub loss_pct: f32,
    /// Round-trip time in ms.
    pub rtt_ms: u32,
    /// Interarrival jitter in ms.
    pub jitter_ms: u32,
    /// Transport's send-rate estimate in bits per second, if known.
    pub bandwidth_bps: Option<u32>,
}

/// Hysteresis settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QualityConfig {
    /// Consecutive worse reports before going down.
    pub down_after: u32,
    /// Consecutive better reports before one step up, below Opus 24k.
    pub up_after_low: u32,
    /// Consecutive better reports before one step up, at or above Opus 24k.
    pub up_after_high: u32,
    /// Per-packet overhead assumed when checking a tier against the bandwidth
    /// estimate (IP + UDP + QUIC + WZP header + AEAD tag), in bits per second
    /// at 50 packets per second.
    pub overhead_bps: u32,
}

impl Default for QualityConfig {
    fn default() -> Self {
        Self {
            down_after: 3,
            up_after_low: 5,
            up_after_high: 10,
            overhead_bps: 50 * 80 * 8,
        }
    }
}

fn rank(c: CodecId) -> usize {
    OPUS_TIERS
        .iter()
        .position(|t| *t == c)
        .unwrap_or(OPUS_TIERS.len() - 1)
}

fn tier(rank: usize) -> CodecId {
    OPUS_TIERS[rank.min(OPUS_TIERS.len() - 1)]
}

/// The tier a single report asks for, before hysteresis and cap.
#[must_use]
pub fn classify(r: &PathReport, overhead_bps: u32) -> CodecId {
    let rtt = r.rtt_ms + r.jitter_ms / 2;
    let loss = r.loss_pct;
    let by_path = if loss >= 15.0 || rtt >= 200 {
        CodecId::Opus6k
    } else if loss >= 5.0 || rtt >= 100 {
        CodecId::Opus16k
    } else if loss >= 2.0 || rtt >= 80 {
        CodecId::Opus24k
    } else if loss >= 1.0 || rtt >= 50 {
        CodecId::Opus32k
    } else if rtt >= 30 {
        CodecId::Opus48k
    } else {
        CodecId::Opus64k
    };
    let Some(bw) = r.bandwidth_bps else {
        return by_path;
    };
    // Best tier whose bitrate plus overhead fits 80% of the estimate.
    let by_bw = OPUS_TIERS
        .iter()
        .copied()
        .find(|c| {
            let bps = c.info().nominal_bps.unwrap_or(0) + overhead_bps;
            u64::from(bps) * 10 <= u64::from(bw) * 8
        })
        .unwrap_or(CodecId::Opus6k);
    tier(rank(by_path).max(rank(by_bw)))
}

/// The controller.
#[derive(Debug, Clone)]
pub struct QualityController {
    cfg: QualityConfig,
    chosen: CodecId,
    cap: CodecId,
    worse: u32,
    better: u32,
    last_loss: f32,
}

impl QualityController {
    /// Starts at `initial` (e.g. Opus 32k), uncapped.
    #[must_use]
    pub fn new(initial: CodecId, cfg: QualityConfig) -> Self {
        let initial = if is_opus(initial) {
            initial
        } else {
            CodecId::Opus32k
        };
        Self {
            cfg,
            chosen: initial,
            cap: CodecId::Opus64k,
            worse: 0,
            better: 0,
            last_loss: 0.0,
        }
    }

    /// The tier to use now (chosen tier under the room cap).
    #[must_use]
    pub fn current(&self) -> CodecId {
        tier(rank(self.chosen).max(rank(self.cap)))
    }

    /// The room cap in force.
    #[must_use]
    pub fn cap(&self) -> CodecId {
        self.cap
    }

    /// Takes a report; returns the new tier if [`QualityController::current`] changed.
    pub fn on_report(&mut self, r: &PathReport) -> Option<CodecId> {
        let before = self.current();
        self.last_loss = r.loss_pct.clamp(0.0, 100.0);
        let want = classify(r, self.cfg.overhead_bps);
        let (w, c) = (rank(want), rank(self.chosen));
        if w > c {
            self.better = 0;
            self.worse += 1;
            if self.worse >= self.cfg.down_after {
                self.chosen = want;
                self.worse = 0;
            }
        } else if w < c {
            self.worse = 0;
            self.better += 1;
            let need = if c <= rank(CodecId::Opus24k) {
                self.cfg.up_after_high
            } else {
                self.cfg.up_after_low
            };
            if self.better >= need {
                self.chosen = tier(c - 1);
                self.better = 0;
            }
        } else {
            self.worse = 0;
            self.better = 0;
        }
        let after = self.current();
        (after != before).then_some(after)
    }

    /// Applies a relay directive (`QualityDirective { max_audio_codec, .. }`);
    /// other messages are ignored. Returns the new tier if it changed.
    pub fn on_signal(&mut self, msg: &SignalMessage) -> Option<CodecId> {
        if let SignalMessage::QualityDirective {
            max_audio_codec, ..
        } = msg
        {
            return self.set_cap(*max_audio_codec);
        }
        None
    }

    /// Caps the tier (a non-Opus cap means the lowest Opus tier).
    pub fn set_cap(&mut self, cap: CodecId) -> Option<CodecId> {
        let before = self.current();
        self.cap = if is_opus(cap) { cap } else { CodecId::Opus6k };
        let after = self.current();
        (after != before).then_some(after)
    }

    /// Encoder settings for the current tier and loss. Below [`LOSSY_PCT`] loss:
    /// in-band FEC only. From it on, DRED where the tier can carry it, with a
    /// history growing with loss from the tier's baseline towards its ceiling
    /// (reference mapping). The loss hint is floored at 5%, the lowest at
    /// which libopus still emits FEC (a higher floor costs clean-link quality,
    /// see [`EncoderConfig::for_codec`]).
    #[must_use]
    pub fn encoder_config(&self) -> EncoderConfig {
        let codec = self.current();
        let base = f32::from(dred_frames_for(codec));
        let ceiling = match codec {
            CodecId::Opus6k => 104.0,
            CodecId::Opus16k | CodecId::Opus24k => 50.0,
            _ => 30.0,
        };
        let frac = self.last_loss.clamp(0.0, 40.0) / 40.0;
        let loss_hint = self.last_loss.max(5.0).round() as u8;
        if self.last_loss < LOSSY_PCT {
            // Clean link: in-band FEC only; DRED's analysis would cost CPU
            // on every frame for redundancy that is never used.
            return EncoderConfig {
                expected_loss_pct: loss_hint,
                ..EncoderConfig::for_codec(codec)
            };
        }
        EncoderConfig::lossy(
            codec,
            loss_hint,
            (base + frac * (ceiling - base)).round() as u8,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rep(loss: f32, rtt: u32) -> PathReport {
        PathReport {
            loss_pct: loss,
            rtt_ms: rtt,
            jitter_ms: 0,
            bandwidth_bps: None,
        }
    }

    #[test]
    fn downgrade_needs_three_reports_and_jumps() {
        let mut q = QualityController::new(CodecId::Opus64k, QualityConfig::default());
        assert_eq!(q.on_report(&rep(20.0, 10)), None);
        assert_eq!(q.on_report(&rep(20.0, 10)), None);
        assert_eq!(q.on_report(&rep(20.0, 10)), Some(CodecId::Opus6k));
    }

    #[test]
    fn upgrade_is_one_step_after_streak() {
        let mut q = QualityController::new(CodecId::Opus6k, QualityConfig::default());
        let mut changes = Vec::new();
        for _ in 0..12 {
            if let Some(c) = q.on_report(&rep(0.0, 10)) {
                changes.push(c);
            }
        }
        // 5 reports per step below 24k: 6k -> 16k -> 24k in 10 reports.
        assert_eq!(changes, vec![CodecId::Opus16k, CodecId::Opus24k]);
    }

    #[test]
    fn a_flapping_path_does_not_flap_the_tier() {
        let mut q = QualityController::new(CodecId::Opus32k, QualityConfig::default());
        for i in 0..40 {
            let r = if i % 2 == 0 {
                rep(20.0, 10)
            } else {
                rep(0.0, 10)
            };
            assert_eq!(q.on_report(&r), None);
        }
    }

    #[test]
    fn room_cap_limits_and_releases() {
        let mut q = QualityController::new(CodecId::Opus64k, QualityConfig::default());
        let d = SignalMessage::QualityDirective {
            max_audio_codec: CodecId::Opus24k,
            max_video_kbps: None,
            reason: None,
        };
        assert_eq!(q.on_signal(&d), Some(CodecId::Opus24k));
        assert_eq!(q.set_cap(CodecId::Opus64k), Some(CodecId::Opus64k));
    }

    #[test]
    fn bandwidth_estimate_is_a_ceiling() {
        let r = PathReport {
            bandwidth_bps: Some(60_000),
            ..rep(0.0, 10)
        };
        assert_eq!(classify(&r, 32_000), CodecId::Opus16k);
    }

    #[test]
    fn encoder_config_tracks_loss() {
        let mut q = QualityController::new(CodecId::Opus32k, QualityConfig::default());
        q.on_report(&rep(0.5, 40));
        let c = q.encoder_config();
        assert_eq!(c.expected_loss_pct, 5);
        assert_eq!(c.dred_frames, 0, "clean link: no DRED");
        q.on_report(&rep(12.0, 40));
        let c = q.encoder_config();
        if dred_frames_for(c.codec) > 0 {
            assert!(c.dred_frames >= 10, "{c:?}");
        }
    }
}
