//! Mixing N participants into one output, and a per-participant speaking level.

use crate::frame::rms;

/// Sums participants' frames with a limiter so that several loud speakers
/// never clip: a frame-rate gain that drops at once to fit the peak and
/// recovers slowly (no pumping on every syllable), then a soft knee above
/// [`Mixer::KNEE`] for anything the gain ramp missed.
#[derive(Debug, Clone)]
pub struct Mixer {
    acc: Vec<f32>,
    gain: f32,
}

impl Mixer {
    /// Output peak the limiter aims for.
    pub const CEILING: f32 = 0.95;
    /// Level above which samples are softly compressed.
    pub const KNEE: f32 = 0.8;
    /// Gain recovery per frame (multiplicative).
    const RELEASE: f32 = 1.02;

    /// A mixer for frames of `frame_samples`.
    #[must_use]
    pub fn new(frame_samples: usize) -> Self {
        Self {
            acc: vec![0.0; frame_samples],
            gain: 1.0,
        }
    }

    /// Current limiter gain (1.0 when not limiting).
    #[must_use]
    pub fn gain(&self) -> f32 {
        self.gain
    }

    /// Mixes `inputs` (each a frame, shorter ones are zero-padded) into `out`.
    pub fn mix<'a>(&mut self, inputs: impl IntoIterator<Item = &'a [f32]>, out: &mut [f32]) {
        self.acc.resize(out.len(), 0.0);
        self.acc.fill(0.0);
        for input in inputs {
            for (a, s) in self.acc.iter_mut().zip(input) {
                *a += *s;
            }
        }
        let peak = self.acc.iter().fold(0.0f32, |m, s| m.max(s.abs()));
        let fit = if peak > Self::CEILING {
            Self::CEILING / peak
        } else {
            1.0
        };
        let start = self.gain;
        let end = fit.min(self.gain * Self::RELEASE).min(1.0);
        let n = out.len().max(1) as f32;
        for (i, (o, a)) in out.iter_mut().zip(&self.acc).enumerate() {
            // Attack: use the lower of the ramp and the frame's fit at once.
            let g = if end < start {
                end
            } else {
                start + (end - start) * (i as f32 / n)
            };
            *o = soft_clip(*a * g);
        }
        self.gain = end;
    }
}

/// Identity below the knee, smooth approach to 1.0 above it.
fn soft_clip(x: f32) -> f32 {
    let k = Mixer::KNEE;
    let a = x.abs();
    if a <= k {
        return x;
    }
    let over = (a - k) / (1.0 - k);
    let y = k + (1.0 - k) * (over / (1.0 + over));
    y.copysign(x)
}

/// What the UI shows for a participant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpeakingLevel {
    /// Level in 0.0..=1.0 (dBFS mapped from -60..0), smoothed.
    pub level: f32,
    /// Voice activity with a hangover, so the indicator does not flicker.
    pub speaking: bool,
}

/// Energy-based voice activity with an adaptive noise floor.
#[derive(Debug, Clone)]
pub struct LevelMeter {
    floor_db: f32,
    level_db: f32,
    hang: u32,
    hang_frames: u32,
}

impl LevelMeter {
    /// A meter for frames of `frame_ms`, holding "speaking" for 300 ms after speech.
    #[must_use]
    pub fn new(frame_ms: u32) -> Self {
        Self {
            floor_db: -60.0,
            level_db: -90.0,
            hang: 0,
            hang_frames: (300 / frame_ms.max(1)).max(1),
        }
    }

    /// Updates with one frame.
    pub fn update(&mut self, frame: &[f32]) -> SpeakingLevel {
        let db = 20.0 * rms(frame).max(1e-6).log10();
        // The floor follows quiet frames quickly and loud ones very slowly.
        self.floor_db += if db < self.floor_db {
            (db - self.floor_db) * 0.3
        } else {
            0.05
        };
        self.level_db += (db - self.level_db) * if db > self.level_db { 1.0 } else { 0.15 };
        let voiced = db > -50.0 && db > self.floor_db + 9.0;
        if voiced {
            self.hang = self.hang_frames;
        } else {
            self.hang = self.hang.saturating_sub(1);
        }
        SpeakingLevel {
            level: ((self.level_db + 60.0) / 60.0).clamp(0.0, 1.0),
            speaking: self.hang > 0,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::io::{AudioSource, ToneSource};

    #[test]
    fn loud_participants_never_clip() {
        let mut m = Mixer::new(960);
        let mut tones: Vec<ToneSource> = (0..5)
            .map(|i| ToneSource::new(200.0 + 50.0 * i as f32, 0.9))
            .collect();
        let mut frames = vec![vec![0.0; 960]; 5];
        let mut out = vec![0.0; 960];
        for _ in 0..50 {
            for (t, f) in tones.iter_mut().zip(frames.iter_mut()) {
                t.pull(f).unwrap();
            }
            m.mix(frames.iter().map(|f| f.as_slice()), &mut out);
            assert!(out.iter().all(|s| s.abs() <= 1.0));
        }
        assert!(m.gain() < 0.5);
    }

    #[test]
    fn a_single_quiet_voice_passes_unchanged() {
        let mut m = Mixer::new(960);
        let mut t = ToneSource::new(300.0, 0.3);
        let mut f = vec![0.0; 960];
        t.pull(&mut f).unwrap();
        let mut out = vec![0.0; 960];
        m.mix([f.as_slice()], &mut out);
        assert_eq!(out, f);
    }

    #[test]
    fn speaking_follows_voice_with_hangover() {
        let mut lm = LevelMeter::new(20);
        let quiet = vec![0.0005; 960];
        for _ in 0..20 {
            assert!(!lm.update(&quiet).speaking);
        }
        let mut t = ToneSource::new(300.0, 0.3);
        let mut f = vec![0.0; 960];
        t.pull(&mut f).unwrap();
        let s = lm.update(&f);
        assert!(s.speaking && s.level > 0.5);
        assert!(lm.update(&quiet).speaking, "hangover");
        for _ in 0..20 {
            lm.update(&quiet);
        }
        assert!(!lm.update(&quiet).speaking);
    }
}
