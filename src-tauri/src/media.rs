//! The media a call in the app uses: the chosen microphone and speaker, falling back to
//! silence (and telling the UI) when a device cannot be opened, so a call still connects
//! on a machine with no sound devices.
//!
//! `WZP_APP_AUDIO_IN=tone|silence` and `WZP_APP_VIDEO_IN=pattern:WxH@FPS` replace the
//! devices with synthetic sources; the end-to-end test and demos on machines without a
//! microphone or camera use them.

use std::sync::{Arc, Mutex};

use wzp_audio::{AudioSink, AudioSource, CaptureDevice, PlaybackDevice, SilenceSource, ToneSource};
use wzp_engine::{MediaIo, NullVideoSink};
use wzp_video::{FrameSource, SyntheticSource};

/// Which devices to open; shared with the settings so a change applies to the next call.
#[derive(Debug, Clone, Default)]
pub struct DeviceChoice {
    /// Microphone id, `None` for the default.
    pub input: Option<String>,
    /// Speaker id, `None` for the default.
    pub output: Option<String>,
}

/// Discards audio.
struct NullSink;

impl AudioSink for NullSink {
    fn push(&mut self, _: &[f32]) -> wzp_audio::Result<()> {
        Ok(())
    }
}

/// Builds the media for one call. Failures to open a device are logged and reported
/// through `warn` (shown by the UI), and replaced by silence.
pub fn open(choice: &Arc<Mutex<DeviceChoice>>, warn: &dyn Fn(String)) -> MediaIo {
    let c = choice.lock().map(|c| c.clone()).unwrap_or_default();
    let audio_in: Box<dyn AudioSource> = match std::env::var("WZP_APP_AUDIO_IN").as_deref() {
        Ok("tone") => Box::new(ToneSource::new(440.0, 0.3)),
        Ok("silence") => Box::new(SilenceSource),
        _ => match CaptureDevice::open(c.input.as_deref()) {
            Ok(d) => Box::new(d),
            Err(e) => {
                tracing::warn!(error = %e, "no microphone; sending silence");
                warn(format!("microphone: {e}"));
                Box::new(SilenceSource)
            }
        },
    };
    let audio_out: Box<dyn AudioSink> = match PlaybackDevice::open(c.output.as_deref()) {
        Ok(d) => Box::new(d),
        Err(e) => {
            tracing::warn!(error = %e, "no speaker; incoming audio is not played");
            warn(format!("speaker: {e}"));
            Box::new(NullSink)
        }
    };
    let video_in: Option<Box<dyn FrameSource + Send>> = std::env::var("WZP_APP_VIDEO_IN")
        .ok()
        .and_then(|v| pattern(&v))
        .and_then(|(w, h, fps)| SyntheticSource::new(w, h, fps).ok())
        .map(|s| Box::new(s) as Box<dyn FrameSource + Send>);
    MediaIo {
        audio_in,
        audio_out,
        video_in,
        video_out: Box::new(NullVideoSink),
    }
}

/// `pattern:WxH@FPS` -> (w, h, fps).
fn pattern(v: &str) -> Option<(u32, u32, u32)> {
    let spec = v.strip_prefix("pattern:")?;
    let (size, fps) = spec.split_once('@').unwrap_or((spec, "15"));
    let (w, h) = size.split_once('x')?;
    Some((w.parse().ok()?, h.parse().ok()?, fps.parse().ok()?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn pattern_spec() {
        assert_eq!(super::pattern("pattern:320x192@15"), Some((320, 192, 15)));
        assert_eq!(super::pattern("pattern:640x360"), Some((640, 360, 15)));
        assert_eq!(super::pattern("camera"), None);
    }
}
