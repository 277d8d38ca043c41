//! Placeholder pictures for participants without video: a coloured disc with their
//! initials, made as an ordinary I420 frame so it goes through the same upload and
//! shader as video (one drawing path, and the tests that cover video cover it).
//!
//! The colour comes from a hash of a stable key (the fingerprint), so a person keeps
//! the same colour in every call. Glyphs are the public-domain 8x8 bitmap font
//! (`font8x8`), scaled up; letters it lacks show as `?`.

use font8x8::legacy::{BASIC_LEGACY, LATIN_LEGACY};
use wzp_video::I420Frame;

use crate::error::{RenderError, Result};

/// Disc colours (R, G, B): mid-tone, distinguishable, white text readable on each.
const PALETTE: [[u8; 3]; 8] = [
    [0x3b, 0x6e, 0xc9],
    [0x2e, 0x8b, 0x57],
    [0xb0, 0x4a, 0x3c],
    [0x8a, 0x4f, 0xb5],
    [0xc2, 0x7c, 0x0e],
    [0x1f, 0x8a, 0x8a],
    [0xa8, 0x3d, 0x7a],
    [0x5a, 0x6b, 0x7d],
];

/// Luma and chroma of the tile background (a dark grey) and of the text (white).
const BACKGROUND: (u8, u8, u8) = (40, 128, 128);
const TEXT: (u8, u8, u8) = (235, 128, 128);

/// Up to two initials from a display name: the first letter of the first and last
/// words, upper-cased ("ada lovelace" -> "AL", "Zoë" -> "Z"); `?` for an empty name.
#[must_use]
pub fn initials(name: &str) -> String {
    let words: Vec<&str> = name.split_whitespace().collect();
    let first = |w: &str| {
        w.chars()
            .next()
            .map(|c| c.to_uppercase().collect::<String>())
    };
    let mut out = String::new();
    if let Some(f) = words.first().and_then(|w| first(w)) {
        out.push_str(&f);
    }
    if words.len() > 1
        && let Some(l) = words.last().and_then(|w| first(w))
    {
        out.push_str(&l);
    }
    if out.is_empty() {
        out.push('?');
    }
    out
}

/// The palette colour (RGB) for `key`, stable across runs and machines.
#[must_use]
pub fn placeholder_color(key: &str) -> [u8; 3] {
    // FNV-1a: tiny and stable (std's hasher is randomised per process).
    let mut h: u32 = 0x811c_9dc5;
    for b in key.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    PALETTE[(h % PALETTE.len() as u32) as usize]
}

/// BT.601 limited-range YUV of an RGB colour (the inverse of the shader's matrix).
fn rgb_to_yuv([r, g, b]: [u8; 3]) -> (u8, u8, u8) {
    let (r, g, b) = (f32::from(r), f32::from(g), f32::from(b));
    let y = 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0;
    let u = 128.0 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255.0;
    let v = 128.0 + (112.0 * r - 93.786 * g - 18.214 * b) / 255.0;
    let q = |x: f32| x.round().clamp(0.0, 255.0) as u8;
    (q(y), q(u), q(v))
}

fn glyph(c: char) -> [u8; 8] {
    let code = c as u32;
    match code {
        0x20..=0x7e => BASIC_LEGACY[code as usize],
        0xa0..=0xff => LATIN_LEGACY[(code - 0xa0) as usize],
        _ => BASIC_LEGACY[b'?' as usize],
    }
}

/// A `width` x `height` placeholder: dark background, a disc in `color` (RGB), and up
/// to two characters of `initials` in white. Sizes must be even (I420).
pub fn placeholder_frame(
    initials: &str,
    color: [u8; 3],
    width: u32,
    height: u32,
) -> Result<I420Frame> {
    crate::frame::check_frame_dimensions(width, height)?;
    let mut frame = I420Frame::new(width, height).map_err(|_| RenderError::BadDimensions {
        width,
        height,
        reason: "invalid placeholder size",
    })?;
    let (w, h) = (width as usize, height as usize);
    let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
    let radius = w.min(h) as f32 * 0.36;
    let disc = rgb_to_yuv(color);
    let chars: Vec<char> = initials.chars().take(2).collect();
    // Each glyph is 8x8 cells; the text block spans about the disc's inner square.
    let cell = ((radius * 1.1) / (8.0 * chars.len().max(1) as f32)).max(1.0);
    let text_w = cell * 8.0 * chars.len() as f32;
    let (tx, ty) = (cx - text_w / 2.0, cy - cell * 4.0);
    let in_text = |x: f32, y: f32| -> bool {
        let (gx, gy) = ((x - tx) / cell, (y - ty) / cell);
        if gx < 0.0 || !(0.0..8.0).contains(&gy) {
            return false;
        }
        let (col, row) = (gx as usize, gy as usize);
        let Some(&c) = chars.get(col / 8) else {
            return false;
        };
        glyph(c)[row] & (1 << (col % 8)) != 0
    };
    let (yp, up, vp) = frame.planes_mut();
    let mut text_mask = vec![false; w * h];
    for row in 0..h {
        for col in 0..w {
            let (x, y) = (col as f32 + 0.5, row as f32 + 0.5);
            let inside = (x - cx).powi(2) + (y - cy).powi(2) <= radius * radius;
            let text = inside && in_text(x, y);
            text_mask[row * w + col] = text;
            yp[row * w + col] = if text {
                TEXT.0
            } else if inside {
                disc.0
            } else {
                BACKGROUND.0
            };
        }
    }
    let (cw, ch) = (w / 2, h / 2);
    for row in 0..ch {
        for col in 0..cw {
            let (x, y) = (col as f32 * 2.0 + 1.0, row as f32 * 2.0 + 1.0);
            let inside = (x - cx).powi(2) + (y - cy).powi(2) <= radius * radius;
            // A chroma sample covers 2x2 luma pixels: neutral (white text) where the
            // text covers at least half of them, the disc's colour elsewhere.
            let text = [(0, 0), (0, 1), (1, 0), (1, 1)]
                .iter()
                .filter(|(dy, dx)| text_mask[(row * 2 + dy) * w + col * 2 + dx])
                .count();
            let (u, v) = if text >= 2 {
                (TEXT.1, TEXT.2)
            } else if inside {
                (disc.1, disc.2)
            } else {
                (BACKGROUND.1, BACKGROUND.2)
            };
            up[row * cw + col] = u;
            vp[row * cw + col] = v;
        }
    }
    Ok(frame)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn initials_from_names() {
        assert_eq!(initials("ada lovelace"), "AL");
        assert_eq!(initials("  Grace  Brewster Hopper "), "GH");
        assert_eq!(initials("zoë"), "Z");
        assert_eq!(initials("émile zola"), "ÉZ");
        assert_eq!(initials(""), "?");
    }

    #[test]
    fn colour_is_stable_and_spread() {
        assert_eq!(placeholder_color("aa:bb"), placeholder_color("aa:bb"));
        let distinct: std::collections::HashSet<[u8; 3]> = (0..64)
            .map(|i| placeholder_color(&format!("fp{i}")))
            .collect();
        assert!(distinct.len() >= 6, "{}", distinct.len());
    }

    #[test]
    fn disc_text_and_background_where_expected() {
        let color = PALETTE[0];
        let f = placeholder_frame("AL", color, 320, 180).unwrap();
        let y = |x: usize, yy: usize| f.y()[yy * 320 + x];
        // Corners: background.
        assert_eq!(y(2, 2), BACKGROUND.0);
        assert_eq!(y(317, 177), BACKGROUND.0);
        // Inside the disc but outside the text (near its top edge): disc colour.
        let disc = rgb_to_yuv(color);
        assert_eq!(y(160, 90 - 55), disc.0);
        // The text block has white pixels, and the letters differ (not a solid block).
        let text: Vec<u8> = (60..120)
            .flat_map(|yy| (110..210).map(move |x| (x, yy)))
            .map(|(x, yy)| y(x, yy))
            .collect();
        let white = text.iter().filter(|&&v| v == TEXT.0).count();
        assert!(white > 200 && white < text.len() / 2, "{white}");
        // Colour round trip through the shader's matrix stays within 2.
        let rgb = crate::bt601_limited_to_rgb(disc.0, disc.1, disc.2);
        assert!(
            rgb.iter().zip(color).all(|(a, b)| a.abs_diff(b) <= 2),
            "{rgb:?}"
        );
        assert!(placeholder_frame("X", color, 33, 20).is_err());
    }
}
