//! The media a call in the app uses: the chosen microphone and speaker, falling back to
//! silence (and telling the UI) when a device cannot be opened, so a call still connects
//! on a machine with no sound devices.
//!
//! The camera is the one chosen in the settings, else the first one; no camera is a
//! normal state (the call carries no video from us).
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
    /// Camera id (`wzp_video::camera::CameraInfo::id`), `None` for the first camera.
    pub camera: Option<String>,
}

/// The capture mode asked of a camera (it gives the closest it has).
pub const CAMERA_MODE: (u32, u32, u32) = (1280, 720, 30);

/// A camera as the settings screen lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Camera {
    /// Id to store.
    pub id: String,
    /// Name to show.
    pub name: String,
}

/// The cameras on this computer; none is an empty list, not an error. With
/// `WZP_APP_VIDEO_IN` set, its test pattern is listed first (it is what calls send).
pub fn list_cameras() -> crate::Result<Vec<Camera>> {
    let pattern = std::env::var("WZP_APP_VIDEO_IN")
        .ok()
        .filter(|v| pattern(v).is_some())
        .map(|v| Camera {
            id: "test-pattern".into(),
            name: format!("Test pattern ({v})"),
        });
    let cameras = wzp_video::camera::list_cameras()
        .map_err(|e| crate::AppError::Camera(format!("cannot list cameras: {e}")))?;
    Ok(pattern
        .into_iter()
        .chain(cameras.into_iter().map(|c| Camera {
            id: c.id,
            name: c.name,
        }))
        .collect())
}

/// Opens the video source for a call or the camera preview: the synthetic pattern of
/// `WZP_APP_VIDEO_IN` when set, else camera `id` (else the first camera). `Ok(None)`:
/// there is no camera (a normal state: calls then carry no video). Blocking.
pub fn open_video(id: Option<&str>) -> crate::Result<Option<Box<dyn FrameSource + Send>>> {
    if let Some((w, h, fps)) = std::env::var("WZP_APP_VIDEO_IN")
        .ok()
        .and_then(|v| pattern(&v))
    {
        return SyntheticSource::new(w, h, fps)
            .map(|s| Some(Box::new(s) as Box<dyn FrameSource + Send>))
            .map_err(|e| crate::AppError::Camera(format!("test pattern: {e}")));
    }
    let id = match id {
        Some(id) => id.to_string(),
        None => match list_cameras()?.into_iter().next() {
            Some(c) => c.id,
            None => return Ok(None),
        },
    };
    let (w, h, fps) = CAMERA_MODE;
    wzp_video::camera::CameraSource::open_threaded(&id, w, h, fps)
        .map(|c| Some(Box::new(c) as Box<dyn FrameSource + Send>))
        .map_err(|e| crate::AppError::Camera(e.to_string()))
}

/// Discards audio.
struct NullSink;

impl AudioSink for NullSink {
    fn push(&mut self, _: &[f32]) -> wzp_audio::Result<()> {
        Ok(())
    }
}

/// Closes a device on its own short-lived thread instead of the thread that drops it.
///
/// Why: closing a cpal PulseAudio playback stream joins cpal's stream thread, and that
/// join has been seen to never return (the stream thread parked in `play_all`; seen in
/// the app's end-to-end test after an answered call). The engine drops its devices at
/// the end of the call task, on a tokio worker: the worker was lost, the call task
/// never finished, so its history entry was never written and the incoming-call
/// listener never re-registered. Closing elsewhere keeps the app going; a stuck close
/// costs one parked thread and is logged.
pub struct CloseOffThread<T: Send + 'static>(Option<T>);

impl<T: Send + 'static> CloseOffThread<T> {
    /// Wraps a device.
    pub fn new(inner: T) -> Self {
        Self(Some(inner))
    }

    /// The device inside (for what the audio traits do not cover: hot-plug polling,
    /// queue depth). `None` only while it is being dropped.
    pub fn get_mut(&mut self) -> Option<&mut T> {
        self.0.as_mut()
    }
}

impl<T: Send + 'static> Drop for CloseOffThread<T> {
    fn drop(&mut self) {
        let Some(inner) = self.0.take() else {
            return;
        };
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let closer = std::thread::Builder::new()
            .name("wzp-audio-close".into())
            .spawn(move || {
                drop(inner);
                let _ = done_tx.send(());
            });
        match closer {
            Ok(_) => {
                // Watch it from yet another thread, only to say so if it never returns.
                let _ = std::thread::Builder::new()
                    .name("wzp-audio-close-watch".into())
                    .spawn(move || {
                        if done_rx
                            .recv_timeout(std::time::Duration::from_secs(5))
                            .is_err()
                        {
                            tracing::warn!(
                                "an audio device did not close within 5 s (its thread stays parked)"
                            );
                        }
                    });
            }
            Err(e) => tracing::warn!(error = %e, "cannot start a thread to close an audio device"),
        }
    }
}

impl<T: AudioSource + Send + 'static> AudioSource for CloseOffThread<T> {
    fn pull(&mut self, frame: &mut [f32]) -> wzp_audio::Result<wzp_audio::Pull> {
        match self.0.as_mut() {
            Some(d) => d.pull(frame),
            None => {
                frame.fill(0.0);
                Ok(wzp_audio::Pull::End)
            }
        }
    }

    fn device_events(&mut self) -> Vec<wzp_audio::DeviceEvent> {
        self.0
            .as_mut()
            .map_or_else(Vec::new, AudioSource::device_events)
    }
}

impl<T: AudioSink + Send + 'static> AudioSink for CloseOffThread<T> {
    fn push(&mut self, frame: &[f32]) -> wzp_audio::Result<()> {
        self.0.as_mut().map_or(Ok(()), |d| d.push(frame))
    }

    fn finish(&mut self) -> wzp_audio::Result<()> {
        self.0.as_mut().map_or(Ok(()), AudioSink::finish)
    }

    fn device_events(&mut self) -> Vec<wzp_audio::DeviceEvent> {
        self.0
            .as_mut()
            .map_or_else(Vec::new, AudioSink::device_events)
    }
}

/// Opens a microphone for a running call (`None`: the system default). Blocking.
pub fn open_input(id: Option<&str>) -> crate::Result<Box<dyn AudioSource>> {
    CaptureDevice::open(id)
        .map(|d| Box::new(CloseOffThread::new(d)) as Box<dyn AudioSource>)
        .map_err(|e| crate::AppError::Device(format!("microphone: {e}")))
}

/// Opens a speaker for a running call (`None`: the system default). Blocking.
pub fn open_output(id: Option<&str>) -> crate::Result<Box<dyn AudioSink>> {
    PlaybackDevice::open(id)
        .map(|d| Box::new(CloseOffThread::new(d)) as Box<dyn AudioSink>)
        .map_err(|e| crate::AppError::Device(format!("speaker: {e}")))
}

/// Builds the media for one call. Failures to open a device are logged and reported
/// through `warn` (shown by the UI), and replaced by silence.
pub fn open(
    choice: &Arc<Mutex<DeviceChoice>>,
    camera: crate::call::CameraAtStart,
    warn: &dyn Fn(String),
) -> MediaIo {
    let c = choice.lock().map(|c| c.clone()).unwrap_or_default();
    let audio_in: Box<dyn AudioSource> = match std::env::var("WZP_APP_AUDIO_IN").as_deref() {
        Ok("tone") => Box::new(ToneSource::new(440.0, 0.3)),
        Ok("silence") => Box::new(SilenceSource),
        _ => match CaptureDevice::open(c.input.as_deref()) {
            Ok(d) => Box::new(CloseOffThread::new(d)),
            Err(e) => {
                tracing::warn!(error = %e, "no microphone; sending silence");
                warn(format!("microphone: {e}"));
                Box::new(SilenceSource)
            }
        },
    };
    let audio_out: Box<dyn AudioSink> = match PlaybackDevice::open(c.output.as_deref()) {
        Ok(d) => Box::new(CloseOffThread::new(d)),
        Err(e) => {
            tracing::warn!(error = %e, "no speaker; incoming audio is not played");
            warn(format!("speaker: {e}"));
            Box::new(NullSink)
        }
    };
    // Started with the camera off, the camera is not even opened (its light stays off);
    // the camera button opens it (`commands::camera`).
    let video_in = if camera == crate::call::CameraAtStart::Closed {
        None
    } else {
        match open_video(c.camera.as_deref()) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "no camera; the call carries no video from us");
                warn(e.to_string());
                None
            }
        }
    };
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
    use super::*;

    /// A sink whose drop blocks until the test lets it go.
    struct StuckOnClose(std::sync::mpsc::Receiver<()>, std::sync::mpsc::Sender<()>);

    impl AudioSink for StuckOnClose {
        fn push(&mut self, _: &[f32]) -> wzp_audio::Result<()> {
            Ok(())
        }
    }

    impl Drop for StuckOnClose {
        fn drop(&mut self) {
            let _ = self.0.recv();
            let _ = self.1.send(());
        }
    }

    #[test]
    fn a_device_that_hangs_on_close_does_not_block_the_dropper() {
        let (release_tx, release_rx) = std::sync::mpsc::channel();
        let (closed_tx, closed_rx) = std::sync::mpsc::channel();
        let mut sink = CloseOffThread::new(StuckOnClose(release_rx, closed_tx));
        assert!(sink.push(&[0.0; 960]).is_ok());
        assert!(sink.finish().is_ok());
        let t = std::time::Instant::now();
        drop(sink);
        assert!(
            t.elapsed() < std::time::Duration::from_millis(500),
            "drop blocked"
        );
        assert!(closed_rx.try_recv().is_err(), "still closing elsewhere");
        assert!(release_tx.send(()).is_ok());
        assert!(
            closed_rx
                .recv_timeout(std::time::Duration::from_secs(5))
                .is_ok(),
            "the device was closed on the other thread"
        );
    }

    #[test]
    fn pattern_spec() {
        assert_eq!(super::pattern("pattern:320x192@15"), Some((320, 192, 15)));
        assert_eq!(super::pattern("pattern:640x360"), Some((640, 360, 15)));
        assert_eq!(super::pattern("camera"), None);
    }
}
