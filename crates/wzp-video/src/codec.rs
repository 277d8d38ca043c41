//! H.264 (Constrained Baseline, WZP codec id 9) through OpenH264.
//!
//! Baseline because every decoder has it and it has no B-frames: each access unit
//! decodes as soon as it arrives, which is what a call needs.

use std::time::Duration;

use openh264::OpenH264API;
use openh264::decoder::{Decoder, DecoderConfig};
use openh264::encoder::{
    BitRate, Complexity, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, Profile,
    RateControlMode, UsageType,
};
use openh264::formats::YUVSource;
use tracing::{debug, warn};

use crate::error::{Result, VideoError};
use crate::frame::{I420Frame, check_dimensions};

/// Encoder speed/quality trade-off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EncoderSpeed {
    /// Fastest; the default, because a call must keep up with real time on one core.
    #[default]
    Fast,
    /// OpenH264's default: better quality per bit, roughly half the speed at 720p.
    Balanced,
}

/// What the encoder is asked to produce. Changing any of it live goes through
/// [`H264Encoder::reconfigure`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EncoderSettings {
    /// Frame width (even).
    pub width: u32,
    /// Frame height (even).
    pub height: u32,
    /// Target frame rate; the rate controller spends the bitrate over this many frames.
    pub fps: f32,
    /// Target bitrate in bits per second.
    pub bitrate_bps: u32,
    /// Encoder threads: 1 for one core; 0 lets OpenH264 choose. More than one only
    /// pays at 720p and above (OpenH264 splits a frame into slices per thread).
    pub threads: u16,
    /// Whether the rate controller may drop frames to hold the bitrate. Off by
    /// default: a dropped frame is a visible stutter, and the rate ladder lowers
    /// resolution or fps instead.
    pub skip_frames: bool,
    /// Speed/quality trade-off.
    pub speed: EncoderSpeed,
    /// Force a keyframe every this many frames (0 = only on request). Calls rely on
    /// keyframe requests instead; a period helps receive-only recordings.
    pub keyframe_interval: u32,
}

impl EncoderSettings {
    /// 1280x720 at 30 fps, 1.5 Mbps, one thread: the top rung of the ladder.
    #[must_use]
    pub fn hd() -> Self {
        Self {
            width: 1280,
            height: 720,
            fps: 30.0,
            bitrate_bps: 1_500_000,
            threads: 1,
            skip_frames: false,
            speed: EncoderSpeed::Fast,
            keyframe_interval: 0,
        }
    }

    /// Encoder threads worth using for this size on a machine with `cores` cores:
    /// two from 960x540 up (measured at 720p: 82 -> 103 fps with 2 threads, see
    /// docs/BENCHMARKS.md), one below, where slice-splitting costs more than it gains.
    #[must_use]
    pub fn threads_for(width: u32, height: u32, cores: usize) -> u16 {
        if cores >= 2 && u64::from(width) * u64::from(height) >= 960 * 540 {
            2
        } else {
            1
        }
    }

    fn validate(&self) -> Result<()> {
        check_dimensions(self.width, self.height)?;
        if self.width < 16 || self.height < 16 {
            return Err(VideoError::BadDimensions {
                width: self.width,
                height: self.height,
                reason: "H.264 needs at least one 16x16 macroblock",
            });
        }
        if !(self.fps.is_finite() && self.fps > 0.0 && self.fps <= 240.0) {
            return Err(VideoError::BadSetting {
                name: "fps",
                reason: format!("{} is outside (0, 240]", self.fps),
            });
        }
        if !(10_000..=50_000_000).contains(&self.bitrate_bps) {
            return Err(VideoError::BadSetting {
                name: "bitrate_bps",
                reason: format!("{} is outside 10 kbps..=50 Mbps", self.bitrate_bps),
            });
        }
        if self.threads > 16 {
            return Err(VideoError::BadSetting {
                name: "threads",
                reason: format!("{} is more than 16", self.threads),
            });
        }
        Ok(())
    }

    fn config(&self) -> EncoderConfig {
        EncoderConfig::new()
            .profile(Profile::Baseline)
            .usage_type(UsageType::CameraVideoRealTime)
            .rate_control_mode(RateControlMode::Bitrate)
            .bitrate(BitRate::from_bps(self.bitrate_bps))
            .max_frame_rate(FrameRate::from_hz(self.fps))
            .skip_frames(self.skip_frames)
            .num_threads(self.threads)
            .intra_frame_period(IntraFramePeriod::from_num_frames(self.keyframe_interval))
            .complexity(match self.speed {
                EncoderSpeed::Fast => Complexity::Low,
                EncoderSpeed::Balanced => Complexity::Medium,
            })
            // Calls are mostly static backgrounds; background detection and
            // adaptive quantisation cost time for little gain at these rates.
            .background_detection(false)
            .adaptive_quantization(false)
            .scene_change_detect(false)
    }
}

/// One encoded access unit (all NAL units of one picture) in Annex-B form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedFrame {
    /// Annex-B bytes: start codes and NAL units.
    pub data: Vec<u8>,
    /// An IDR picture: decodes without any earlier frame.
    pub keyframe: bool,
    /// Presentation time of the source frame.
    pub pts: Duration,
}

/// H.264 encoder with live reconfiguration and keyframes on demand.
pub struct H264Encoder {
    settings: EncoderSettings,
    inner: Encoder,
    force_keyframe: bool,
    frames: u64,
}

impl std::fmt::Debug for H264Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H264Encoder")
            .field("settings", &self.settings)
            .field("frames", &self.frames)
            .finish_non_exhaustive()
    }
}

fn make_encoder(s: &EncoderSettings) -> Result<Encoder> {
    Encoder::with_api_config(OpenH264API::from_source(), s.config())
        .map_err(|e| VideoError::Encode(e.to_string()))
}

impl H264Encoder {
    /// An encoder for these settings (refused with a named error if out of range).
    pub fn new(settings: EncoderSettings) -> Result<Self> {
        settings.validate()?;
        Ok(Self {
            inner: make_encoder(&settings)?,
            settings,
            force_keyframe: false,
            frames: 0,
        })
    }

    /// The settings in force.
    #[must_use]
    pub fn settings(&self) -> EncoderSettings {
        self.settings
    }

    /// Applies new settings from the next frame on. OpenH264's safe API only takes
    /// a configuration when the encoder is created, so a change rebuilds it, and
    /// the next frame is therefore a keyframe; the rate ladder changes settings at
    /// most a few times a minute, so that costs little.
    pub fn reconfigure(&mut self, settings: EncoderSettings) -> Result<()> {
        settings.validate()?;
        if settings == self.settings {
            return Ok(());
        }
        debug!(?settings, "reconfiguring H.264 encoder");
        self.inner = make_encoder(&settings)?;
        self.settings = settings;
        Ok(())
    }

    /// Makes the next encoded frame an IDR (answer to a keyframe request).
    pub fn request_keyframe(&mut self) {
        self.force_keyframe = true;
    }

    /// Encodes one frame. `Ok(None)` when the rate controller skipped it (only if
    /// `skip_frames` is on). The frame must match the configured size.
    pub fn encode(&mut self, frame: &I420Frame) -> Result<Option<EncodedFrame>> {
        if (frame.width(), frame.height()) != (self.settings.width, self.settings.height) {
            return Err(VideoError::BadDimensions {
                width: frame.width(),
                height: frame.height(),
                reason: "frame size differs from the encoder settings",
            });
        }
        if self.force_keyframe && self.frames > 0 {
            self.inner.force_intra_frame();
        }
        self.force_keyframe = false;
        self.frames += 1;
        let ts = openh264::Timestamp::from_millis(frame.pts.as_millis() as u64);
        let bs = self
            .inner
            .encode_at(frame, ts)
            .map_err(|e| VideoError::Encode(e.to_string()))?;
        let ft = bs.frame_type();
        if matches!(ft, FrameType::Skip | FrameType::Invalid) {
            return Ok(None);
        }
        let mut data = Vec::new();
        bs.write_vec(&mut data);
        Ok(Some(EncodedFrame {
            data,
            keyframe: matches!(ft, FrameType::IDR),
            pts: frame.pts,
        }))
    }
}

/// H.264 decoder that reports bad input as an error instead of guessing.
///
/// OpenH264's error concealment is left off: a concealed picture is a corrupt
/// picture, and the call should freeze on the last good one and ask for a
/// keyframe instead (see [`crate::recovery`]).
pub struct H264Decoder {
    inner: Decoder,
}

impl std::fmt::Debug for H264Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H264Decoder").finish_non_exhaustive()
    }
}

impl H264Decoder {
    /// A fresh decoder (it needs a keyframe with SPS/PPS before anything decodes).
    pub fn new() -> Result<Self> {
        let inner = Decoder::with_api_config(OpenH264API::from_source(), DecoderConfig::new())
            .map_err(|e| VideoError::Decode(e.to_string()))?;
        Ok(Self { inner })
    }

    /// Decodes one complete Annex-B access unit. `Ok(None)` if it produced no
    /// picture (parameter sets only); an error if the bitstream is corrupt or a
    /// reference is missing. After an error the caller should wait for a keyframe.
    pub fn decode(&mut self, access_unit: &[u8]) -> Result<Option<I420Frame>> {
        let out = self.inner.decode(access_unit).map_err(|e| {
            warn!(error = %e, len = access_unit.len(), "H.264 access unit did not decode");
            VideoError::Decode(e.to_string())
        })?;
        let Some(pic) = out else { return Ok(None) };
        let (w, h) = pic.dimensions();
        let (sy, su, sv) = pic.strides();
        let frame = I420Frame::from_strided(
            w as u32,
            h as u32,
            [(pic.y(), sy), (pic.u(), su), (pic.v(), sv)],
        )?;
        Ok(Some(frame))
    }

    /// Forgets all state (after a resolution change or a broken chain, so stale
    /// references cannot leak into the next picture).
    pub fn reset(&mut self) -> Result<()> {
        *self = Self::new()?;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::source::{FrameSource, SyntheticSource, code};

    fn settings(w: u32, h: u32, bps: u32) -> EncoderSettings {
        EncoderSettings {
            width: w,
            height: h,
            bitrate_bps: bps,
            ..EncoderSettings::hd()
        }
    }

    #[test]
    fn encodes_and_decodes_every_frame_with_counter_and_psnr() {
        let mut src = SyntheticSource::new(640, 360, 30).unwrap();
        let mut enc = H264Encoder::new(settings(640, 360, 1_000_000)).unwrap();
        let mut dec = H264Decoder::new().unwrap();
        let mut min_psnr = f64::INFINITY;
        for i in 0..30u32 {
            let f = src.next_frame().unwrap().unwrap();
            let e = enc.encode(&f).unwrap().expect("skip_frames is off");
            assert_eq!(e.keyframe, i == 0);
            let d = dec.decode(&e.data).unwrap().expect("baseline has no delay");
            assert_eq!(code::read(&d).map(|c| c.0), Some(i));
            min_psnr = min_psnr.min(d.psnr(&f).unwrap());
        }
        assert!(min_psnr >= 30.0, "min PSNR {min_psnr:.1} dB");
    }

    #[test]
    fn threads_only_where_they_pay() {
        assert_eq!(EncoderSettings::threads_for(1280, 720, 2), 2);
        assert_eq!(EncoderSettings::threads_for(1280, 720, 1), 1);
        assert_eq!(EncoderSettings::threads_for(640, 360, 8), 1);
    }

    #[test]
    fn keyframe_on_demand_and_reconfigure() {
        let mut src = SyntheticSource::new(320, 180, 15).unwrap();
        let mut enc = H264Encoder::new(settings(320, 180, 300_000)).unwrap();
        let f = src.next_frame().unwrap().unwrap();
        assert!(enc.encode(&f).unwrap().unwrap().keyframe);
        let f = src.next_frame().unwrap().unwrap();
        assert!(!enc.encode(&f).unwrap().unwrap().keyframe);
        enc.request_keyframe();
        let f = src.next_frame().unwrap().unwrap();
        assert!(enc.encode(&f).unwrap().unwrap().keyframe);
        enc.reconfigure(settings(320, 180, 200_000)).unwrap();
        let f = src.next_frame().unwrap().unwrap();
        assert!(enc.encode(&f).unwrap().unwrap().keyframe);
        // Wrong size and bad settings are named errors.
        let small = SyntheticSource::new(160, 90, 15)
            .unwrap()
            .render(0)
            .unwrap();
        assert!(enc.encode(&small).is_err());
        assert!(H264Encoder::new(settings(320, 180, 5)).is_err());
        assert!(
            H264Encoder::new(EncoderSettings {
                fps: f32::NAN,
                ..settings(320, 180, 300_000)
            })
            .is_err()
        );
    }

    #[test]
    fn decoder_survives_garbage_and_missing_references() {
        let mut src = SyntheticSource::new(320, 180, 15).unwrap();
        let mut enc = H264Encoder::new(settings(320, 180, 300_000)).unwrap();
        let frames: Vec<_> = (0..4)
            .map(|_| {
                enc.encode(&src.next_frame().unwrap().unwrap())
                    .unwrap()
                    .unwrap()
            })
            .collect();
        let mut dec = H264Decoder::new().unwrap();
        // A P-frame before any keyframe, garbage, truncation: errors or nothing, never a panic.
        let _ = dec.decode(&frames[1].data);
        let _ = dec.decode(&[0, 0, 0, 1, 0x65, 0xff, 0x00, 0x12]);
        let _ = dec.decode(&frames[0].data[..frames[0].data.len() / 2]);
        let _ = dec.decode(&[]);
        let mut flipped = frames[2].data.clone();
        for b in flipped.iter_mut().skip(20).step_by(7) {
            *b ^= 0x5a;
        }
        let _ = dec.decode(&flipped);
        // After a reset and a keyframe it decodes again.
        dec.reset().unwrap();
        assert!(dec.decode(&frames[0].data).unwrap().is_some());
        assert!(dec.decode(&frames[1].data).unwrap().is_some());
    }
}
