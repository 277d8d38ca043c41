//! The media a call plays and records: audio sources and sinks from wzp-audio, video
//! sources from wzp-video, and video sinks (the renderer, a Y4M file, or nothing).

use std::io::Write;
use std::path::Path;

use wzp_audio::{AudioSink, AudioSource, SilenceSource};
use wzp_proto::ParticipantId;
use wzp_video::{FrameSource, I420Frame};

use crate::error::{EngineError, Result};

/// Where decoded video goes. Runs on the decoder thread: it may block briefly (a file
/// write, a texture upload) but never for long, or frames queue up.
pub trait VideoSink: Send {
    /// A decoded frame from `from`.
    fn frame(&mut self, from: ParticipantId, frame: &I420Frame) -> Result<()>;
    /// Flushes and closes; called once when the call ends.
    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Throws frames away (still decoded, so stats stay true).
#[derive(Debug, Default)]
pub struct NullVideoSink;

impl VideoSink for NullVideoSink {
    fn frame(&mut self, _: ParticipantId, _: &I420Frame) -> Result<()> {
        Ok(())
    }
}

/// Writes the frames of one participant (the first one seen) to a Y4M file, so a call
/// can be recorded headless and inspected with any video player.
pub struct Y4mSink<W: Write + Send> {
    out: W,
    path: String,
    fps: u32,
    who: Option<ParticipantId>,
    size: Option<(u32, u32)>,
    frames: u64,
}

impl Y4mSink<std::io::BufWriter<std::fs::File>> {
    /// Creates (truncates) `path`; the header is written with the first frame.
    pub fn create(path: &Path, fps: u32) -> Result<Self> {
        let f = std::fs::File::create(path).map_err(|source| EngineError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Ok(Self {
            out: std::io::BufWriter::new(f),
            path: path.display().to_string(),
            fps: fps.max(1),
            who: None,
            size: None,
            frames: 0,
        })
    }
}

impl<W: Write + Send> Y4mSink<W> {
    /// Frames written.
    #[must_use]
    pub fn frames(&self) -> u64 {
        self.frames
    }

    fn io(&self, source: std::io::Error) -> EngineError {
        EngineError::Io {
            path: self.path.clone(),
            source,
        }
    }
}

impl<W: Write + Send> VideoSink for Y4mSink<W> {
    fn frame(&mut self, from: ParticipantId, frame: &I420Frame) -> Result<()> {
        if *self.who.get_or_insert(from) != from {
            return Ok(());
        }
        let size = (frame.width(), frame.height());
        match self.size {
            None => {
                let header = format!(
                    "YUV4MPEG2 W{} H{} F{}:1 Ip A1:1 C420jpeg\n",
                    size.0, size.1, self.fps
                );
                self.out
                    .write_all(header.as_bytes())
                    .map_err(|e| self.io(e))?;
                self.size = Some(size);
            }
            // Y4M cannot change size mid-stream; frames of another size are skipped
            // (the sender changed resolution) and logged.
            Some(s) if s != size => {
                tracing::debug!(?s, ?size, "y4m sink: frame size changed, frame skipped");
                return Ok(());
            }
            Some(_) => {}
        }
        let mut w = || -> std::io::Result<()> {
            self.out.write_all(b"FRAME\n")?;
            self.out.write_all(frame.y())?;
            self.out.write_all(frame.u())?;
            self.out.write_all(frame.v())
        };
        w().map_err(|e| self.io(e))?;
        self.frames += 1;
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        self.out.flush().map_err(|e| self.io(e))
    }
}

/// The sources and sinks of one call. Every part can be swapped during the call
/// (device switching) through the call's commands.
pub struct MediaIo {
    /// Microphone, tone or file.
    pub audio_in: Box<dyn AudioSource>,
    /// Speaker, file or memory.
    pub audio_out: Box<dyn AudioSink>,
    /// Camera, test pattern or file; `None` for an audio-only call.
    pub video_in: Option<Box<dyn FrameSource + Send>>,
    /// Where remote video goes.
    pub video_out: Box<dyn VideoSink>,
}

impl MediaIo {
    /// Silence in, nothing out, no video: for signalling-only tests.
    #[must_use]
    pub fn silent(audio_out: Box<dyn AudioSink>) -> Self {
        Self {
            audio_in: Box::new(SilenceSource),
            audio_out,
            video_in: None,
            video_out: Box::new(NullVideoSink),
        }
    }
}

impl std::fmt::Debug for MediaIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaIo")
            .field("video_in", &self.video_in.is_some())
            .finish_non_exhaustive()
    }
}
