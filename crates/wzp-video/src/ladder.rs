//! The rate ladder: from a bandwidth estimate and loss to resolution x frame rate
//! x bitrate, or video off. Sans-IO; time is an argument.
//!
//! Rules, in order:
//! 1. **Audio first**: a fixed reserve for audio comes off the estimate before
//!    video sees any of it; a call without video is still a call.
//! 2. **Loss costs**: above 2% loss the budget shrinks with the loss rate (the
//!    path is telling us it is full), down to half at 25% and beyond.
//! 3. **Smooth**: the video bitrate moves towards the budget by at most a factor of
//!    2 per second, up or down, so one bad estimate cannot collapse the picture.
//! 4. **Rungs with hysteresis**: the bitrate picks the highest rung it can feed;
//!    stepping up needs 25% headroom over the rung's minimum and two seconds on
//!    the current rung, because every resolution change costs a keyframe.

use std::time::{Duration, Instant};

/// One rung: a picture size and frame rate, and the bitrates that suit it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rung {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frames per second.
    pub fps: u32,
    /// Below this the rung looks worse than the one beneath it.
    pub min_bps: u32,
    /// Above this more bits buy little at this size.
    pub max_bps: u32,
}

/// The default ladder, best first: 720p30 down to 180p15; below the last rung's
/// minimum video is off.
pub const DEFAULT_LADDER: [Rung; 6] = [
    Rung {
        width: 1280,
        height: 720,
        fps: 30,
        min_bps: 1_200_000,
        max_bps: 2_500_000,
    },
    Rung {
        width: 960,
        height: 540,
        fps: 30,
        min_bps: 700_000,
        max_bps: 1_500_000,
    },
    Rung {
        width: 640,
        height: 360,
        fps: 30,
        min_bps: 400_000,
        max_bps: 900_000,
    },
    Rung {
        width: 640,
        height: 360,
        fps: 15,
        min_bps: 250_000,
        max_bps: 500_000,
    },
    Rung {
        width: 480,
        height: 270,
        fps: 15,
        min_bps: 150_000,
        max_bps: 300_000,
    },
    Rung {
        width: 320,
        height: 180,
        fps: 15,
        min_bps: 80_000,
        max_bps: 200_000,
    },
];

/// What the encoder should do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoTarget {
    /// Encode at this rung and bitrate.
    On {
        /// The rung.
        rung: Rung,
        /// Target bitrate, within the rung's range.
        bitrate_bps: u32,
    },
    /// Not enough bandwidth: send no video (audio keeps the call).
    Off,
}

/// Chooses a [`VideoTarget`] from bandwidth estimates and loss.
#[derive(Debug, Clone)]
pub struct RateLadder {
    rungs: Vec<Rung>,
    audio_reserve_bps: u32,
    /// Smoothed video bitrate.
    bitrate: f64,
    current: Option<usize>,
    changed_at: Option<Instant>,
    last_update: Option<Instant>,
}

/// Extra room needed over a rung's minimum before stepping up to it.
const UP_HEADROOM: f64 = 1.25;
/// Time on a rung before stepping up.
const UP_HOLD: Duration = Duration::from_secs(2);

impl RateLadder {
    /// A ladder over `rungs` (best first; rungs larger than the source should be
    /// left out by the caller), keeping `audio_reserve_bps` for audio, starting at
    /// `start_bps` of video.
    #[must_use]
    pub fn new(rungs: &[Rung], audio_reserve_bps: u32, start_bps: u32) -> Self {
        let mut ladder = Self {
            rungs: rungs.to_vec(),
            audio_reserve_bps,
            bitrate: f64::from(start_bps),
            current: None,
            changed_at: None,
            last_update: None,
        };
        ladder.current = ladder.best_for(ladder.bitrate, 1.0);
        ladder
    }

    /// The target in force.
    #[must_use]
    pub fn target(&self) -> VideoTarget {
        match self.current.and_then(|i| self.rungs.get(i)) {
            Some(&rung) => VideoTarget::On {
                rung,
                bitrate_bps: (self.bitrate as u32).clamp(rung.min_bps, rung.max_bps),
            },
            None => VideoTarget::Off,
        }
    }

    fn best_for(&self, bps: f64, headroom: f64) -> Option<usize> {
        self.rungs
            .iter()
            .position(|r| bps >= f64::from(r.min_bps) * headroom)
    }

    /// Feeds a new bandwidth estimate (bits per second, for everything this
    /// sender sends) and the loss fraction (0..=1) seen by receivers. Returns the
    /// new target if it changed.
    pub fn update(&mut self, now: Instant, bwe_bps: u32, loss: f32) -> Option<VideoTarget> {
        let before = self.target();
        let loss = if loss.is_finite() {
            f64::from(loss).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let after_audio = f64::from(bwe_bps.saturating_sub(self.audio_reserve_bps));
        let loss_factor = if loss <= 0.02 {
            1.0
        } else {
            (1.0 - 2.0 * (loss - 0.02)).max(0.5)
        };
        let budget = after_audio * loss_factor;
        let dt = self
            .last_update
            .map_or(0.0, |t| now.saturating_duration_since(t).as_secs_f64());
        self.last_update = Some(now);
        let step = 2f64.powf(dt.min(10.0));
        self.bitrate = budget.clamp(self.bitrate / step, self.bitrate * step);

        let down = self.best_for(self.bitrate, 1.0);
        let up = self.best_for(self.bitrate, UP_HEADROOM);
        let held = self
            .changed_at
            .is_none_or(|t| now.saturating_duration_since(t) >= UP_HOLD);
        // Rung indices grow downwards: a smaller index is a better rung.
        let next = match (self.current, down) {
            (_, None) => None,
            (None, Some(_)) => up.filter(|_| held),
            (Some(cur), Some(d)) if d > cur => Some(d),
            (Some(cur), Some(_)) => match up {
                Some(u) if u < cur && held => Some(u),
                _ => Some(cur),
            },
        };
        if next != self.current {
            self.current = next;
            self.changed_at = Some(now);
        }
        let after = self.target();
        (after != before).then_some(after)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn rung_of(t: VideoTarget) -> Option<(u32, u32)> {
        match t {
            VideoTarget::On { rung, .. } => Some((rung.height, rung.fps)),
            VideoTarget::Off => None,
        }
    }

    #[test]
    fn collapse_is_at_most_halving_per_second_then_off() {
        let t0 = Instant::now();
        let mut l = RateLadder::new(&DEFAULT_LADDER, 40_000, 2_000_000);
        assert_eq!(rung_of(l.target()), Some((720, 30)));
        let mut prev = 2_000_000.0;
        let mut off_at = None;
        for i in 1..=100u64 {
            l.update(t0 + Duration::from_millis(i * 100), 50_000, 0.0);
            // 10 updates per second: each may halve at most 2^0.1.
            assert!(l.bitrate >= prev / 2f64.powf(0.1) - 1.0);
            prev = l.bitrate;
            if off_at.is_none() && l.target() == VideoTarget::Off {
                off_at = Some(i);
            }
        }
        // 2 Mbps -> below 80 kbps takes log2(25) = 4.6 s.
        assert!(off_at.is_some_and(|i| (45..=50).contains(&i)), "{off_at:?}");
    }

    #[test]
    fn audio_first_and_loss_and_hysteresis() {
        let t0 = Instant::now();
        let mut l = RateLadder::new(&DEFAULT_LADDER, 40_000, 300_000);
        assert_eq!(rung_of(l.target()), Some((360, 15)));
        // Steady 1 Mbps: climbs, but only after holding each rung for 2 s.
        let mut changes = Vec::new();
        for i in 1..=100u64 {
            if let Some(t) = l.update(t0 + Duration::from_millis(i * 100), 1_000_000, 0.0) {
                changes.push((i, rung_of(t)));
            }
        }
        let rungs: Vec<_> = changes
            .iter()
            .filter(|c| c.1 != changes.first().and_then(|f| f.1).or(Some((360, 15))))
            .collect();
        assert!(!rungs.is_empty());
        let mut last_change: Option<(u64, Option<(u32, u32)>)> = None;
        for &&(i, r) in &rungs {
            if let Some((j, pr)) = last_change {
                if pr != r {
                    assert!(
                        i - j >= 20,
                        "rung changes {j} -> {i} closer than 2 s: {changes:?}"
                    );
                    last_change = Some((i, r));
                }
            } else {
                last_change = Some((i, r));
            }
        }
        // 1 Mbps - 40 kbps audio = 960 kbps: enough headroom for 540p30.
        assert_eq!(
            l.target(),
            VideoTarget::On {
                rung: DEFAULT_LADDER[1],
                bitrate_bps: 960_000
            }
        );
        // 20% loss on the same estimate costs ~36% of the budget.
        for i in 101..=200u64 {
            l.update(t0 + Duration::from_millis(i * 100), 1_000_000, 0.2);
        }
        assert!((l.bitrate - 960_000.0 * 0.64).abs() < 1.0, "{}", l.bitrate);
        assert_eq!(rung_of(l.target()), Some((360, 30)));
        // Only audio fits: video off; NaN loss is treated as none.
        let mut l = RateLadder::new(&DEFAULT_LADDER, 40_000, 60_000);
        assert_eq!(l.target(), VideoTarget::Off);
        assert_eq!(l.update(t0, 40_000, f32::NAN), None);
    }
}
