//! Clock-drift compensation of the echo canceller's far-end reference.
//!
//! Why: when the playback and capture devices run on different clocks and the
//! far end is paired frame for frame with the microphone, the echo path delay
//! creeps (500 ppm: 0.5 ms per second). AEC3 follows a creeping delay only by
//! re-aligning its render buffer in whole 4 ms blocks, and every re-alignment
//! resets its adaptive filters; between re-alignments the echo slides towards
//! the edge of the filter. At 500 ppm that costs 15-20 dB of echo return loss
//! enhancement at most delays (see docs/BENCHMARKS.md). AEC3's own
//! configuration (headroom, hysteresis) is not reachable through `sonora`.
//!
//! What: this module measures the echo delay itself (cross-correlation of the
//! microphone against the far end, decimated to 8 kHz, sub-sample by parabolic
//! interpolation), fits its slope over the last seconds, and once a drift is
//! clear feeds AEC3 a reference passed through a fractional delay line whose
//! delay follows the echo path. AEC3 then sees a (nearly) fixed delay and keeps
//! its filters. The line's range is bounded, so at a large drift it steps back
//! now and then (every 40-160 s at 500 ppm: one re-alignment instead of one
//! every few seconds).
//! Without drift it never engages and the reference passes through untouched.
//!
//! Sans-IO and frame-driven like the processor that owns it.

use std::collections::VecDeque;
use std::f64::consts::PI;

/// 48 kHz samples per 8 kHz sample.
const DEC: usize = 6;
/// Correlation window: 1 s at 8 kHz.
const WIN: usize = 8000;
/// A delay estimate every 0.5 s (8 kHz samples of microphone).
const HOP: u64 = 4000;
/// Longest echo delay searched: 500 ms at 8 kHz (AEC3's own range is similar).
const MAX_LAG: usize = 4000;
/// Coarse search decimation: 8 kHz / 4 = 2 kHz.
const COARSE: usize = 4;
/// Fine search half-width around the coarse lag, 8 kHz samples (±4 ms: a
/// coarse peak one pitch period off is still found).
const FINE_SPAN: i64 = 32;
/// Tracking half-width around the last lag, 8 kHz samples (±1 ms, twice what a
/// 1000 ppm drift moves in one hop).
const TRACK_SPAN: i64 = 8;
/// Normalised correlation below which a window says nothing (silence, double
/// talk, no echo at all).
const MIN_CORR: f64 = 0.3;
/// Estimates kept for the slope fit (20 s).
const MAX_POINTS: usize = 40;
/// Fewest estimates, and shortest span in 48 kHz samples, before a fit is
/// trusted.
const MIN_POINTS: usize = 6;
const MIN_SPAN: f64 = 2.5 * 48_000.0;
/// Smallest drift compensated: below it AEC3's own tracking is good (36 dB at
/// 100 ppm in the echo bench) and the line would cost for nothing.
const MIN_DRIFT: f64 = 40e-6;
/// Interpolator: taps and phases of the windowed-sinc fractional delay.
const TAPS: usize = 16;
const PHASES: usize = 256;
/// Delay line range, 48 kHz samples: the interpolator needs `TAPS / 2` future
/// samples; 100 ms at most (memory, and the canceller's apparent delay).
const LINE_MIN: f64 = 16.0;
const LINE_MAX: f64 = 4800.0;
/// Where the line sits once the echo is found: 20 ms (or the echo delay less
/// 4 ms, if shorter), so it has room to follow the echo path either way (40 s
/// of a shrinking path at 500 ppm) without a step. Set at the first delay
/// estimate, about a second into the call, while AEC3 is converging anyway:
/// a step later costs AEC3 a re-alignment (up to 2-3 s without cancellation).
const LINE_HOME: f64 = 960.0;
const LINE_GUARD: f64 = 192.0;

/// Box decimator: averages `DEC` samples (aliasing is harmless to a delay
/// estimate, and it costs one add per sample).
#[derive(Debug, Default)]
struct Decim {
    acc: f32,
    n: usize,
}

impl Decim {
    fn push(&mut self, x: f32, out: &mut VecDeque<f32>) {
        self.acc += x;
        self.n += 1;
        if self.n == DEC {
            out.push_back(self.acc / DEC as f32);
            self.acc = 0.0;
            self.n = 0;
        }
    }
}

/// The far-end reference's drift compensator (see the module docs).
#[derive(Debug)]
pub(crate) struct DriftCompensator {
    /// 48 kHz far end, for the delay line; `far_base` is the index of `far[0]`.
    far: VecDeque<f32>,
    far_base: u64,
    far_count: u64,
    /// 8 kHz far end and microphone; their bases are absolute 8 kHz indices.
    far8: VecDeque<f32>,
    far8_base: u64,
    mic8: VecDeque<f32>,
    mic8_base: u64,
    far_dec: Decim,
    mic_dec: Decim,
    next_estimate: u64,
    /// Echo delay in 8 kHz samples, once found.
    lag8: Option<f64>,
    /// Whole-range searches that found no echo.
    misses: u32,
    /// (48 kHz sample index, echo delay in 48 kHz samples).
    points: VecDeque<(f64, f64)>,
    /// Delay line: current delay and its change per sample, 48 kHz samples.
    line: f64,
    rate: f64,
    /// Echo delay the canceller should see while tracking (echo delay - line).
    apparent: f64,
    /// The line is in the reference path (the echo delay is known).
    line_on: bool,
    /// The line follows a measured drift.
    tracking: bool,
    /// The line's delay stepped since the last far-end chunk: the canceller's
    /// echo path moved at once.
    stepped: bool,
    /// Measured drift, echo delay change per sample.
    slope: f64,
    table: Vec<[f32; TAPS]>,
}

impl DriftCompensator {
    pub(crate) fn new() -> Self {
        Self {
            far: VecDeque::new(),
            far_base: 0,
            far_count: 0,
            far8: VecDeque::new(),
            far8_base: 0,
            mic8: VecDeque::new(),
            mic8_base: 0,
            far_dec: Decim::default(),
            mic_dec: Decim::default(),
            next_estimate: WIN as u64,
            lag8: None,
            misses: 0,
            points: VecDeque::new(),
            line: 0.0,
            rate: 0.0,
            apparent: 0.0,
            line_on: false,
            tracking: false,
            stepped: false,
            slope: 0.0,
            table: sinc_table(),
        }
    }

    /// Drift measured, ppm of echo delay change (negative: the echo comes
    /// earlier over time), once a fit is trusted.
    pub(crate) fn drift_ppm(&self) -> Option<f64> {
        (self.points.len() >= MIN_POINTS).then_some(self.slope * 1e6)
    }

    /// Takes a far-end chunk and writes the reference for the canceller.
    /// True when the reference's delay stepped (the echo path the canceller
    /// has learnt is no longer valid) at this chunk.
    pub(crate) fn far(&mut self, far: &[f32], reference: &mut [f32]) -> bool {
        let stepped = std::mem::take(&mut self.stepped);
        for &x in far {
            self.far.push_back(x);
            self.far_dec.push(x, &mut self.far8);
        }
        // 100 ms line + interpolator taps + one chunk.
        let keep = LINE_MAX as usize + TAPS + far.len();
        while self.far.len() > keep {
            self.far.pop_front();
            self.far_base += 1;
        }
        let keep8 = WIN + MAX_LAG + 2 * FINE_SPAN as usize + 64;
        while self.far8.len() > keep8 {
            self.far8.pop_front();
            self.far8_base += 1;
        }
        let start = self.far_count;
        self.far_count += far.len() as u64;
        if !self.line_on {
            reference.copy_from_slice(far);
            return stepped;
        }
        if self.rate == 0.0 && self.line.fract() == 0.0 {
            // No drift: a whole-sample delay, a plain copy.
            let first = ((start as f64 - self.line) as u64).saturating_sub(self.far_base);
            for (k, out) in reference.iter_mut().enumerate() {
                *out = self.far.get(first as usize + k).copied().unwrap_or(0.0);
            }
            return stepped;
        }
        self.far.make_contiguous();
        for (k, out) in reference.iter_mut().enumerate() {
            let pos = (start + k as u64) as f64 - self.line;
            *out = self.interp(pos);
            self.line += self.rate;
        }
        self.keep_line_in_range();
        stepped
    }

    /// Takes the microphone chunk as captured (before any processing).
    pub(crate) fn mic(&mut self, mic: &[f32]) {
        for &x in mic {
            self.mic_dec.push(x, &mut self.mic8);
        }
        while self.mic8.len() > WIN {
            self.mic8.pop_front();
            self.mic8_base += 1;
        }
        let end = self.mic8_base + self.mic8.len() as u64;
        if end >= self.next_estimate && self.mic8.len() == WIN {
            self.next_estimate = end + HOP;
            // The correlations work on plain slices.
            self.mic8.make_contiguous();
            self.far8.make_contiguous();
            self.estimate(end);
        }
    }

    /// The far end at fractional position `pos` (`far` made contiguous).
    fn interp(&self, pos: f64) -> f32 {
        let i = pos.floor();
        let frac = pos - i;
        let p = ((frac * PHASES as f64).round() as usize).min(PHASES);
        let first = i as i64 - (TAPS as i64 / 2 - 1) - self.far_base as i64;
        let (far, _) = self.far.as_slices();
        let h = &self.table[p];
        match usize::try_from(first)
            .ok()
            .and_then(|f| far.get(f..f + TAPS))
        {
            Some(x) => x.iter().zip(h).map(|(x, c)| x * c).sum(),
            // Not enough history (cannot happen inside the line's range).
            None => 0.0,
        }
    }

    /// The echo path moved the line past its floor (a shrinking path) or its ceiling
    /// (a growing one): step it back home.
    fn keep_line_in_range(&mut self) {
        if !(LINE_MIN..=LINE_MAX).contains(&self.line) {
            let echo = self.apparent + self.line;
            let from = self.line;
            self.line = home(echo).max(LINE_MIN);
            self.apparent = echo - self.line;
            self.stepped = true;
            tracing::debug!(from, to = self.line, "drift line stepped");
        }
    }

    /// Cross-correlation of the microphone window (ending at 8 kHz index
    /// `end`) against the far end `lag` samples earlier, at 8 kHz, divided by
    /// the far end's norm (the caller divides by the microphone's).
    fn corr8(&self, end: u64, lag: i64) -> Option<f64> {
        let start = end as i64 - WIN as i64 - lag - self.far8_base as i64;
        let start = usize::try_from(start).ok()?;
        let (far, _) = self.far8.as_slices();
        let (mic, _) = self.mic8.as_slices();
        let y = far.get(start..start + WIN)?;
        let (mut xy, mut yy) = (0.0f32, 0.0f32);
        for (&x, &y) in mic.iter().zip(y) {
            xy += x * y;
            yy += y * y;
        }
        Some(f64::from(xy) / f64::from(yy).max(1e-12).sqrt())
    }

    /// Best lag in `[centre - span, centre + span]` with sub-sample refinement;
    /// None when weak or at the edge of the span.
    fn fine(&self, end: u64, centre: i64, span: i64) -> Option<f64> {
        let mic_e: f64 = self.mic8.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
        if mic_e < 1e-9 {
            return None;
        }
        let lo = (centre - span).max(0);
        let hi = (centre + span).min(MAX_LAG as i64);
        let c: Vec<(i64, f64)> = (lo..=hi)
            .filter_map(|l| self.corr8(end, l).map(|v| (l, v)))
            .collect();
        let (bi, &(bl, bv)) = c
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.1.total_cmp(&b.1.1))?;
        if bv / mic_e.sqrt() < MIN_CORR || bi == 0 || bi + 1 == c.len() {
            return None;
        }
        let (a, b) = (c[bi - 1].1, c[bi + 1].1);
        let den = a - 2.0 * bv + b;
        let off = if den.abs() > 1e-12 {
            (0.5 * (a - b) / den).clamp(-0.5, 0.5)
        } else {
            0.0
        };
        Some(bl as f64 + off)
    }

    /// Whole-range search at 2 kHz for the echo delay.
    fn coarse(&self, end: u64) -> Option<i64> {
        let n = WIN / COARSE;
        // Both windows were made contiguous by the caller (`mic`).
        let (mic8, _) = self.mic8.as_slices();
        let mic: Vec<f32> = mic8
            .chunks_exact(COARSE)
            .map(|c| c.iter().sum::<f32>())
            .collect();
        let far_start = end as i64 - (WIN + MAX_LAG) as i64 - self.far8_base as i64;
        if far_start < 0 {
            return None;
        }
        let (far8, _) = self.far8.as_slices();
        let far_end = (far_start as usize + WIN + MAX_LAG).min(far8.len());
        let far: Vec<f32> = far8
            .get(far_start as usize..far_end)
            .unwrap_or_default()
            .chunks_exact(COARSE)
            .map(|c| c.iter().sum::<f32>())
            .collect();
        if far.len() < n + MAX_LAG / COARSE {
            return None;
        }
        let mic_e: f32 = mic.iter().map(|x| x * x).sum();
        if mic_e < 1e-9 {
            return None;
        }
        // far[i] is 8 kHz index far_start + COARSE * i; lag l (2 kHz) pairs mic[k]
        // with far[k + MAX_LAG / COARSE - l].
        let base = MAX_LAG / COARSE;
        let mut best = (0usize, 0.0f32);
        for l in 0..=base {
            let f = &far[base - l..base - l + n];
            let (mut xy, mut yy) = (0.0f32, 0.0f32);
            for (x, y) in mic.iter().zip(f) {
                xy += x * y;
                yy += y * y;
            }
            let v = xy / (yy * mic_e).max(1e-18).sqrt();
            if v > best.1 {
                best = (l, v);
            }
        }
        (f64::from(best.1) >= MIN_CORR).then_some((best.0 * COARSE) as i64)
    }

    fn estimate(&mut self, end: u64) {
        let lag = match self.lag8 {
            Some(l) => self.fine(end, l.round() as i64, TRACK_SPAN),
            None => self.coarse(end).and_then(|c| self.fine(end, c, FINE_SPAN)),
        };
        let Some(lag) = lag else {
            if self.lag8.is_none() {
                // No echo found (a headset, silence): the whole-range search is
                // the costly part, so after a few tries only every 2 s.
                self.misses = self.misses.saturating_add(1);
                if self.misses > 4 {
                    self.next_estimate = end + 4 * HOP;
                }
            }
            return;
        };
        if let Some(prev) = self.lag8 {
            // A jump (device glitch, reflection taking over): start the fit over.
            if (lag - prev).abs() > TRACK_SPAN as f64 - 1.0 {
                self.points.clear();
                self.tracking = false;
                self.rate = 0.0;
            }
        }
        self.lag8 = Some(lag);
        let t = (end * DEC as u64) as f64;
        self.points.push_back((t, lag * DEC as f64));
        while self.points.len() > MAX_POINTS {
            self.points.pop_front();
        }
        if !self.line_on && self.points.len() >= 2 {
            let (a, b) = (self.points[self.points.len() - 2].1, lag * DEC as f64);
            let line = home(b);
            // Two estimates agreeing: the echo is really there.
            if (a - b).abs() < 2.0 * DEC as f64 && line >= LINE_MIN {
                self.line_on = true;
                self.line = line.round();
                self.rate = 0.0;
                self.stepped = true;
                tracing::debug!(
                    echo_ms = b / 48.0,
                    line_ms = self.line / 48.0,
                    "echo found: far-end reference through the drift line"
                );
            }
        }
        self.fit(t);
    }

    /// Least-squares slope of the echo delay; engages or retunes the line.
    fn fit(&mut self, now: f64) {
        let n = self.points.len();
        if n < MIN_POINTS {
            return;
        }
        let (t0, _) = self.points[0];
        if now - t0 < MIN_SPAN {
            return;
        }
        let nf = n as f64;
        let mt = self.points.iter().map(|p| p.0).sum::<f64>() / nf;
        let md = self.points.iter().map(|p| p.1).sum::<f64>() / nf;
        let (mut stt, mut std) = (0.0, 0.0);
        for &(t, d) in &self.points {
            stt += (t - mt) * (t - mt);
            std += (t - mt) * (d - md);
        }
        let slope = std / stt.max(1.0);
        let res: f64 = self
            .points
            .iter()
            .map(|&(t, d)| {
                let e = d - md - slope * (t - mt);
                e * e
            })
            .sum::<f64>()
            / (nf - 2.0).max(1.0);
        let se = (res / stt.max(1.0)).sqrt();
        self.slope = slope;
        let echo_now = md + slope * (now - mt);
        if !self.line_on {
            return;
        }
        if !self.tracking {
            if slope.abs() < MIN_DRIFT || slope.abs() < 4.0 * se {
                return;
            }
            self.tracking = true;
            self.apparent = echo_now - self.line;
            tracing::debug!(
                drift_ppm = slope * 1e6,
                echo_ms = echo_now / 48.0,
                line_ms = self.line / 48.0,
                "echo path drift: the far-end reference follows it"
            );
        }
        // Follow the slope, and pull the line towards where the fit says the
        // echo is (over 5 s) so small slope errors do not accumulate.
        let err = (echo_now - self.line) - self.apparent;
        self.rate = slope + err / (5.0 * 48_000.0);
    }
}

/// The line's resting delay for an echo delay (see [`LINE_HOME`]).
fn home(echo: f64) -> f64 {
    (echo - LINE_GUARD).min(LINE_HOME)
}

/// Blackman-windowed sinc, one row per fractional phase, each row normalised
/// to unit DC gain. Row `p` interpolates at `p / PHASES` past the tap
/// `TAPS / 2 - 1`.
fn sinc_table() -> Vec<[f32; TAPS]> {
    let half = TAPS as f64 / 2.0;
    (0..=PHASES)
        .map(|p| {
            let frac = p as f64 / PHASES as f64;
            let mut row = [0.0f64; TAPS];
            for (j, v) in row.iter_mut().enumerate() {
                let t = j as f64 - (half - 1.0) - frac;
                let sinc = if t.abs() < 1e-9 {
                    1.0
                } else {
                    (PI * t).sin() / (PI * t)
                };
                let w = 0.42 + 0.5 * (PI * t / half).cos() + 0.08 * (2.0 * PI * t / half).cos();
                *v = sinc * w;
            }
            let sum: f64 = row.iter().sum();
            let mut out = [0.0f32; TAPS];
            for (o, v) in out.iter_mut().zip(row) {
                *o = (v / sum) as f32;
            }
            out
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Deterministic wideband "far end": noise bursts with pauses, like speech
    /// in that it starts and stops.
    fn far_signal(len: usize) -> Vec<f32> {
        let mut s = 0x2545_F491_u32;
        (0..len)
            .map(|n| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                let on = (n / 9600) % 3 != 2;
                if on {
                    (s as f32 / u32::MAX as f32 - 0.5) * 0.5
                } else {
                    0.0
                }
            })
            .collect()
    }

    /// Microphone: the far end `delay` samples later, the delay shrinking by
    /// `drift` per sample (linear interpolation is fine for a test).
    fn echo(far: &[f32], delay: f64, drift: f64) -> Vec<f32> {
        (0..far.len())
            .map(|n| {
                let p = n as f64 * (1.0 + drift) - delay;
                if p < 0.0 {
                    return 0.0;
                }
                let i = p as usize;
                let f = (p - i as f64) as f32;
                match (far.get(i), far.get(i + 1)) {
                    (Some(a), Some(b)) => 0.3 * (a * (1.0 - f) + b * f),
                    _ => 0.0,
                }
            })
            .collect()
    }

    fn run(far: &[f32], mic: &[f32]) -> (DriftCompensator, Vec<f32>) {
        let mut d = DriftCompensator::new();
        let mut out = Vec::with_capacity(far.len());
        let mut r = vec![0.0; 480];
        for (f, m) in far.chunks_exact(480).zip(mic.chunks_exact(480)) {
            d.far(f, &mut r);
            out.extend_from_slice(&r);
            d.mic(m);
        }
        (d, out)
    }

    #[test]
    fn table_rows_are_unit_gain_and_phase_zero_is_a_copy() {
        let t = sinc_table();
        for row in &t {
            let s: f32 = row.iter().sum();
            assert!((s - 1.0).abs() < 1e-5);
        }
        for (j, &c) in t[0].iter().enumerate() {
            let want = if j == TAPS / 2 - 1 { 1.0 } else { 0.0 };
            assert!((c - want).abs() < 1e-6, "tap {j}: {c}");
        }
    }

    #[test]
    fn measures_a_shrinking_echo_path_and_follows_it() {
        let far = far_signal(12 * 48_000);
        let mic = echo(&far, 60.0 * 48.0, 500e-6);
        let (d, _) = run(&far, &mic);
        let ppm = d.drift_ppm().unwrap();
        assert!((ppm + 500.0).abs() < 50.0, "drift {ppm:.0} ppm");
        assert!(d.tracking);
        // The line has moved with the echo: the delay the canceller sees stays
        // where tracking started.
        let echo_now = 60.0 * 48.0 - 500e-6 * 12.0 * 48_000.0;
        assert!((echo_now - d.line - d.apparent).abs() < 24.0);
    }

    #[test]
    fn no_drift_is_a_whole_sample_delay_and_no_echo_a_pass_through() {
        let far = far_signal(8 * 48_000);
        let mic = echo(&far, 80.0 * 48.0, 0.0);
        let (d, out) = run(&far, &mic);
        assert!(!d.tracking, "drift {:?}", d.drift_ppm());
        let line = d.line as usize;
        assert_eq!(d.line.fract(), 0.0);
        let n = out.len() - 1;
        assert_eq!(out[n], far[n - line]);

        let silent = vec![0.0; far.len()];
        let (d, out) = run(&far, &silent);
        assert!(!d.line_on);
        assert_eq!(out, far);
    }
}
