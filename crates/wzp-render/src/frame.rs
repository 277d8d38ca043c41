//! A borrowed view of one I420 picture, checked once before upload.

use wzp_video::I420Frame;

use crate::color::ColorSpace;
use crate::error::{RenderError, Result};

/// Largest frame side the renderer accepts. It matches `wzp_video::MAX_DIMENSION`, and
/// every GPU since about 2012 allows 4096-texel textures (WebGPU's default limit is 8192).
pub const MAX_FRAME_DIMENSION: u32 = wzp_video::frame::MAX_DIMENSION;

/// One plane: its bytes and the distance in bytes from one row to the next.
#[derive(Clone, Copy, Debug)]
pub struct Plane<'a> {
    /// Row-major bytes; at least `stride * (rows - 1) + width`.
    pub data: &'a [u8],
    /// Bytes from the start of one row to the start of the next (`>= width`).
    pub stride: usize,
}

/// A borrowed I420 picture: full-size luma, then Cb and Cr at half width and height.
///
/// This exists (rather than taking `&I420Frame` only) so that strided planes straight
/// from a decoder can be uploaded without a copy, and so that a bad plane is one clear
/// [`RenderError`] at construction instead of a wgpu panic at upload. `&I420Frame`
/// converts into it for free (`I420Planes::from(&frame)`).
#[derive(Clone, Copy, Debug)]
pub struct I420Planes<'a> {
    width: u32,
    height: u32,
    y: Plane<'a>,
    u: Plane<'a>,
    v: Plane<'a>,
    color: ColorSpace,
}

impl<'a> I420Planes<'a> {
    /// Checks the size and the three planes against each other.
    ///
    /// # Errors
    /// [`RenderError::BadDimensions`] for a zero, odd or too large size;
    /// [`RenderError::BadPlane`] for a stride narrower than its plane or a plane
    /// shorter than its size and stride need.
    pub fn new(width: u32, height: u32, y: Plane<'a>, u: Plane<'a>, v: Plane<'a>) -> Result<Self> {
        check_frame_dimensions(width, height)?;
        let (w, h) = (width as usize, height as usize);
        check_plane("y", y, w, h)?;
        check_plane("u", u, w / 2, h / 2)?;
        check_plane("v", v, w / 2, h / 2)?;
        Ok(Self {
            width,
            height,
            y,
            u,
            v,
            color: ColorSpace::default(),
        })
    }

    /// The same planes, read as `color` (the default is BT.601 limited range).
    #[must_use]
    pub fn with_color(mut self, color: ColorSpace) -> Self {
        self.color = color;
        self
    }

    /// How the values map to RGB.
    #[must_use]
    pub fn color(&self) -> ColorSpace {
        self.color
    }

    /// Tightly packed planes (stride = plane width), as most test code and
    /// `I420Frame` hold them.
    ///
    /// # Errors
    /// As [`I420Planes::new`].
    pub fn packed(width: u32, height: u32, y: &'a [u8], u: &'a [u8], v: &'a [u8]) -> Result<Self> {
        let (w, cw) = (width as usize, (width / 2) as usize);
        Self::new(
            width,
            height,
            Plane { data: y, stride: w },
            Plane {
                data: u,
                stride: cw,
            },
            Plane {
                data: v,
                stride: cw,
            },
        )
    }

    /// Width in pixels (even).
    #[must_use]
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels (even).
    #[must_use]
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The luma plane.
    #[must_use]
    pub fn y(&self) -> Plane<'a> {
        self.y
    }

    /// The Cb plane (half width, half height).
    #[must_use]
    pub fn u(&self) -> Plane<'a> {
        self.u
    }

    /// The Cr plane (half width, half height).
    #[must_use]
    pub fn v(&self) -> Plane<'a> {
        self.v
    }
}

impl<'a> From<&'a I420Frame> for I420Planes<'a> {
    /// `I420Frame` has already checked its size and packed planes, so this cannot fail.
    fn from(frame: &'a I420Frame) -> Self {
        let (w, cw) = (frame.width() as usize, (frame.width() / 2) as usize);
        Self {
            width: frame.width(),
            height: frame.height(),
            y: Plane {
                data: frame.y(),
                stride: w,
            },
            u: Plane {
                data: frame.u(),
                stride: cw,
            },
            v: Plane {
                data: frame.v(),
                stride: cw,
            },
            color: ColorSpace::default(),
        }
    }
}

/// Checks that a size can be uploaded as I420 (non-zero, even, at most
/// [`MAX_FRAME_DIMENSION`]).
///
/// # Errors
/// [`RenderError::BadDimensions`] naming the reason.
pub fn check_frame_dimensions(width: u32, height: u32) -> Result<()> {
    // One rule for what I420 size is valid, owned by wzp-video.
    wzp_video::frame::check_dimensions(width, height).map_err(|e| RenderError::BadDimensions {
        width,
        height,
        reason: match e {
            wzp_video::VideoError::BadDimensions { reason, .. } => reason,
            _ => "invalid I420 size",
        },
    })
}

/// Bytes a plane of `width` x `rows` with `stride` needs: every row but the last
/// in full, and the last only up to its width.
pub(crate) fn plane_bytes_needed(stride: usize, width: usize, rows: usize) -> usize {
    if rows == 0 {
        0
    } else {
        stride * (rows - 1) + width
    }
}

fn check_plane(name: &'static str, plane: Plane<'_>, width: usize, rows: usize) -> Result<()> {
    if plane.stride < width {
        return Err(RenderError::BadPlane {
            plane: name,
            got: plane.data.len(),
            stride: plane.stride,
            expected: width,
        });
    }
    let need = plane_bytes_needed(plane.stride, width, rows);
    if plane.data.len() < need {
        return Err(RenderError::BadPlane {
            plane: name,
            got: plane.data.len(),
            stride: plane.stride,
            expected: need,
        });
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn refuses_bad_sizes_and_planes() {
        let y = [0u8; 16];
        let c = [0u8; 4];
        assert!(I420Planes::packed(4, 4, &y, &c, &c).is_ok());
        for (w, h) in [(0, 4), (3, 4), (4, 5), (8192, 2)] {
            let e = I420Planes::packed(w, h, &y, &c, &c).unwrap_err();
            assert!(
                matches!(e, RenderError::BadDimensions { .. }),
                "{w}x{h}: {e}"
            );
        }
        let e = I420Planes::packed(4, 4, &y[..15], &c, &c).unwrap_err();
        assert!(
            matches!(
                e,
                RenderError::BadPlane {
                    plane: "y",
                    expected: 16,
                    ..
                }
            ),
            "{e}"
        );
        let e = I420Planes::packed(4, 4, &y, &c, &c[..3]).unwrap_err();
        assert!(matches!(e, RenderError::BadPlane { plane: "v", .. }), "{e}");
        let narrow = Plane {
            data: &y,
            stride: 3,
        };
        let ok = Plane {
            data: &c,
            stride: 2,
        };
        let e = I420Planes::new(4, 4, narrow, ok, ok).unwrap_err();
        assert!(
            matches!(
                e,
                RenderError::BadPlane {
                    plane: "y",
                    stride: 3,
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn strided_planes_need_no_padding_after_the_last_row() {
        // 4x2 luma with stride 6: 6 + 4 = 10 bytes are enough.
        let y = [0u8; 10];
        let c = [0u8; 2];
        let p = I420Planes::new(
            4,
            2,
            Plane {
                data: &y,
                stride: 6,
            },
            Plane {
                data: &c,
                stride: 2,
            },
            Plane {
                data: &c,
                stride: 2,
            },
        )
        .unwrap();
        assert_eq!(p.y().stride, 6);
    }

    #[test]
    fn converts_from_wzp_video_frame() {
        let f = I420Frame::new(8, 6).unwrap();
        let p = I420Planes::from(&f);
        assert_eq!((p.width(), p.height()), (8, 6));
        assert_eq!(p.u().stride, 4);
        assert_eq!(p.v().data.len(), 12);
    }
}
