//! A frame source that lives on its own thread, handed to others as a `Send` source.
//!
//! Why: a camera (nokhwa's `Camera`) cannot move between threads, while the call engine
//! moves its video source to the encoder thread and the app's preview to its own. So the
//! camera is opened and read on a thread of its own, and [`ThreadedSource`] passes its
//! frames on. Only the newest frame is kept: a consumer that falls behind gets the latest
//! picture, never a queue of old ones (old frames only add delay to a call).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use crate::error::{Result, VideoError};
use crate::frame::I420Frame;
use crate::source::FrameSource;

/// The newest frame, or how the source ended.
#[derive(Default)]
struct Slot {
    frame: Option<I420Frame>,
    /// Set once: the source ended (`Ok(())`) or failed.
    end: Option<std::result::Result<(), String>>,
    /// Frames the reader never took because a newer one replaced them.
    replaced: u64,
}

struct Shared {
    slot: Mutex<Slot>,
    ready: Condvar,
    stop: AtomicBool,
}

/// Frames from a source running on its own thread (see the module docs).
pub struct ThreadedSource {
    shared: Arc<Shared>,
    dims: (u32, u32),
    fps: f64,
}

impl std::fmt::Debug for ThreadedSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadedSource")
            .field("dims", &self.dims)
            .field("fps", &self.fps)
            .finish_non_exhaustive()
    }
}

/// How long [`ThreadedSource::spawn`] waits for the source to open.
pub const OPEN_WAIT: Duration = Duration::from_secs(10);

impl ThreadedSource {
    /// Runs `open` on a new thread named `name`, then reads the source it returns there
    /// as fast as it delivers. Returns once it has opened (or failed to), waiting at
    /// most [`OPEN_WAIT`].
    pub fn spawn<S, F>(name: &str, open: F) -> Result<Self>
    where
        S: FrameSource,
        F: FnOnce() -> Result<S> + Send + 'static,
    {
        let shared = Arc::new(Shared {
            slot: Mutex::new(Slot::default()),
            ready: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let (opened_tx, opened_rx) = std::sync::mpsc::sync_channel(1);
        let thread_shared = shared.clone();
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let mut source = match open() {
                    Ok(s) => {
                        let _ = opened_tx.send(Ok((s.dimensions(), s.frame_rate())));
                        s
                    }
                    Err(e) => {
                        let _ = opened_tx.send(Err(e));
                        return;
                    }
                };
                read_loop(&mut source, &thread_shared);
            })
            .map_err(|e| VideoError::Camera(format!("cannot start a capture thread: {e}")))?;
        let (dims, fps) = opened_rx.recv_timeout(OPEN_WAIT).map_err(|_| {
            shared.stop.store(true, Ordering::Relaxed);
            VideoError::Camera(format!(
                "the source did not open within {} s",
                OPEN_WAIT.as_secs()
            ))
        })??;
        Ok(Self { shared, dims, fps })
    }

    /// Frames the reader never saw because a newer one replaced them.
    #[must_use]
    pub fn replaced(&self) -> u64 {
        self.shared
            .slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .replaced
    }
}

/// The capture thread: reads until told to stop, the source ends or fails.
fn read_loop<S: FrameSource>(source: &mut S, shared: &Shared) {
    let end = loop {
        if shared.stop.load(Ordering::Relaxed) {
            break Ok(());
        }
        match source.next_frame() {
            Ok(Some(f)) => {
                let mut slot = shared.slot.lock().unwrap_or_else(PoisonError::into_inner);
                if slot.frame.replace(f).is_some() {
                    slot.replaced += 1;
                }
                shared.ready.notify_one();
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(e.to_string()),
        }
    };
    let mut slot = shared.slot.lock().unwrap_or_else(PoisonError::into_inner);
    slot.end = Some(end);
    shared.ready.notify_one();
}

impl FrameSource for ThreadedSource {
    /// The newest frame not returned yet, waiting for one if needed. After the last
    /// frame: `Ok(None)` when the source ended, [`VideoError::CameraLost`] when it failed.
    fn next_frame(&mut self) -> Result<Option<I420Frame>> {
        let mut slot = self
            .shared
            .slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(f) = slot.frame.take() {
                return Ok(Some(f));
            }
            match &slot.end {
                Some(Ok(())) => return Ok(None),
                Some(Err(e)) => return Err(VideoError::CameraLost(e.clone())),
                None => {}
            }
            slot = self
                .shared
                .ready
                .wait(slot)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn dimensions(&self) -> (u32, u32) {
        self.dims
    }

    fn frame_rate(&self) -> f64 {
        self.fps
    }
}

impl Drop for ThreadedSource {
    /// Tells the capture thread to stop; it closes the source after its current frame.
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::source::SyntheticSource;

    /// A source that is not `Send` (like a camera), delivering `n` frames then ending
    /// or failing.
    struct NotSend {
        inner: SyntheticSource,
        left: u32,
        fail: bool,
        _not_send: std::marker::PhantomData<*const ()>,
    }

    impl FrameSource for NotSend {
        fn next_frame(&mut self) -> Result<Option<I420Frame>> {
            if self.left == 0 {
                return if self.fail {
                    Err(VideoError::Camera("unplugged".into()))
                } else {
                    Ok(None)
                };
            }
            self.left -= 1;
            std::thread::sleep(Duration::from_millis(2));
            self.inner.next_frame()
        }
        fn dimensions(&self) -> (u32, u32) {
            self.inner.dimensions()
        }
        fn frame_rate(&self) -> f64 {
            self.inner.frame_rate()
        }
    }

    fn not_send(left: u32, fail: bool) -> Result<NotSend> {
        Ok(NotSend {
            inner: SyntheticSource::new(64, 48, 30)?,
            left,
            fail,
            _not_send: std::marker::PhantomData,
        })
    }

    #[test]
    fn frames_arrive_in_order_then_the_end() {
        let mut s = ThreadedSource::spawn("test-capture", || not_send(20, false)).unwrap();
        assert_eq!(s.dimensions(), (64, 48));
        let mut last = None;
        let mut got = 0;
        while let Some(f) = s.next_frame().unwrap() {
            assert!(last.is_none_or(|l| f.index > l), "newer frames only");
            last = Some(f.index);
            got += 1;
        }
        assert_eq!(last, Some(19), "the last frame is never lost");
        assert_eq!(got + s.replaced(), 20, "every frame was seen or replaced");
    }

    #[test]
    fn a_slow_reader_gets_the_newest_frame() {
        let mut s = ThreadedSource::spawn("test-capture", || not_send(10, false)).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(s.next_frame().unwrap().map(|f| f.index), Some(9));
        assert_eq!(s.replaced(), 9);
        assert!(s.next_frame().unwrap().is_none());
    }

    #[test]
    fn failures_to_open_and_to_read_are_reported() {
        let err = ThreadedSource::spawn("test-capture", || -> Result<NotSend> {
            Err(VideoError::Camera("no such camera".into()))
        })
        .unwrap_err();
        assert!(err.to_string().contains("no such camera"), "{err}");
        let mut s = ThreadedSource::spawn("test-capture", || not_send(1, true)).unwrap();
        assert!(s.next_frame().unwrap().is_some());
        assert!(
            matches!(s.next_frame(), Err(VideoError::CameraLost(m)) if m.contains("unplugged"))
        );
    }
}
