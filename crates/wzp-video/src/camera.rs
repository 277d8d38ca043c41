//! Cameras through nokhwa (feature `camera`).
//!
//! "No camera" is a normal state: [`list_cameras`] returns an empty list, and a
//! call runs without video or with a synthetic source. A camera that disappears
//! mid-call makes [`CameraSource::next_frame`] return [`VideoError::CameraLost`],
//! which the owner turns into an event, never a crash.

use std::time::Instant;

use nokhwa::Camera;
use nokhwa::pixel_format::RgbFormat;
use nokhwa::utils::{
    ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType,
};
use tracing::{debug, warn};

use crate::error::{Result, VideoError};
use crate::frame::{I420Frame, check_dimensions};
use crate::source::FrameSource;

/// One capture mode a camera offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraMode {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frames per second.
    pub fps: u32,
    /// Pixel format name as the camera reports it (YUYV, MJPEG, NV12, ...).
    pub format: String,
}

/// A camera as listed for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraInfo {
    /// Identifier to pass to [`CameraSource::open`].
    pub id: String,
    /// Human-readable name.
    pub name: String,
    /// Backend description (driver, bus).
    pub description: String,
    /// Modes it offers (empty if it could not be opened to ask).
    pub modes: Vec<CameraMode>,
}

/// Lists cameras with their modes. No camera gives `Ok(vec![])`.
pub fn list_cameras() -> Result<Vec<CameraInfo>> {
    let found = nokhwa::query(ApiBackend::Auto).map_err(|e| VideoError::Camera(e.to_string()))?;
    let mut out = Vec::with_capacity(found.len());
    for info in found {
        let modes = match Camera::new(
            info.index().clone(),
            RequestedFormat::new::<RgbFormat>(RequestedFormatType::None),
        )
        .and_then(|mut c| c.compatible_camera_formats())
        {
            Ok(formats) => formats
                .into_iter()
                .map(|f| CameraMode {
                    width: f.width(),
                    height: f.height(),
                    fps: f.frame_rate(),
                    format: f.format().to_string(),
                })
                .collect(),
            Err(e) => {
                warn!(camera = %info.human_name(), error = %e, "could not read camera modes");
                Vec::new()
            }
        };
        out.push(CameraInfo {
            id: info.index().as_string(),
            name: info.human_name(),
            description: info.description().to_string(),
            modes,
        });
    }
    Ok(out)
}

/// Frames from a camera, converted to I420.
pub struct CameraSource {
    camera: Camera,
    width: u32,
    height: u32,
    fps: u32,
    started: Instant,
    next: u64,
}

impl std::fmt::Debug for CameraSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CameraSource")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("fps", &self.fps)
            .finish_non_exhaustive()
    }
}

impl CameraSource {
    /// Opens camera `id` (from [`list_cameras`]) in the mode closest to the one asked for.
    pub fn open(id: &str, width: u32, height: u32, fps: u32) -> Result<Self> {
        let index = id
            .parse::<u32>()
            .map_or_else(|_| CameraIndex::String(id.to_string()), CameraIndex::Index);
        let want = CameraFormat::new_from(width, height, FrameFormat::YUYV, fps);
        let mut camera = Camera::new(
            index,
            RequestedFormat::new::<RgbFormat>(RequestedFormatType::Closest(want)),
        )
        .map_err(|e| VideoError::Camera(e.to_string()))?;
        camera
            .open_stream()
            .map_err(|e| VideoError::Camera(e.to_string()))?;
        let fmt = camera.camera_format();
        debug!(%fmt, "camera open");
        Ok(Self {
            width: fmt.width(),
            height: fmt.height(),
            fps: fmt.frame_rate(),
            camera,
            started: Instant::now(),
            next: 0,
        })
    }
}

impl CameraSource {
    /// Opens camera `id` like [`CameraSource::open`], on a thread of its own: a camera
    /// cannot move between threads, the returned source can (the call engine reads
    /// it on its encoder thread).
    pub fn open_threaded(
        id: &str,
        width: u32,
        height: u32,
        fps: u32,
    ) -> Result<crate::threaded::ThreadedSource> {
        let id = id.to_string();
        crate::threaded::ThreadedSource::spawn("wzp-camera", move || {
            Self::open(&id, width, height, fps)
        })
    }
}

impl FrameSource for CameraSource {
    fn next_frame(&mut self) -> Result<Option<I420Frame>> {
        let buf = self
            .camera
            .frame()
            .map_err(|e| VideoError::CameraLost(e.to_string()))?;
        let res = buf.resolution();
        let (w, h) = (res.width(), res.height());
        let mut f = match buf.source_frame_format() {
            FrameFormat::YUYV => yuyv_to_i420(w, h, buf.buffer())?,
            FrameFormat::NV12 => nv12_to_i420(w, h, buf.buffer())?,
            other => {
                return Err(VideoError::Camera(format!(
                    "camera delivers {other}, only YUYV and NV12 are converted"
                )));
            }
        };
        f.pts = self.started.elapsed();
        f.index = self.next;
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

/// Packed 4:2:2 YUYV to I420 (chroma of each row pair averaged).
pub fn yuyv_to_i420(width: u32, height: u32, data: &[u8]) -> Result<I420Frame> {
    check_dimensions(width, height)?;
    let (w, h) = (width as usize, height as usize);
    if data.len() < w * h * 2 {
        return Err(VideoError::BadPlane {
            plane: "yuyv",
            got: data.len(),
            expected: w * h * 2,
        });
    }
    let mut f = I420Frame::new(width, height)?;
    let (y, u, v) = f.planes_mut();
    for row in 0..h {
        let src = &data[row * w * 2..(row + 1) * w * 2];
        for (i, px) in src.chunks_exact(2).enumerate() {
            y[row * w + i] = px[0];
        }
    }
    for row in 0..h / 2 {
        let a = &data[2 * row * w * 2..(2 * row + 1) * w * 2];
        let b = &data[(2 * row + 1) * w * 2..(2 * row + 2) * w * 2];
        for col in 0..w / 2 {
            let k = col * 4;
            u[row * (w / 2) + col] = (u16::from(a[k + 1]) + u16::from(b[k + 1])).div_ceil(2) as u8;
            v[row * (w / 2) + col] = (u16::from(a[k + 3]) + u16::from(b[k + 3])).div_ceil(2) as u8;
        }
    }
    Ok(f)
}

/// NV12 (Y plane, then interleaved UV at half resolution) to I420.
pub fn nv12_to_i420(width: u32, height: u32, data: &[u8]) -> Result<I420Frame> {
    check_dimensions(width, height)?;
    let (w, h) = (width as usize, height as usize);
    let need = w * h * 3 / 2;
    if data.len() < need {
        return Err(VideoError::BadPlane {
            plane: "nv12",
            got: data.len(),
            expected: need,
        });
    }
    let uv = &data[w * h..need];
    let u: Vec<u8> = uv.iter().step_by(2).copied().collect();
    let v: Vec<u8> = uv.iter().skip(1).step_by(2).copied().collect();
    I420Frame::from_planes(width, height, data[..w * h].to_vec(), u, v)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn no_camera_is_an_empty_list_and_open_fails_cleanly() {
        // This machine has no /dev/video*: listing must succeed and be empty,
        // opening must be an error, neither may panic.
        let cams = list_cameras().unwrap();
        if cams.is_empty() {
            assert!(CameraSource::open("0", 640, 480, 30).is_err());
        }
    }

    #[test]
    fn pixel_conversions() {
        // 2x2 YUYV: Y0 U Y1 V per pair of pixels.
        let yuyv = [10, 100, 20, 200, 30, 110, 40, 210];
        let f = yuyv_to_i420(2, 2, &yuyv).unwrap();
        assert_eq!(f.y(), &[10, 20, 30, 40]);
        assert_eq!((f.u()[0], f.v()[0]), (105, 205));
        assert!(yuyv_to_i420(2, 2, &yuyv[..7]).is_err());
        let nv12 = [1, 2, 3, 4, 50, 60];
        let f = nv12_to_i420(2, 2, &nv12).unwrap();
        assert_eq!(
            (f.y(), f.u(), f.v()),
            (&[1, 2, 3, 4][..], &[50][..], &[60][..])
        );
        assert!(nv12_to_i420(2, 2, &nv12[..5]).is_err());
    }
}
