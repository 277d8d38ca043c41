//! The colour conversion the shader does, written out once on the CPU.
//!
//! The shader (`yuv.wgsl`) converts **BT.601, limited range** (what OpenH264 and
//! most webcams produce at SD and HD sizes in this app's pipeline):
//!
//! ```text
//! y' = (Y - 16) * 255/219          cb = (U - 128) * 255/224          cr = (V - 128) * 255/224
//! R = y' + 1.402    * cr
//! G = y' - 0.344136 * cb - 0.714136 * cr
//! B = y' + 1.772    * cb
//! ```
//!
//! (Kr = 0.299, Kb = 0.114; all values on a 0..255 scale, results clamped to 0..255.)
//! The output is written unchanged into a non-sRGB target, so these values are the
//! pixels you read back. This function is the reference the GPU tests compare with.

/// Converts one BT.601 limited-range YUV sample to 8-bit RGB, rounding to nearest.
#[must_use]
pub fn bt601_limited_to_rgb(y: u8, u: u8, v: u8) -> [u8; 3] {
    let yp = (f32::from(y) - 16.0) * 255.0 / 219.0;
    let cb = (f32::from(u) - 128.0) * 255.0 / 224.0;
    let cr = (f32::from(v) - 128.0) * 255.0 / 224.0;
    let to_u8 = |x: f32| x.round().clamp(0.0, 255.0) as u8;
    [
        to_u8(yp + 1.402 * cr),
        to_u8(yp - 0.344_136 * cb - 0.714_136 * cr),
        to_u8(yp + 1.772 * cb),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn studio_range_primaries_map_to_full_range_rgb() {
        // Canonical BT.601 limited-range values for the primaries and the extremes.
        let near = |a: [u8; 3], b: [u8; 3]| a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 2);
        assert_eq!(bt601_limited_to_rgb(16, 128, 128), [0, 0, 0]);
        assert_eq!(bt601_limited_to_rgb(235, 128, 128), [255, 255, 255]);
        assert!(near(bt601_limited_to_rgb(81, 90, 240), [255, 0, 0]));
        assert!(near(bt601_limited_to_rgb(145, 54, 34), [0, 255, 0]));
        assert!(near(bt601_limited_to_rgb(41, 240, 110), [0, 0, 255]));
        // Out-of-range input clamps instead of wrapping.
        assert_eq!(bt601_limited_to_rgb(0, 128, 128), [0, 0, 0]);
        assert_eq!(bt601_limited_to_rgb(255, 128, 128), [255, 255, 255]);
    }
}
