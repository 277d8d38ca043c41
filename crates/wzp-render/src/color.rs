//! The colour conversion the shader does, written out once on the CPU.
//!
//! The shader (`yuv.wgsl`) converts with a per-tile [`ColorSpace`] (BT.601 or BT.709,
//! limited or full range). The default, and what OpenH264 and most webcams produce in
//! this app's pipeline, is **BT.601, limited range**:
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

/// How a frame's YUV values map to RGB: the matrix (BT.601 for SD and what OpenH264
/// and most webcams produce here; BT.709 for HD sources that say so) and the range
/// (limited 16..235 "studio" levels, or full 0..255 as JPEG-style cameras send).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ColorSpace {
    /// BT.601 matrix, limited range (the default).
    #[default]
    Bt601Limited,
    /// BT.601 matrix, full range.
    Bt601Full,
    /// BT.709 matrix, limited range.
    Bt709Limited,
    /// BT.709 matrix, full range.
    Bt709Full,
}

impl ColorSpace {
    /// (Kr, Kb) of the matrix.
    fn k(self) -> (f32, f32) {
        match self {
            Self::Bt601Limited | Self::Bt601Full => (0.299, 0.114),
            Self::Bt709Limited | Self::Bt709Full => (0.2126, 0.0722),
        }
    }

    fn limited(self) -> bool {
        matches!(self, Self::Bt601Limited | Self::Bt709Limited)
    }

    /// The shader's parameters: `[y_offset, y_scale, c_scale, 0, r_cr, g_cb, g_cr, b_cb]`
    /// with offsets and scales on the 0..1 texture scale.
    pub(crate) fn shader_params(self) -> [f32; 8] {
        let (kr, kb) = self.k();
        let kg = 1.0 - kr - kb;
        let (y_off, y_scale, c_scale) = if self.limited() {
            (16.0 / 255.0, 255.0 / 219.0, 255.0 / 224.0)
        } else {
            (0.0, 1.0, 1.0)
        };
        [
            y_off,
            y_scale,
            c_scale,
            0.0,
            2.0 * (1.0 - kr),
            -2.0 * kb * (1.0 - kb) / kg,
            -2.0 * kr * (1.0 - kr) / kg,
            2.0 * (1.0 - kb),
        ]
    }

    /// Converts one sample to 8-bit RGB, rounding to nearest: the reference the GPU
    /// tests compare the shader with.
    #[must_use]
    pub fn to_rgb(self, y: u8, u: u8, v: u8) -> [u8; 3] {
        let [y_off, y_scale, c_scale, _, r_cr, g_cb, g_cr, b_cb] = self.shader_params();
        let yp = (f32::from(y) / 255.0 - y_off) * y_scale;
        let cb = (f32::from(u) / 255.0 - 128.0 / 255.0) * c_scale;
        let cr = (f32::from(v) / 255.0 - 128.0 / 255.0) * c_scale;
        let to_u8 = |x: f32| (x * 255.0).round().clamp(0.0, 255.0) as u8;
        [
            to_u8(yp + r_cr * cr),
            to_u8(yp + g_cb * cb + g_cr * cr),
            to_u8(yp + b_cb * cb),
        ]
    }
}

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
    fn color_spaces_agree_with_the_bt601_reference_and_differ_where_they_should() {
        for (y, u, v) in [
            (81, 90, 240),
            (145, 54, 34),
            (41, 240, 110),
            (235, 128, 128),
        ] {
            let a = ColorSpace::Bt601Limited.to_rgb(y, u, v);
            let b = bt601_limited_to_rgb(y, u, v);
            assert!(
                a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 1),
                "{a:?} {b:?}"
            );
        }
        // BT.709 red (limited): Y 63, Cb 102, Cr 240.
        let red = ColorSpace::Bt709Limited.to_rgb(63, 102, 240);
        assert!(red[0] >= 253 && red[1] <= 2 && red[2] <= 2, "{red:?}");
        // The same bytes read as BT.601 are a different colour.
        assert_ne!(ColorSpace::Bt601Limited.to_rgb(63, 102, 240), red);
        // Full range: 0 is black, 255 white.
        assert_eq!(ColorSpace::Bt601Full.to_rgb(0, 128, 128), [0, 0, 0]);
        assert_eq!(ColorSpace::Bt709Full.to_rgb(255, 128, 128), [255, 255, 255]);
    }

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
