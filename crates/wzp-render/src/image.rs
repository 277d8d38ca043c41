//! Pixels read back from the offscreen target.

/// An 8-bit RGBA image, rows top to bottom, tightly packed (`stride() == width * 4`).
///
/// The GPU copy pads each row to 256 bytes; the renderer strips that padding, so
/// callers (tests, screenshot writers) never see it.
#[derive(Clone, PartialEq, Eq)]
pub struct RgbaImage {
    width: u32,
    height: u32,
    data: Vec<u8>,
}

impl std::fmt::Debug for RgbaImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RgbaImage")
            .field("width", &self.width)
            .field("height", &self.height)
            .finish_non_exhaustive()
    }
}

impl RgbaImage {
    /// Wraps packed RGBA rows; `None` if `data` is not exactly `width * height * 4` bytes.
    #[must_use]
    pub fn from_raw(width: u32, height: u32, data: Vec<u8>) -> Option<Self> {
        let need = (width as usize)
            .checked_mul(height as usize)?
            .checked_mul(4)?;
        (data.len() == need).then_some(Self {
            width,
            height,
            data,
        })
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

    /// Bytes from one row to the next (`width * 4`).
    #[must_use]
    pub fn stride(&self) -> usize {
        self.width as usize * 4
    }

    /// All pixels, RGBA, row after row.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.data
    }

    /// Takes the pixel bytes.
    #[must_use]
    pub fn into_bytes(self) -> Vec<u8> {
        self.data
    }

    /// The pixel at `(x, y)` as `[r, g, b, a]`, or `None` outside the image.
    #[must_use]
    pub fn pixel(&self, x: u32, y: u32) -> Option<[u8; 4]> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let i = y as usize * self.stride() + x as usize * 4;
        let p = self.data.get(i..i + 4)?;
        Some([p[0], p[1], p[2], p[3]])
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn pixels_are_addressed_row_major() {
        let data: Vec<u8> = (0..2 * 3 * 4).map(|i| i as u8).collect();
        let img = RgbaImage::from_raw(2, 3, data).unwrap();
        assert_eq!(img.stride(), 8);
        assert_eq!(img.pixel(1, 2), Some([20, 21, 22, 23]));
        assert_eq!(img.pixel(2, 0), None);
        assert!(RgbaImage::from_raw(2, 3, vec![0; 23]).is_none());
    }
}
