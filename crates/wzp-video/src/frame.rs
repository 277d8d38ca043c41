//! Raw pictures: I420 (planar Y, then U and V at half resolution) with timestamps.
//!
//! I420 is what OpenH264 reads and writes and what the renderer uploads, so every
//! source converts to it once and nothing downstream converts again.

use std::time::Duration;

use crate::error::{Result, VideoError};

/// Largest frame side accepted anywhere in the crate. OpenH264 stops at 3840x2160;
/// refusing earlier keeps a bad header from asking for gigabytes.
pub const MAX_DIMENSION: u32 = 4096;

/// One picture in I420 with tightly packed planes (stride = width).
#[derive(Clone, PartialEq, Eq)]
pub struct I420Frame {
    width: u32,
    height: u32,
    y: Vec<u8>,
    u: Vec<u8>,
    v: Vec<u8>,
    /// Presentation time since the start of the source.
    pub pts: Duration,
    /// Frame number within its source, counting from 0.
    pub index: u64,
}

impl std::fmt::Debug for I420Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("I420Frame")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("pts", &self.pts)
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

/// Checks that a size can be carried as I420 (even, non-zero, bounded).
pub fn check_dimensions(width: u32, height: u32) -> Result<()> {
    let bad = |reason| {
        Err(VideoError::BadDimensions {
            width,
            height,
            reason,
        })
    };
    if width == 0 || height == 0 {
        return bad("zero size");
    }
    if width % 2 != 0 || height % 2 != 0 {
        return bad("I420 needs even width and height");
    }
    if width > MAX_DIMENSION || height > MAX_DIMENSION {
        return bad("larger than 4096");
    }
    Ok(())
}

impl I420Frame {
    /// A mid-grey frame of the given size.
    pub fn new(width: u32, height: u32) -> Result<Self> {
        check_dimensions(width, height)?;
        let (yl, cl) = plane_lens(width, height);
        Ok(Self {
            width,
            height,
            y: vec![128; yl],
            u: vec![128; cl],
            v: vec![128; cl],
            pts: Duration::ZERO,
            index: 0,
        })
    }

    /// A frame from owned planes; their lengths must match the size exactly.
    pub fn from_planes(
        width: u32,
        height: u32,
        y: Vec<u8>,
        u: Vec<u8>,
        v: Vec<u8>,
    ) -> Result<Self> {
        check_dimensions(width, height)?;
        let (yl, cl) = plane_lens(width, height);
        for (plane, got, expected) in [("y", y.len(), yl), ("u", u.len(), cl), ("v", v.len(), cl)] {
            if got != expected {
                return Err(VideoError::BadPlane {
                    plane,
                    got,
                    expected,
                });
            }
        }
        Ok(Self {
            width,
            height,
            y,
            u,
            v,
            pts: Duration::ZERO,
            index: 0,
        })
    }

    /// The frame at half the width and height, each pixel the mean of a 2x2 block: for a
    /// small picture that does not need every pixel (the self-view), at a quarter of the
    /// memory and upload cost. `None` when the halves are not a valid I420 size (odd).
    #[must_use]
    pub fn half(&self) -> Option<Self> {
        let (w, h) = (self.width / 2, self.height / 2);
        check_dimensions(w, h).ok()?;
        let (fw, fh) = (self.width as usize, self.height as usize);
        Some(Self {
            width: w,
            height: h,
            y: halve(&self.y, fw, fh),
            u: halve(&self.u, fw / 2, fh / 2),
            v: halve(&self.v, fw / 2, fh / 2),
            pts: self.pts,
            index: self.index,
        })
    }

    /// Copies a frame out of strided planes (as decoders hand them out).
    pub fn from_strided(width: u32, height: u32, planes: [(&[u8], usize); 3]) -> Result<Self> {
        check_dimensions(width, height)?;
        let mut out = Self::new(width, height)?;
        let w = width as usize;
        let h = height as usize;
        let dims = [(w, h), (w / 2, h / 2), (w / 2, h / 2)];
        let names = ["y", "u", "v"];
        for (i, ((src, stride), (pw, ph))) in planes.iter().zip(dims).enumerate() {
            let need = if ph == 0 { 0 } else { stride * (ph - 1) + pw };
            if *stride < pw || src.len() < need {
                return Err(VideoError::BadPlane {
                    plane: names[i],
                    got: src.len(),
                    expected: need,
                });
            }
            let dst = match i {
                0 => &mut out.y,
                1 => &mut out.u,
                _ => &mut out.v,
            };
            for row in 0..ph {
                let s = row * stride;
                dst[row * pw..(row + 1) * pw].copy_from_slice(&src[s..s + pw]);
            }
        }
        Ok(out)
    }

    /// Width in pixels.
    #[must_use]
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    #[must_use]
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Luma plane, `width * height` bytes.
    #[must_use]
    pub fn y(&self) -> &[u8] {
        &self.y
    }

    /// Cb plane, `width/2 * height/2` bytes.
    #[must_use]
    pub fn u(&self) -> &[u8] {
        &self.u
    }

    /// Cr plane, `width/2 * height/2` bytes.
    #[must_use]
    pub fn v(&self) -> &[u8] {
        &self.v
    }

    /// Mutable planes `(y, u, v)` for sources that draw in place.
    pub fn planes_mut(&mut self) -> (&mut [u8], &mut [u8], &mut [u8]) {
        (&mut self.y, &mut self.u, &mut self.v)
    }

    /// Peak signal-to-noise ratio against `other` over all three planes, in dB
    /// (`f64::INFINITY` when identical). `None` if the sizes differ.
    #[must_use]
    pub fn psnr(&self, other: &I420Frame) -> Option<f64> {
        if self.width != other.width || self.height != other.height {
            return None;
        }
        let mut se = 0u64;
        let mut n = 0u64;
        for (a, b) in [
            (&self.y, &other.y),
            (&self.u, &other.u),
            (&self.v, &other.v),
        ] {
            for (x, y) in a.iter().zip(b.iter()) {
                let d = i64::from(*x) - i64::from(*y);
                se += (d * d) as u64;
            }
            n += a.len() as u64;
        }
        if se == 0 {
            return Some(f64::INFINITY);
        }
        let mse = se as f64 / n as f64;
        Some(10.0 * (255.0 * 255.0 / mse).log10())
    }
}

/// Lengths of the luma and of each chroma plane.
fn plane_lens(width: u32, height: u32) -> (usize, usize) {
    let w = width as usize;
    let h = height as usize;
    (w * h, (w / 2) * (h / 2))
}

impl openh264::formats::YUVSource for I420Frame {
    fn dimensions(&self) -> (usize, usize) {
        (self.width as usize, self.height as usize)
    }

    fn strides(&self) -> (usize, usize, usize) {
        let w = self.width as usize;
        (w, w / 2, w / 2)
    }

    fn y(&self) -> &[u8] {
        &self.y
    }

    fn u(&self) -> &[u8] {
        &self.u
    }

    fn v(&self) -> &[u8] {
        &self.v
    }
}

/// A `w` x `h` plane (both even) at half size, averaging 2x2 blocks (rounded).
fn halve(plane: &[u8], w: usize, h: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity((w / 2) * (h / 2));
    for pair in plane.chunks_exact(w * 2).take(h / 2) {
        let (top, bottom) = pair.split_at(w);
        for (a, b) in top.chunks_exact(2).zip(bottom.chunks_exact(2)) {
            let sum = u16::from(a[0]) + u16::from(a[1]) + u16::from(b[0]) + u16::from(b[1]);
            out.push(((sum + 2) / 4) as u8);
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn refuses_bad_sizes() {
        assert!(I420Frame::new(0, 2).is_err());
        assert!(I420Frame::new(3, 2).is_err());
        assert!(I420Frame::new(8192, 2).is_err());
        assert!(I420Frame::from_planes(4, 2, vec![0; 8], vec![0; 2], vec![0; 1]).is_err());
    }

    #[test]
    fn strided_copy_and_psnr() {
        let y: Vec<u8> = (0..6 * 2).map(|i| i as u8).collect();
        let f = I420Frame::from_strided(4, 2, [(&y, 6), (&[1, 2, 0], 3), (&[3, 4, 0], 3)]).unwrap();
        assert_eq!(f.y(), &[0, 1, 2, 3, 6, 7, 8, 9]);
        assert_eq!(f.u(), &[1, 2]);
        assert_eq!(f.psnr(&f), Some(f64::INFINITY));
        assert!(I420Frame::from_strided(4, 2, [(&y[..5], 6), (&[1, 2], 2), (&[3, 4], 2)]).is_err());
    }
    #[test]
    fn half_averages_two_by_two_blocks() {
        let w = 8;
        let y: Vec<u8> = (0..w * 4).map(|i| (i % w * 10) as u8).collect();
        let f = I420Frame::from_planes(8, 4, y, vec![100; 8], vec![200; 8]).unwrap();
        let h = f.half().unwrap();
        assert_eq!((h.width(), h.height()), (4, 2));
        // Columns 0,1 -> (0+10)/2 = 5; 2,3 -> 25; ...
        assert_eq!(h.y(), &[5, 25, 45, 65, 5, 25, 45, 65]);
        assert_eq!(h.u(), &[100, 100]);
        assert_eq!(h.v(), &[200, 200]);
        let odd = I420Frame::new(6, 4).unwrap();
        assert!(odd.half().is_none(), "3x2 is not an I420 size");
        let hd = I420Frame::new(1280, 720).unwrap().half().unwrap();
        assert_eq!(
            (hd.width(), hd.height(), hd.y().len(), hd.u().len()),
            (640, 360, 640 * 360, 320 * 180)
        );
    }
}
