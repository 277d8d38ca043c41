//! Where raw frames come from: one trait, several sources.
//!
//! Calls must work without a camera (CI machines, servers, users who decline),
//! so the synthetic and file sources are first-class, not test doubles.

use std::io::BufRead;
use std::time::Duration;

use crate::error::{Result, VideoError};
use crate::frame::{I420Frame, check_dimensions};

/// A producer of I420 frames at a nominal rate.
pub trait FrameSource {
    /// The next frame, or `Ok(None)` when the source has ended (end of file).
    /// Sources do not pace themselves: the caller decides when to ask.
    fn next_frame(&mut self) -> Result<Option<I420Frame>>;

    /// Width and height of the frames this source produces.
    fn dimensions(&self) -> (u32, u32);

    /// Nominal frame rate in frames per second.
    fn frame_rate(&self) -> f64;
}

/// Layout of the machine-readable code drawn into synthetic frames.
///
/// Three rows of 32 cells at the top of the picture, each cell black or white:
/// the frame counter, the presentation time in milliseconds, and a check word
/// (`counter ^ pts_ms ^ CHECK`). Cells are 16 pixels tall (one macroblock row) and
/// `width / 32` wide, big enough to survive H.264 at low bitrates, so a test can
/// read the counter back after decoding and prove order and integrity.
pub mod code {
    use crate::frame::I420Frame;

    /// Height of one row of cells, in pixels.
    pub const CELL_HEIGHT: u32 = 16;
    /// Bits per row.
    pub const BITS: u32 = 32;
    /// Mixed into the check word.
    const CHECK: u32 = 0x5a5a_a5a5;
    /// Luma of a 0 bit.
    pub const DARK: u8 = 16;
    /// Luma of a 1 bit.
    pub const LIGHT: u8 = 235;

    /// Draws `counter` and `pts_ms` (and the check word) into `frame`.
    pub fn draw(frame: &mut I420Frame, counter: u32, pts_ms: u32) {
        let words = [counter, pts_ms, counter ^ pts_ms ^ CHECK];
        let w = frame.width() as usize;
        let cw = w / BITS as usize;
        let ch = CELL_HEIGHT as usize;
        let (y, u, v) = frame.planes_mut();
        for (row, word) in words.iter().enumerate() {
            for bit in 0..BITS as usize {
                let on = (word >> (31 - bit)) & 1 == 1;
                let val = if on { LIGHT } else { DARK };
                for py in row * ch..(row + 1) * ch {
                    let start = py * w + bit * cw;
                    y[start..start + cw].fill(val);
                }
            }
        }
        // Neutral chroma under the code so colour bleeding cannot flip a bit.
        let cw2 = w / 2;
        let rows2 = 3 * ch / 2;
        u[..rows2 * cw2].fill(128);
        v[..rows2 * cw2].fill(128);
    }

    /// Reads `(counter, pts_ms)` back, or `None` if the check word does not match
    /// (the picture is corrupt or carries no code).
    #[must_use]
    pub fn read(frame: &I420Frame) -> Option<(u32, u32)> {
        let w = frame.width() as usize;
        let cw = w / BITS as usize;
        let ch = CELL_HEIGHT as usize;
        if cw < 2 || (frame.height() as usize) < 3 * ch {
            return None;
        }
        let y = frame.y();
        let mut words = [0u32; 3];
        for (row, word) in words.iter_mut().enumerate() {
            for bit in 0..BITS as usize {
                // Average the middle of the cell: edges blur under compression.
                let (mut sum, mut n) = (0u32, 0u32);
                for py in row * ch + ch / 4..row * ch + 3 * ch / 4 {
                    for px in bit * cw + cw / 4..bit * cw + (3 * cw).div_ceil(4) {
                        sum += u32::from(y[py * w + px]);
                        n += 1;
                    }
                }
                if n > 0 && sum / n > 125 {
                    *word |= 1 << (31 - bit);
                }
            }
        }
        (words[2] == words[0] ^ words[1] ^ CHECK).then_some((words[0], words[1]))
    }
}

/// A moving test pattern with the frame counter and timestamp coded into it.
///
/// Deterministic: frame `n` is always the same picture ([`SyntheticSource::render`]),
/// so a receiver can regenerate what it should have got and measure PSNR.
#[derive(Debug, Clone)]
pub struct SyntheticSource {
    width: u32,
    height: u32,
    fps: u32,
    next: u64,
}

impl SyntheticSource {
    /// A source of `width` x `height` frames at `fps`. The size must be even, at
    /// least 64 wide (two pixels per code cell) and 48 high (three code rows).
    pub fn new(width: u32, height: u32, fps: u32) -> Result<Self> {
        check_dimensions(width, height)?;
        if width < 2 * code::BITS || height < 3 * code::CELL_HEIGHT {
            return Err(VideoError::BadDimensions {
                width,
                height,
                reason: "synthetic source needs at least 64x48",
            });
        }
        if fps == 0 || fps > 240 {
            return Err(VideoError::BadSetting {
                name: "fps",
                reason: format!("{fps} is outside 1..=240"),
            });
        }
        Ok(Self {
            width,
            height,
            fps,
            next: 0,
        })
    }

    /// Presentation time of frame `index`.
    #[must_use]
    pub fn pts_of(&self, index: u64) -> Duration {
        Duration::from_micros(index.saturating_mul(1_000_000) / u64::from(self.fps))
    }

    /// Frame `index` of this source, without advancing it.
    pub fn render(&self, index: u64) -> Result<I420Frame> {
        let mut f = I420Frame::new(self.width, self.height)?;
        let pts = self.pts_of(index);
        let w = self.width as usize;
        let h = self.height as usize;
        let t = index as usize;
        let (y, u, v) = f.planes_mut();
        // Diagonal gradient scrolling right: motion everywhere, cheap to encode.
        for row in 0..h {
            let line = &mut y[row * w..(row + 1) * w];
            for (col, px) in line.iter_mut().enumerate() {
                *px = (((col + row + 4 * t) % 220) + 16) as u8;
            }
        }
        // A bright square bouncing horizontally: a moving edge for the encoder.
        let side = (h / 4).max(8);
        let span = w.saturating_sub(side).max(1);
        let phase = (8 * t) % (2 * span);
        let x0 = if phase < span {
            phase
        } else {
            2 * span - phase
        };
        let y0 = h / 2 - side / 2;
        for row in y0..(y0 + side).min(h) {
            y[row * w + x0..row * w + (x0 + side).min(w)].fill(235);
        }
        // Chroma: slow colour bands, also moving.
        let cw = w / 2;
        for row in 0..h / 2 {
            for col in 0..cw {
                u[row * cw + col] = (64 + ((col + t) % 128)) as u8;
                v[row * cw + col] = (64 + ((row + 2 * t) % 128)) as u8;
            }
        }
        code::draw(&mut f, index as u32, pts.as_millis() as u32);
        f.pts = pts;
        f.index = index;
        Ok(f)
    }
}

impl FrameSource for SyntheticSource {
    fn next_frame(&mut self) -> Result<Option<I420Frame>> {
        let f = self.render(self.next)?;
        self.next += 1;
        Ok(Some(f))
    }

    fn dimensions(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    fn frame_rate(&self) -> f64 {
        f64::from(self.fps)
    }
}

/// Longest header line accepted; real headers are under 100 bytes.
const MAX_Y4M_LINE: usize = 1024;

/// Frames from a YUV4MPEG2 (`.y4m`) stream, 4:2:0 only.
///
/// Y4M is the raw format every video tool can write (`ffmpeg -pix_fmt yuv420p
/// out.y4m`), so recorded clips can stand in for a camera.
#[derive(Debug)]
pub struct Y4mSource<R> {
    reader: R,
    width: u32,
    height: u32,
    fps_num: u32,
    fps_den: u32,
    next: u64,
}

impl<R: BufRead> Y4mSource<R> {
    /// Parses the stream header. Refuses anything but 4:2:0 8-bit, a missing or
    /// zero size, and a malformed frame rate.
    pub fn new(mut reader: R) -> Result<Self> {
        let line = read_line(&mut reader)?.ok_or_else(|| VideoError::Y4m("empty input".into()))?;
        let mut parts = line.split(' ');
        if parts.next() != Some("YUV4MPEG2") {
            return Err(VideoError::Y4m("missing YUV4MPEG2 signature".into()));
        }
        let (mut width, mut height) = (None, None);
        let (mut fps_num, mut fps_den) = (30, 1);
        for p in parts.filter(|p| !p.is_empty()) {
            let (tag, val) = p.split_at(1);
            let num = |what: &str| {
                val.parse::<u32>()
                    .map_err(|_| VideoError::Y4m(format!("bad {what} {val:?}")))
            };
            match tag {
                "W" => width = Some(num("width")?),
                "H" => height = Some(num("height")?),
                "F" => {
                    let (n, d) = val
                        .split_once(':')
                        .ok_or_else(|| VideoError::Y4m(format!("bad frame rate {val:?}")))?;
                    fps_num = n
                        .parse()
                        .map_err(|_| VideoError::Y4m(format!("bad frame rate {val:?}")))?;
                    fps_den = d
                        .parse()
                        .map_err(|_| VideoError::Y4m(format!("bad frame rate {val:?}")))?;
                    if fps_num == 0 || fps_den == 0 {
                        return Err(VideoError::Y4m(format!("bad frame rate {val:?}")));
                    }
                }
                "C" => {
                    if !matches!(val, "420" | "420jpeg" | "420paldv" | "420mpeg2") {
                        return Err(VideoError::Y4m(format!(
                            "colour space C{val} is not supported (only 4:2:0 8-bit)"
                        )));
                    }
                }
                "I" => {
                    if !matches!(val, "p" | "?") {
                        return Err(VideoError::Y4m(format!("interlacing I{val} not supported")));
                    }
                }
                // Aspect ratio and comments do not change how frames are read.
                "A" | "X" => {}
                _ => return Err(VideoError::Y4m(format!("unknown header field {p:?}"))),
            }
        }
        let (Some(width), Some(height)) = (width, height) else {
            return Err(VideoError::Y4m("header lacks W or H".into()));
        };
        check_dimensions(width, height)?;
        Ok(Self {
            reader,
            width,
            height,
            fps_num,
            fps_den,
            next: 0,
        })
    }
}

/// Reads one `\n`-terminated line, bounded. `Ok(None)` at a clean end of input.
fn read_line<R: BufRead>(r: &mut R) -> Result<Option<String>> {
    let mut buf = Vec::new();
    loop {
        let chunk = r.fill_buf()?;
        if chunk.is_empty() {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(VideoError::Y4m("line not terminated".into()))
            };
        }
        if let Some(pos) = chunk.iter().position(|&b| b == b'\n') {
            buf.extend_from_slice(&chunk[..pos]);
            r.consume(pos + 1);
            break;
        }
        let n = chunk.len();
        buf.extend_from_slice(chunk);
        r.consume(n);
        if buf.len() > MAX_Y4M_LINE {
            return Err(VideoError::Y4m("header line too long".into()));
        }
    }
    if buf.len() > MAX_Y4M_LINE {
        return Err(VideoError::Y4m("header line too long".into()));
    }
    String::from_utf8(buf)
        .map(Some)
        .map_err(|_| VideoError::Y4m("header is not UTF-8".into()))
}

impl<R: BufRead> FrameSource for Y4mSource<R> {
    fn next_frame(&mut self) -> Result<Option<I420Frame>> {
        let Some(line) = read_line(&mut self.reader)? else {
            return Ok(None);
        };
        if line != "FRAME" && !line.starts_with("FRAME ") {
            return Err(VideoError::Y4m(format!(
                "expected FRAME marker, got {:?}",
                line.chars().take(16).collect::<String>()
            )));
        }
        let w = self.width as usize;
        let h = self.height as usize;
        let mut y = vec![0; w * h];
        let mut u = vec![0; w * h / 4];
        let mut v = vec![0; w * h / 4];
        for plane in [&mut y, &mut u, &mut v] {
            self.reader.read_exact(plane).map_err(|e| {
                if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    VideoError::Y4m(format!("frame {} is truncated", self.next))
                } else {
                    VideoError::Io(e)
                }
            })?;
        }
        let mut f = I420Frame::from_planes(self.width, self.height, y, u, v)?;
        f.index = self.next;
        f.pts = Duration::from_micros(
            self.next
                .saturating_mul(1_000_000 * u64::from(self.fps_den))
                / u64::from(self.fps_num),
        );
        self.next += 1;
        Ok(Some(f))
    }

    fn dimensions(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    fn frame_rate(&self) -> f64 {
        f64::from(self.fps_num) / f64::from(self.fps_den)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_code_round_trips() {
        let mut s = SyntheticSource::new(320, 180, 30).unwrap();
        for i in 0..5u32 {
            let f = s.next_frame().unwrap().unwrap();
            assert_eq!(code::read(&f), Some((i, (i * 1000) / 30)));
            assert_eq!(f.index, u64::from(i));
        }
        assert!(SyntheticSource::new(32, 32, 30).is_err());
        assert!(SyntheticSource::new(320, 180, 0).is_err());
        // A frame without the code is not mistaken for one.
        assert_eq!(code::read(&I420Frame::new(320, 180).unwrap()), None);
    }

    fn y4m(header: &str, frames: usize, frame_len: usize) -> Vec<u8> {
        let mut v = header.as_bytes().to_vec();
        for i in 0..frames {
            v.extend_from_slice(b"FRAME\n");
            v.extend(std::iter::repeat_n(i as u8, frame_len));
        }
        v
    }

    #[test]
    fn y4m_reads_frames_and_timestamps() {
        let data = y4m(
            "YUV4MPEG2 W4 H2 F25:1 Ip A1:1 C420jpeg XYSCSS=420JPEG\n",
            2,
            12,
        );
        let mut s = Y4mSource::new(&data[..]).unwrap();
        assert_eq!(s.dimensions(), (4, 2));
        assert!((s.frame_rate() - 25.0).abs() < 1e-9);
        let f0 = s.next_frame().unwrap().unwrap();
        let f1 = s.next_frame().unwrap().unwrap();
        assert_eq!(f1.y(), &[1; 8]);
        assert_eq!(f1.pts, Duration::from_millis(40));
        assert_eq!(f0.index, 0);
        assert!(s.next_frame().unwrap().is_none());
    }

    #[test]
    fn y4m_bad_input_is_an_error() {
        for bad in [
            "",
            "YUV4MPEG W4 H2\n",
            "YUV4MPEG2 W4\n",
            "YUV4MPEG2 W4 H2 C444\n",
            "YUV4MPEG2 W4 H2 F0:1\n",
            "YUV4MPEG2 W4 H2 Fx\n",
            "YUV4MPEG2 W3 H2\n",
            "YUV4MPEG2 W99999 H2\n",
            "YUV4MPEG2 W4 H2 Q1\n",
            "YUV4MPEG2 W4 H2",
        ] {
            assert!(Y4mSource::new(bad.as_bytes()).is_err(), "{bad:?}");
        }
        // Truncated frame and missing FRAME marker.
        let data = y4m("YUV4MPEG2 W4 H2\n", 1, 11);
        let mut s = Y4mSource::new(&data[..]).unwrap();
        assert!(s.next_frame().is_err());
        let mut s = Y4mSource::new(&b"YUV4MPEG2 W4 H2\nFRAMX\n"[..]).unwrap();
        assert!(s.next_frame().is_err());
        let long = format!("YUV4MPEG2 {}\n", "X".repeat(5000));
        assert!(Y4mSource::new(long.as_bytes()).is_err());
    }
}
