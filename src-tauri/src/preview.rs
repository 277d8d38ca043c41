//! The settings screen's camera preview: the chosen camera's picture drawn by the video
//! view as our own tile (participant [`wzp_engine::LOCAL`]), so the user sees what others
//! will see before a call. One preview at a time; it stops when asked, when the settings
//! leave the screen, when its camera fails (the last event says why), and when a call
//! opens its devices (the call owns the camera).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use wzp_engine::VideoSink;
use wzp_video::FrameSource;

use crate::call::{Calls, Emit};
use crate::error::{AppError, Result};

/// Event: the preview stopped (`{preview, error}`; `error` says why when the camera
/// failed).
pub const PREVIEW_STOPPED: &str = "camera-preview-stopped";

/// How long opening a camera may take before the UI gets an answer.
const OPEN_WAIT: Duration = Duration::from_secs(8);

/// What [`PREVIEW_STOPPED`] carries.
#[derive(Debug, Clone, Serialize)]
pub struct Stopped {
    /// The preview's number (from `camera_preview_start`).
    pub preview: u64,
    /// Why, when it stopped on its own.
    pub error: Option<String>,
}

/// A running preview: its number and its stop flag.
struct Running {
    preview: u64,
    stop: Arc<AtomicBool>,
}

/// The camera preview of the settings screen.
pub struct CameraPreview {
    emit: Arc<dyn Emit>,
    running: Mutex<Option<Running>>,
    next: AtomicU64,
}

impl CameraPreview {
    /// A preview sending its events to `emit`.
    pub fn new(emit: Arc<dyn Emit>) -> Self {
        Self {
            emit,
            running: Mutex::new(None),
            next: AtomicU64::new(1),
        }
    }

    /// Opens camera `id` (`None`: the first one) and shows its frames through `sink`,
    /// replacing a running preview. Returns the preview's number. Refused while a call
    /// runs (it owns the camera); [`AppError::NoCamera`] when there is none.
    pub async fn start(
        &self,
        calls: &Calls,
        sink: Box<dyn VideoSink>,
        id: Option<String>,
    ) -> Result<u64> {
        if calls.current()?.is_some() {
            return Err(AppError::DevicesInCall);
        }
        self.stop();
        let source = crate::devtest::blocking("camera", OPEN_WAIT, move || {
            crate::media::open_video(id.as_deref())
        })
        .await?
        .ok_or(AppError::NoCamera)?;
        if calls.current()?.is_some() {
            return Err(AppError::DevicesInCall);
        }
        let preview = self.next.fetch_add(1, Ordering::Relaxed);
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = stop.clone();
        let emit = self.emit.clone();
        std::thread::Builder::new()
            .name("wzp-camera-preview".into())
            .spawn(move || {
                let error = pump(source, sink, &thread_stop).err();
                if let Some(e) = &error {
                    tracing::warn!(preview, error = %e, "camera preview stopped");
                }
                let ev = Stopped { preview, error };
                match serde_json::to_value(&ev) {
                    Ok(v) => emit.emit(PREVIEW_STOPPED, v),
                    Err(e) => tracing::warn!(error = %e, "cannot encode a preview event"),
                }
            })
            .map_err(|e| AppError::Internal(format!("cannot start the camera preview: {e}")))?;
        let old = match self.running.lock() {
            Ok(mut r) => r.replace(Running { preview, stop }),
            Err(_) => {
                stop.store(true, Ordering::Relaxed);
                return Err(AppError::Internal("preview lock poisoned".into()));
            }
        };
        if let Some(o) = old {
            o.stop.store(true, Ordering::Relaxed);
        }
        tracing::info!(preview, "camera preview started");
        Ok(preview)
    }

    /// Stops the preview, if one runs; returns whether one ran. Never blocks (its
    /// thread closes the camera and sends the last event).
    pub fn stop(&self) -> bool {
        let Ok(mut r) = self.running.lock() else {
            return false;
        };
        match r.take() {
            Some(run) => {
                run.stop.store(true, Ordering::Relaxed);
                tracing::info!(preview = run.preview, "camera preview stopped");
                true
            }
            None => false,
        }
    }
}

/// Pulls frames at the source's rate and hands each to `sink` until `stop`; an error
/// of the source ends it (returned, in words).
fn pump(
    mut source: Box<dyn FrameSource + Send>,
    mut sink: Box<dyn VideoSink>,
    stop: &AtomicBool,
) -> std::result::Result<(), String> {
    let fps = source.frame_rate();
    let period = Duration::from_secs_f64(1.0 / if fps > 0.0 { fps.min(60.0) } else { 15.0 });
    let mut next = Instant::now();
    let result = loop {
        if stop.load(Ordering::Relaxed) {
            break Ok(());
        }
        match source.next_frame() {
            Ok(Some(frame)) => {
                if let Err(e) = sink.frame(wzp_engine::LOCAL, &frame) {
                    break Err(e.to_string());
                }
            }
            Ok(None) => break Err("the camera stopped sending pictures".into()),
            Err(e) => break Err(e.to_string()),
        }
        next += period;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else {
            next = now;
        }
    };
    if let Err(e) = sink.finish() {
        tracing::debug!(error = %e, "preview sink did not finish");
    }
    result
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use wzp_video::{I420Frame, SyntheticSource};

    /// Counts frames by sender; says when it was finished.
    #[derive(Clone, Default)]
    struct Seen(Arc<Mutex<(Vec<u16>, bool)>>);

    impl VideoSink for Seen {
        fn frame(
            &mut self,
            from: wzp_proto::ParticipantId,
            _: &I420Frame,
        ) -> wzp_engine::Result<()> {
            self.0.lock().unwrap().0.push(from.0);
            Ok(())
        }
        fn finish(&mut self) -> wzp_engine::Result<()> {
            self.0.lock().unwrap().1 = true;
            Ok(())
        }
    }

    #[test]
    fn frames_go_to_our_own_tile_until_stopped() {
        let seen = Seen::default();
        let stop = Arc::new(AtomicBool::new(false));
        let source = Box::new(SyntheticSource::new(64, 48, 50).unwrap());
        let (s2, stop2) = (seen.clone(), stop.clone());
        let t = std::thread::spawn(move || pump(source, Box::new(s2), &stop2));
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, Ordering::Relaxed);
        assert_eq!(t.join().unwrap(), Ok(()));
        let (froms, finished) = seen.0.lock().unwrap().clone();
        // 50 fps for 0.3 s, paced: about 15 frames, all ours.
        assert!((5..=20).contains(&froms.len()), "{} frames", froms.len());
        assert!(froms.iter().all(|&p| p == wzp_engine::LOCAL.0));
        assert!(finished, "the sink is finished, so the tile is cleared");
    }

    #[test]
    fn a_source_that_ends_stops_the_preview_with_a_reason() {
        struct Ends;
        impl FrameSource for Ends {
            fn next_frame(&mut self) -> wzp_video::Result<Option<I420Frame>> {
                Err(wzp_video::VideoError::CameraLost("unplugged".into()))
            }
            fn dimensions(&self) -> (u32, u32) {
                (64, 48)
            }
            fn frame_rate(&self) -> f64 {
                30.0
            }
        }
        let seen = Seen::default();
        let out = pump(
            Box::new(Ends),
            Box::new(seen.clone()),
            &AtomicBool::new(false),
        );
        assert!(matches!(&out, Err(m) if m.contains("unplugged")), "{out:?}");
        assert!(seen.0.lock().unwrap().1);
    }
}
