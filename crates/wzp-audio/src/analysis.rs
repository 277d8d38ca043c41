//! Small signal measurements used by tests, benches and the level meter.

/// The strongest frequency in `samples` (Hz), by zero-crossing-free Goertzel
/// scan over 10 Hz steps from 50 Hz to 8 kHz followed by a 1 Hz refinement.
/// Cheap enough for tests; not for real-time use.
#[must_use]
pub fn dominant_frequency(samples: &[f32], rate: u32) -> f32 {
    let power = |f: f32| -> f32 {
        let w = 2.0 * std::f32::consts::PI * f / rate as f32;
        let c = 2.0 * w.cos();
        let (mut s1, mut s2) = (0.0f32, 0.0f32);
        for &x in samples {
            let s0 = x + c * s1 - s2;
            s2 = s1;
            s1 = s0;
        }
        s1 * s1 + s2 * s2 - c * s1 * s2
    };
    let mut best = (0.0, 0.0);
    let mut f = 50.0;
    while f <= 8000.0 {
        let p = power(f);
        if p > best.1 {
            best = (f, p);
        }
        f += 10.0;
    }
    let centre = best.0;
    let mut f = centre - 10.0;
    while f <= centre + 10.0 {
        let p = power(f);
        if p > best.1 {
            best = (f, p);
        }
        f += 1.0;
    }
    best.0
}

/// Mean absolute difference in dB between the band energies of `a` and `b`
/// (16 bands, 100 Hz to 8 kHz, Goertzel at 50 Hz steps). A spectral-envelope
/// distance: it judges a vocoder's rebuilt frame (DRED) fairly, where a
/// waveform error would punish any phase difference. Tests only.
#[must_use]
pub fn band_distance_db(a: &[f32], b: &[f32], rate: u32) -> f32 {
    fn bands(x: &[f32], rate: u32) -> [f32; 16] {
        let mut e = [1e-9f32; 16];
        for k in 2..160 {
            let f = k as f32 * 50.0;
            let w = 2.0 * std::f32::consts::PI * f / rate as f32;
            let c = 2.0 * w.cos();
            let (mut s1, mut s2) = (0.0f32, 0.0f32);
            for &v in x {
                let s0 = v + c * s1 - s2;
                s2 = s1;
                s1 = s0;
            }
            e[(k - 2) / 10] += (s1 * s1 + s2 * s2 - c * s1 * s2).max(0.0);
        }
        e
    }
    let (ea, eb) = (bands(a, rate), bands(b, rate));
    ea.iter()
        .zip(&eb)
        .map(|(p, q)| (10.0 * (p / q).log10()).abs())
        .sum::<f32>()
        / 16.0
}
