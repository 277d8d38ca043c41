//! The video threads: one encodes (source -> OpenH264 -> packets), one decodes
//! (access units -> OpenH264 -> the video sink).
//!
//! Both are plain OS threads because a 720p encode takes several milliseconds of CPU
//! that must not stall the network task. They talk to it through channels: packets
//! out of the encoder on a bounded tokio channel (a full channel means the network
//! task is behind, and the frame is dropped rather than queued, so latency stays low);
//! control messages in on std channels.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc as stdmpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use wzp_proto::{ParticipantId, Seq, StreamId, TimestampMs};
use wzp_video::{
    AccessUnit, DEFAULT_MAX_PAYLOAD, EncoderSettings, FrameSource, H264Decoder, H264Encoder,
    Packetizer, VideoPacket,
};

use crate::io::VideoSink;

/// The participant id a self-view sink sees for local frames (the relay never
/// assigns 0).
pub const LOCAL: ParticipantId = ParticipantId(0);

/// The stream id outgoing video uses.
pub const VIDEO_STREAM: StreamId = StreamId(1);

/// Commands to the encoder thread.
pub(crate) enum EncCtl {
    /// Next frame is an IDR (a receiver lost the chain).
    Keyframe,
    /// New target: bitrate and a frame-rate cap (the rate ladder's rung). Resolution
    /// follows the source (there is no scaler yet).
    Target { bitrate: u32, max_fps: u32 },
    /// The rate ladder found no room for video: encode nothing until the next target.
    Off,
    /// Replace the source (`None`: no video).
    Source(Option<Box<dyn FrameSource + Send>>),
    /// Camera on/off without losing the source.
    Enabled(bool),
    /// Where captured frames are shown locally (self-view), or `None`.
    SelfView(Option<Box<dyn VideoSink>>),
}

/// What the encoder thread sends the call task.
pub(crate) enum EncodedPackets {
    /// One encoded frame's packets.
    Frame(Vec<VideoPacket>),
    /// The source stopped (a file ended, a camera was unplugged, the encoder
    /// failed): video is off until a new source is set. The text says why.
    SourceStopped(String),
}

/// How the encoder thread starts, and what it shares with the call task.
pub(crate) struct EncoderSetup {
    /// Initial bitrate.
    pub bitrate: u32,
    /// OpenH264 threads.
    pub threads: u16,
    /// Media time zero.
    pub epoch: Instant,
    /// First video sequence number.
    pub first_seq: Seq,
    /// Set while the datagram queue is too long (frames are skipped).
    pub congested: Arc<AtomicBool>,
    /// Largest payload the path takes now.
    pub max_payload: Arc<AtomicUsize>,
}

/// Handle to the encoder thread; dropping it (the control sender) stops the thread
/// after the frame in progress.
pub(crate) struct Encoder {
    ctl: stdmpsc::Sender<EncCtl>,
}

impl Encoder {
    /// Starts the thread. `source` may be `None` (no video until one is set).
    pub(crate) fn spawn(
        source: Option<Box<dyn FrameSource + Send>>,
        setup: EncoderSetup,
        out: mpsc::Sender<EncodedPackets>,
    ) -> std::io::Result<Self> {
        let (ctl, rx) = stdmpsc::channel();
        let shared = Shared {
            epoch: setup.epoch,
            out,
            ctl: rx,
            congested: setup.congested,
            max_payload: setup.max_payload,
        };
        let (bitrate, threads, first_seq) = (setup.bitrate, setup.threads, setup.first_seq);
        std::thread::Builder::new()
            .name("wzp-video-enc".into())
            .spawn(move || encode_loop(source, bitrate, threads, shared, first_seq))?;
        Ok(Self { ctl })
    }

    pub(crate) fn send(&self, c: EncCtl) {
        // A send error means the thread has exited (its source failed); nothing to do.
        let _ = self.ctl.send(c);
    }
}

/// What the encoder thread shares with the call task.
struct Shared {
    epoch: Instant,
    out: mpsc::Sender<EncodedPackets>,
    ctl: stdmpsc::Receiver<EncCtl>,
    /// Set by the call task while the connection's datagram queue is too long: the
    /// encoder skips frames (rather than the network dropping packets, which would
    /// break the reference chain and cost a keyframe).
    congested: Arc<AtomicBool>,
    /// Largest video payload that fits the path's current datagram size (set by the
    /// call task from QUIC's path MTU); packets larger than that would be refused.
    max_payload: Arc<AtomicUsize>,
}

fn encode_loop(
    mut source: Option<Box<dyn FrameSource + Send>>,
    mut bitrate: u32,
    threads: u16,
    shared: Shared,
    first_seq: Seq,
) {
    let Shared {
        epoch,
        out,
        ctl,
        congested,
        max_payload,
    } = shared;
    let mut max_fps = 60u32;
    let mut self_view: Option<Box<dyn VideoSink>> = None;
    let mut ladder_off = false;
    let mut enabled = true;
    let mut encoder: Option<H264Encoder> = None;
    let mut packetizer = match Packetizer::new(VIDEO_STREAM, DEFAULT_MAX_PAYLOAD, first_seq) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "video packetizer");
            return;
        }
    };
    let mut next = Instant::now();
    loop {
        let active = enabled && !ladder_off && source.is_some();
        let wait = if active {
            next.saturating_duration_since(Instant::now())
        } else {
            Duration::from_secs(3600)
        };
        match ctl.recv_timeout(wait) {
            Ok(EncCtl::Keyframe) => {
                if let Some(e) = encoder.as_mut() {
                    e.request_keyframe();
                }
                continue;
            }
            Ok(EncCtl::SelfView(v)) => {
                self_view = v;
                continue;
            }
            Ok(EncCtl::Off) => {
                ladder_off = true;
                continue;
            }
            Ok(EncCtl::Target {
                bitrate: b,
                max_fps: f,
            }) => {
                bitrate = b;
                max_fps = f.max(1);
                if ladder_off {
                    ladder_off = false;
                    next = Instant::now();
                    if let Some(e) = encoder.as_mut() {
                        e.request_keyframe();
                    }
                }
                if let Some(e) = encoder.as_mut() {
                    let s = EncoderSettings {
                        bitrate_bps: b,
                        ..e.settings()
                    };
                    if let Err(err) = e.reconfigure(s) {
                        tracing::warn!(error = %err, "video bitrate change failed");
                    }
                }
                continue;
            }
            Ok(EncCtl::Source(s)) => {
                source = s;
                encoder = None;
                next = Instant::now();
                continue;
            }
            Ok(EncCtl::Enabled(on)) => {
                if on && !enabled {
                    next = Instant::now();
                    if let Some(e) = encoder.as_mut() {
                        e.request_keyframe();
                    }
                }
                enabled = on;
                continue;
            }
            Err(stdmpsc::RecvTimeoutError::Disconnected) => return,
            Err(stdmpsc::RecvTimeoutError::Timeout) => {}
        }
        let Some(src) = source.as_mut() else { continue };
        let fps = src.frame_rate().clamp(1.0, f64::from(max_fps));
        let period = Duration::from_secs_f64(1.0 / fps);
        next += period;
        let now = Instant::now();
        if next + period < now {
            // Behind by more than a frame (a slow encode): do not try to catch up.
            next = now + period;
        }
        let frame = match src.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => {
                tracing::info!("video source ended");
                let _ = out.try_send(EncodedPackets::SourceStopped(
                    "the video source ended".into(),
                ));
                source = None;
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "video source failed; video stopped");
                let _ = out.try_send(EncodedPackets::SourceStopped(format!(
                    "the camera stopped working ({e})"
                )));
                source = None;
                continue;
            }
        };
        if let Some(v) = self_view.as_mut()
            && let Err(e) = v.frame(LOCAL, &frame)
        {
            tracing::debug!(error = %e, "self-view sink failed");
        }
        if congested.load(Ordering::Relaxed) {
            // The frame is skipped before encoding, so the next one still
            // references the last frame sent and no keyframe is needed.
            tracing::trace!("datagram queue long; video frame skipped");
            continue;
        }
        let (w, h) = (frame.width(), frame.height());
        if encoder
            .as_ref()
            .is_none_or(|e| (e.settings().width, e.settings().height) != (w, h))
        {
            let settings = EncoderSettings {
                width: w,
                height: h,
                fps: fps as f32,
                bitrate_bps: bitrate,
                threads,
                ..EncoderSettings::hd()
            };
            match H264Encoder::new(settings) {
                Ok(e) => encoder = Some(e),
                Err(e) => {
                    tracing::warn!(error = %e, "video encoder failed; video stopped");
                    let _ = out.try_send(EncodedPackets::SourceStopped(format!(
                        "the video encoder failed ({e})"
                    )));
                    source = None;
                    continue;
                }
            }
        }
        let Some(enc) = encoder.as_mut() else {
            continue;
        };
        let encoded = match enc.encode(&frame) {
            Ok(Some(e)) => e,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "video encode failed");
                continue;
            }
        };
        let ts = TimestampMs(u32::try_from(now.duration_since(epoch).as_millis()).unwrap_or(0));
        if let Err(e) = packetizer.set_max_payload(max_payload.load(Ordering::Relaxed)) {
            tracing::warn!(error = %e, "video payload limit");
        }
        let mut packets = Vec::new();
        if let Err(e) = packetizer.packetize(&encoded.data, encoded.keyframe, ts, &mut packets) {
            tracing::warn!(error = %e, "video packetize failed");
            continue;
        }
        match out.try_send(EncodedPackets::Frame(packets)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::debug!("network task behind; video frame dropped");
                enc.request_keyframe();
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return,
        }
    }
}

/// Inputs of the decoder thread.
pub(crate) enum DecIn {
    /// Decode this unit from that participant.
    Unit(ParticipantId, AccessUnit),
    /// The participant left: drop its decoder.
    Forget(ParticipantId),
}

/// What the decoder thread reports back.
pub(crate) enum DecOut {
    /// A picture was decoded, and handed to the sink if `shown` (older pictures
    /// are skipped when the sink falls behind).
    Decoded {
        from: ParticipantId,
        width: u32,
        height: u32,
        shown: bool,
    },
    /// The decoder rejected a unit: the receiver must ask for a keyframe.
    Failed(ParticipantId),
}

fn decode_one(
    decoders: &mut HashMap<ParticipantId, H264Decoder>,
    sink: &mut dyn VideoSink,
    feedback: &mpsc::UnboundedSender<DecOut>,
    from: ParticipantId,
    au: &AccessUnit,
    show: bool,
) {
    let dec = match decoders.entry(from) {
        std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
        std::collections::hash_map::Entry::Vacant(v) => match H264Decoder::new() {
            Ok(d) => v.insert(d),
            Err(e) => {
                tracing::error!(error = %e, "cannot create a video decoder");
                return;
            }
        },
    };
    match dec.decode(&au.data) {
        Ok(Some(frame)) => {
            if show && let Err(e) = sink.frame(from, &frame) {
                tracing::warn!(error = %e, "video sink failed");
            }
            let _ = feedback.send(DecOut::Decoded {
                from,
                width: frame.width(),
                height: frame.height(),
                shown: show,
            });
        }
        Ok(None) => {}
        Err(e) => {
            tracing::debug!(error = %e, %from, "video decode failed");
            let _ = feedback.send(DecOut::Failed(from));
        }
    }
}

/// Handle to the decoder thread; dropping the sender stops it, and joining it
/// returns after the sink has been finished.
pub(crate) struct Decoder {
    pub tx: stdmpsc::Sender<DecIn>,
    pub join: Option<JoinHandle<()>>,
}

impl Decoder {
    pub(crate) fn spawn(
        sink: Box<dyn VideoSink>,
        feedback: mpsc::UnboundedSender<DecOut>,
    ) -> std::io::Result<Self> {
        let (tx, rx) = stdmpsc::channel();
        let join = std::thread::Builder::new()
            .name("wzp-video-dec".into())
            .spawn(move || decode_loop(sink, rx, feedback))?;
        Ok(Self {
            tx,
            join: Some(join),
        })
    }
}

fn decode_loop(
    mut sink: Box<dyn VideoSink>,
    rx: stdmpsc::Receiver<DecIn>,
    feedback: mpsc::UnboundedSender<DecOut>,
) {
    let mut decoders: HashMap<ParticipantId, H264Decoder> = HashMap::new();
    let mut batch: Vec<DecIn> = Vec::new();
    while let Ok(first) = rx.recv() {
        // Take everything already waiting. Every unit must be decoded (each is a
        // reference for the next), but when the sink is slower than the video (a
        // software renderer, a busy machine) only the newest picture per sender is
        // shown, so the delay to the screen stays bounded instead of growing.
        batch.push(first);
        batch.extend(rx.try_iter());
        let mut last_unit: HashMap<ParticipantId, usize> = HashMap::new();
        for (i, m) in batch.iter().enumerate() {
            if let DecIn::Unit(from, _) = m {
                last_unit.insert(*from, i);
            }
        }
        for (i, msg) in batch.drain(..).enumerate() {
            match msg {
                DecIn::Forget(p) => {
                    decoders.remove(&p);
                }
                DecIn::Unit(from, au) => {
                    let show = last_unit.get(&from) == Some(&i);
                    decode_one(&mut decoders, &mut *sink, &feedback, from, &au, show);
                }
            }
        }
    }
    if let Err(e) = sink.finish() {
        tracing::warn!(error = %e, "video sink finish failed");
    }
}
