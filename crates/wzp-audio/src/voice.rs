//! Voice processing on the send path: acoustic echo cancellation, noise
//! suppression and automatic gain control, each switchable.
//!
//! The engine is `sonora`, a pure-Rust port of WebRTC's audio processing
//! module: AEC3 (the echo canceller the issue names as the standard to
//! match), WebRTC noise suppression and AGC2. Pure Rust means no C++ build
//! and no system library on any platform, and the same code as the reference
//! design, so its behaviour under drift is AEC3's: a delay estimator that
//! follows the echo path when microphone and speakers run on different clocks,
//! rather than assuming one device.
//!
//! Sans-IO: [`VoiceProcessor::analyze_far_end`] takes what is about to be
//! played (the mix of remote participants), [`VoiceProcessor::process`] takes
//! the microphone frame and cleans it in place. Both take 10 ms multiples
//! (10/20/40/60 ms frames); the processor works in 10 ms steps inside. Call
//! order per frame: far end first, then near end, as on a device where the
//! playback buffer runs ahead of capture. Run it on the encoder's worker
//! thread, not in a device callback: AEC3 does real work (see
//! docs/BENCHMARKS.md, "Audio").

use sonora::config::{
    AdaptiveDigital, EchoCanceller, GainController2, HighPassFilter, NoiseSuppression,
    NoiseSuppressionLevel,
};
use sonora::{AudioProcessing, Config, StreamConfig};

use crate::drift::DriftCompensator;
use crate::error::{AudioError, Result};
use crate::frame::SAMPLE_RATE;

/// Samples in one 10 ms processing step at 48 kHz.
const STEP: usize = 480;

/// Which stages run. All on by default, as a calling app should ship.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VoiceConfig {
    /// Acoustic echo cancellation (AEC3) against the far-end reference.
    pub echo_cancellation: bool,
    /// Stationary noise suppression.
    pub noise_suppression: bool,
    /// Adaptive digital gain towards a speech level, with a limiter.
    pub gain_control: bool,
    /// A hint of the device round trip (playout buffer + capture buffer) in
    /// ms, when the device layer knows it. AEC3 estimates the delay itself;
    /// a hint only shortens convergence.
    pub delay_hint_ms: Option<u16>,
}

impl Default for VoiceConfig {
    fn default() -> Self {
        Self {
            echo_cancellation: true,
            noise_suppression: true,
            gain_control: true,
            delay_hint_ms: None,
        }
    }
}

impl VoiceConfig {
    /// Every stage off: the processor passes audio through untouched.
    #[must_use]
    pub fn off() -> Self {
        Self {
            echo_cancellation: false,
            noise_suppression: false,
            gain_control: false,
            delay_hint_ms: None,
        }
    }

    fn apm_config(&self) -> Config {
        Config {
            high_pass_filter: (self.echo_cancellation || self.noise_suppression)
                .then(HighPassFilter::default),
            echo_canceller: self.echo_cancellation.then(EchoCanceller::default),
            noise_suppression: self.noise_suppression.then_some(NoiseSuppression {
                level: NoiseSuppressionLevel::Moderate,
                analyze_linear_aec_output_when_available: true,
            }),
            gain_controller2: self.gain_control.then(|| GainController2 {
                adaptive_digital: Some(AdaptiveDigital::default()),
                ..GainController2::default()
            }),
            ..Config::default()
        }
    }

    /// Whether any stage runs (all off: no processor is needed at all).
    #[must_use]
    pub fn any(&self) -> bool {
        self.echo_cancellation || self.noise_suppression || self.gain_control
    }
}

/// What the echo canceller reports.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct VoiceStats {
    /// Echo return loss enhancement the canceller estimates, dB.
    pub erle_db: Option<f64>,
    /// Echo path delay the canceller found, ms.
    pub delay_ms: Option<i32>,
    /// Clock drift between playback and capture the processor measured on
    /// the echo path, ppm (negative: the echo comes earlier over time).
    pub drift_ppm: Option<f64>,
}

/// The send path's voice processor (see the module docs).
pub struct VoiceProcessor {
    apm: AudioProcessing,
    cfg: VoiceConfig,
    scratch: Vec<f32>,
    /// Far-end reference as fed to AEC3, after drift compensation.
    reference: Vec<f32>,
    drift: DriftCompensator,
}

impl std::fmt::Debug for VoiceProcessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoiceProcessor")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl VoiceProcessor {
    /// A 48 kHz mono processor with these stages.
    #[must_use]
    pub fn new(cfg: VoiceConfig) -> Self {
        let stream = StreamConfig::new(SAMPLE_RATE, 1);
        let apm = AudioProcessing::builder()
            .config(cfg.apm_config())
            .capture_config(stream)
            .render_config(stream)
            .build();
        let mut me = Self {
            apm,
            cfg,
            scratch: vec![0.0; STEP],
            reference: vec![0.0; STEP],
            drift: DriftCompensator::new(),
        };
        me.apply_delay_hint();
        me
    }

    /// Switches stages on or off live (the echo canceller keeps what it has
    /// learnt about the echo path when other stages change).
    pub fn set_config(&mut self, cfg: VoiceConfig) {
        if cfg != self.cfg {
            if cfg.echo_cancellation && !self.cfg.echo_cancellation {
                // The drift measurement saw no audio meanwhile: start it over.
                self.drift = DriftCompensator::new();
            }
            self.apm.apply_config(cfg.apm_config());
            self.cfg = cfg;
            self.apply_delay_hint();
        }
    }

    /// Stages in force.
    #[must_use]
    pub fn config(&self) -> VoiceConfig {
        self.cfg
    }

    fn apply_delay_hint(&mut self) {
        if let Some(d) = self.cfg.delay_hint_ms {
            // Clamping (over 500 ms) is reported as an error but still applied.
            if self.apm.set_stream_delay_ms(i32::from(d)).is_err() {
                tracing::debug!(delay_ms = d, "echo delay hint clamped to 500 ms");
            }
        }
    }

    fn check(len: usize) -> Result<()> {
        if len == 0 || len % STEP != 0 {
            return Err(AudioError::BufferSize {
                got: len,
                expected: STEP * len.div_ceil(STEP).max(1),
            });
        }
        Ok(())
    }

    /// Feeds the far-end reference: the audio about to be played out, in
    /// 10 ms multiples. Needed for echo cancellation only.
    pub fn analyze_far_end(&mut self, far: &[f32]) -> Result<()> {
        Self::check(far.len())?;
        if !self.cfg.echo_cancellation {
            return Ok(());
        }
        for chunk in far.chunks_exact(STEP) {
            if self.drift.far(chunk, &mut self.reference) {
                // The reference's delay stepped: AEC3 would keep its old
                // alignment for seconds (a shorter echo path sits outside its
                // filter), while a fresh AEC3 finds the path in about half a
                // second. Reset the echo canceller alone (NS and AGC keep
                // their state).
                self.apm.apply_config(
                    VoiceConfig {
                        echo_cancellation: false,
                        ..self.cfg
                    }
                    .apm_config(),
                );
                self.apm.apply_config(self.cfg.apm_config());
                self.apply_delay_hint();
            }
            self.apm
                .process_render_f32(&[&self.reference[..]], &mut [&mut self.scratch[..]])
                .map_err(|e| AudioError::Processing(e.to_string()))?;
        }
        Ok(())
    }

    /// Cleans a captured frame in place (10 ms multiples).
    pub fn process(&mut self, near: &mut [f32]) -> Result<()> {
        Self::check(near.len())?;
        if !self.cfg.any() {
            return Ok(());
        }
        for chunk in near.chunks_exact_mut(STEP) {
            if self.cfg.echo_cancellation {
                self.drift.mic(chunk);
            }
            self.scratch.copy_from_slice(chunk);
            self.apm
                .process_capture_f32(&[&self.scratch[..]], &mut [chunk])
                .map_err(|e| AudioError::Processing(e.to_string()))?;
        }
        Ok(())
    }

    /// The canceller's own estimates (ERLE, delay), when it has them.
    #[must_use]
    pub fn stats(&self) -> VoiceStats {
        let s = self.apm.statistics();
        VoiceStats {
            erle_db: s.echo_return_loss_enhancement,
            delay_ms: s.delay_ms,
            drift_ppm: self.drift.drift_ppm(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::io::{AudioSource, ToneSource};

    fn energy(x: &[f32]) -> f32 {
        x.iter().map(|v| v * v).sum()
    }

    #[test]
    fn all_off_is_a_pass_through() {
        let mut vp = VoiceProcessor::new(VoiceConfig::off());
        let mut tone = ToneSource::new(300.0, 0.3);
        let mut x = vec![0.0; 960];
        tone.pull(&mut x).unwrap();
        let before = x.clone();
        vp.analyze_far_end(&x).unwrap();
        vp.process(&mut x).unwrap();
        assert_eq!(x, before);
    }

    #[test]
    fn odd_frame_sizes_are_refused() {
        let mut vp = VoiceProcessor::new(VoiceConfig::default());
        assert!(vp.process(&mut [0.0; 500]).is_err());
        assert!(vp.analyze_far_end(&[0.0; 0]).is_err());
    }

    /// A processor with echo cancellation alone (noise suppression and gain control
    /// would change the energy the ERLE figures compare).
    fn aec_only() -> VoiceProcessor {
        VoiceProcessor::new(VoiceConfig {
            noise_suppression: false,
            gain_control: false,
            ..VoiceConfig::default()
        })
    }

    /// Far-end speech comes back into the microphone 60 ms later at -10 dB;
    /// after convergence the canceller removes most of it. (The echo bench
    /// measures delays, drift and ERLE properly; this guards the wiring.)
    #[test]
    fn echo_is_cancelled_after_convergence() {
        let mut vp = aec_only();
        let speech = crate::io::speech_asset();
        let delay = 60 * 48;
        let mut history = vec![0.0f32; delay];
        let (mut mic_e, mut out_e) = (0.0, 0.0);
        for (i, far) in speech.chunks_exact(960).enumerate() {
            vp.analyze_far_end(far).unwrap();
            history.extend_from_slice(far);
            let mut mic: Vec<f32> = history.drain(..960).map(|v| v * 0.316).collect();
            let m = energy(&mic);
            vp.process(&mut mic).unwrap();
            if i >= 250 {
                mic_e += m;
                out_e += energy(&mic);
            }
        }
        let erle = 10.0 * (mic_e / out_e.max(1e-12)).log10();
        assert!(erle > 20.0, "ERLE {erle:.1} dB");
    }

    /// The echo path shrinks by 500 ppm (two devices on different clocks):
    /// the processor measures the drift and the canceller keeps up (before the
    /// drift compensation this case lost 15-20 dB; see docs/BENCHMARKS.md).
    #[test]
    fn echo_is_cancelled_under_clock_drift() {
        let mut vp = aec_only();
        let speech = crate::io::speech_asset();
        let far: Vec<f32> = speech.iter().copied().cycle().take(16 * 48_000).collect();
        let mic: Vec<f32> = (0..far.len())
            .map(|n| {
                let p = n as f64 * (1.0 + 500e-6) - 50.0 * 48.0;
                let i = p.max(0.0) as usize;
                let f = (p - i as f64) as f32;
                match (far.get(i), far.get(i + 1)) {
                    (Some(a), Some(b)) if p >= 0.0 => 0.316 * (a * (1.0 - f) + b * f),
                    _ => 0.0,
                }
            })
            .collect();
        let (mut mic_e, mut out_e) = (0.0, 0.0);
        for (i, (f, m)) in far.chunks_exact(960).zip(mic.chunks_exact(960)).enumerate() {
            vp.analyze_far_end(f).unwrap();
            let mut out = m.to_vec();
            vp.process(&mut out).unwrap();
            if i >= 300 {
                mic_e += energy(m);
                out_e += energy(&out);
            }
        }
        let erle = 10.0 * (mic_e / out_e.max(1e-12)).log10();
        assert!(erle > 25.0, "ERLE {erle:.1} dB");
        let ppm = vp.stats().drift_ppm.unwrap();
        assert!((ppm + 500.0).abs() < 50.0, "drift {ppm:.0} ppm");
    }

    #[test]
    fn gain_control_raises_a_quiet_talker() {
        let mut vp = VoiceProcessor::new(VoiceConfig {
            echo_cancellation: false,
            noise_suppression: false,
            ..VoiceConfig::default()
        });
        let speech = crate::io::speech_asset();
        let (mut e_in, mut e_out) = (0.0, 0.0);
        for (i, f) in speech.chunks_exact(960).enumerate() {
            let mut x: Vec<f32> = f.iter().map(|v| v * 0.05).collect();
            let e = energy(&x);
            vp.process(&mut x).unwrap();
            if i >= 200 {
                e_in += e;
                e_out += energy(&x);
            }
        }
        let gain_db = 10.0 * (e_out / e_in).log10();
        assert!(gain_db > 6.0, "AGC gain {gain_db:.1} dB");
    }

    #[test]
    fn noise_suppression_lowers_steady_noise() {
        let mut vp = VoiceProcessor::new(VoiceConfig {
            echo_cancellation: false,
            gain_control: false,
            ..VoiceConfig::default()
        });
        let mut seed = 0x1234_5678_u32;
        let (mut e_in, mut e_out) = (0.0, 0.0);
        for i in 0..300 {
            let mut x: Vec<f32> = (0..960)
                .map(|_| {
                    seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (seed >> 8) as f32 / (1u32 << 24) as f32 * 0.02 - 0.01
                })
                .collect();
            let e = energy(&x);
            vp.process(&mut x).unwrap();
            if i >= 100 {
                e_in += e;
                e_out += energy(&x);
            }
        }
        let red_db = 10.0 * (e_in / e_out).log10();
        assert!(red_db > 6.0, "noise reduced by {red_db:.1} dB");
    }
}
