//! The call: a tokio task that owns one connection at a time, the key session, the
//! audio pipeline and the video threads, and talks to its owner through commands and
//! events.
//!
//! The task's loop waits on, in priority order: commands, media datagrams, signals,
//! encoded video, decoder feedback, and four clocks (audio every 20 ms, video
//! timers every 10 ms, speaking levels every 100 ms, stats every `stats_interval`).
//! A lost connection drops everything that belonged to it (keys, jitter buffers,
//! retransmit cache) and the task reconnects and rejoins with fresh keys.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand_core::{OsRng, RngCore};
use tokio::sync::{mpsc, oneshot};
use tokio::time::MissedTickBehavior;
use wzp_audio::{
    AudioReceiver, AudioSink, AudioSource, DeviceEvent, EncoderConfig, LevelMeter, Mixer,
    OpusEncoder, ReceiverConfig, VoiceConfig, VoiceProcessor,
};
use wzp_crypto::{Session, SessionConfig, envelope::Context};
use wzp_proto::{
    Blob, CallId, CloseCode, CodecId, Decoded, ErrorCode, HangupReason, MediaHeader, MediaType,
    PROTOCOL_VERSION, ParticipantId, QualityReport, RoomId, SUPPORTED_VERSIONS, Seq, SignalMessage,
    StreamId, TimestampMs,
};
use wzp_transport::{
    RelayClient, SignalSender, TransportError, TransportParams, WzpConnection, client_endpoint,
};
use wzp_video::{
    DEFAULT_LADDER, FrameSource, KeyframeGate, RateLadder, ReceiverEvent, RetransmitCache,
    VideoReceiver, VideoTarget,
};

use crate::config::{CallConfig, CallTarget, VideoQuality};
use crate::error::{EngineError, Result};
use crate::event::{CallStats, Event, NetworkQuality, ParticipantInfo, ParticipantStats};
use crate::io::MediaIo;
use crate::pacer::Pacer;
use crate::protection::{
    AudioFrame, AudioProtection, FecReceiver, LossMeter, PROTECTED_PLAYOUT_MS, REPORT_INTERVAL,
};
use crate::state::{CallState, EndReason};
use crate::video::{
    DecIn, DecOut, Decoder, EncCtl, EncodedPackets, Encoder, EncoderSetup, VIDEO_STREAM,
};

/// Stream id of outgoing audio.
pub const AUDIO_STREAM: StreamId = StreamId(0);
/// Stream id of mute heartbeats (comfort-noise packets carrying our mute state).
pub const HEARTBEAT_STREAM: StreamId = StreamId(2);
/// Samples per 20 ms frame at 48 kHz.
const FRAME: usize = 960;
/// The smallest byte budget given to Opus for a protected frame (a symbol smaller than
/// this is not expected; a frame then may still not fit and goes out unprotected).
const MIN_OPUS_BUDGET: usize = 20;
/// How long signalling steps (join, presence) may take.
const SIGNAL_WAIT: Duration = Duration::from_secs(10);
/// How much sending time may wait in QUIC's datagram queue before the video encoder
/// skips frames. Audio is never held back, but it waits behind queued video, so the
/// queue is kept to about this long at the estimated bandwidth.
const VIDEO_QUEUE_TIME: Duration = Duration::from_millis(80);
/// Bounds for that queue limit in bytes (4 KiB: a few packets on a slow path).
const VIDEO_QUEUE_BYTES: (usize, usize) = (4 * 1024, 128 * 1024);
/// How often congestion control re-estimates the bandwidth.
const RATE_INTERVAL: Duration = Duration::from_millis(250);
/// The bandwidth estimate never goes below this (audio alone needs about 40 kbit/s).
const MIN_BWE_BPS: u64 = 100_000;
/// Lowest video pacing rate (so a bad estimate cannot stall video completely).
const MIN_PACING_BPS: u64 = 64_000;
/// RTT above the lowest seen on the path that means a queue is building (40 ms:
/// with 60 the smoothed RTT crossed it only once a 200 ms bottleneck queue was
/// already overflowing, in the 300 kbit/s cap test).
const QUEUEING_RTT: Duration = Duration::from_millis(40);
/// The estimate grows only while what QUIC delivered, times this, exceeds it.
const APP_LIMITED_HEADROOM: f64 = 1.5;
/// Bandwidth kept for audio (Opus plus headers) before video gets any.
const AUDIO_RESERVE_BPS: u32 = 48_000;
/// Bytes a sealed, forwarded video datagram adds to its payload: the relay's sender
/// prefix, the media header, the key epoch byte and the AEAD tag.
const VIDEO_OVERHEAD: usize = wzp_proto::FORWARD_PREFIX_LEN + wzp_proto::MEDIA_HEADER_LEN + 1 + 16;
/// Video payload limit: fits a datagram in QUIC's minimum 1200-byte packets (about
/// 1160 bytes of datagram). Path MTU discovery may find more room, but QUIC lowers
/// the MTU again when probes are lost on a congested path, and a video packet sealed
/// for the larger size would then be refused; the few percent of header overhead
/// saved are not worth frames lost exactly when the network is worst.
const MAX_VIDEO_PAYLOAD: usize = 1155 - VIDEO_OVERHEAD;
/// Smallest limit used even if QUIC reports less room (it would refuse video then,
/// and the count of refused datagrams shows it).
const MIN_VIDEO_PAYLOAD: usize = 400;

/// Events from a call; the receiver is unbounded because events are rare (at most a
/// few dozen per second) and the UI must not miss a state change.
pub type Events = mpsc::UnboundedReceiver<Event>;

/// Something to do to a running call.
pub enum Command {
    /// Stop (or resume) sending audio.
    Mute(bool),
    /// Stop (or resume) sending video.
    Camera(bool),
    /// Switch microphone (or file, tone) live.
    SetAudioInput(Box<dyn AudioSource>),
    /// Switch speaker (or file) live. The old sink is finished.
    SetAudioOutput(Box<dyn AudioSink>),
    /// Switch camera live; `None` stops video.
    SetVideoInput(Option<Box<dyn FrameSource + Send>>),
    /// Outgoing video preference.
    SetVideoQuality(VideoQuality),
    /// Echo cancellation, noise suppression and gain control on or off, live.
    SetVoice(VoiceConfig),
    /// Show captured frames locally (self-view; they arrive with participant id
    /// [`LOCAL`](crate::LOCAL)), or stop with `None`.
    SetSelfView(Option<Box<dyn crate::io::VideoSink>>),
    /// A stats snapshot now.
    Stats(oneshot::Sender<CallStats>),
    /// End the call.
    HangUp,
}

/// A running call. Dropping it does not end the call: call [`Call::hang_up`].
#[derive(Debug)]
pub struct Call {
    commands: mpsc::UnboundedSender<Command>,
    task: tokio::task::JoinHandle<EndReason>,
}

impl Call {
    /// Starts a call to `target`: connects, joins (or rings), and runs until it ends.
    /// Must be called within a tokio runtime.
    pub fn start(config: CallConfig, target: CallTarget, media: MediaIo) -> Result<(Self, Events)> {
        config.validate()?;
        let how = match target {
            CallTarget::Room(name) => How::Room(name),
            CallTarget::Direct(to) => How::Dial(to),
        };
        Ok(Self::spawn(config, how, media, None))
    }

    fn spawn(
        config: CallConfig,
        how: How,
        media: MediaIo,
        client: Option<RelayClient>,
    ) -> (Self, Events) {
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let runner = Runner::new(config, how, media, ev_tx, cmd_rx);
        let task = tokio::spawn(runner.run(client));
        (
            Self {
                commands: cmd_tx,
                task,
            },
            ev_rx,
        )
    }

    /// Sends a command; fails only when the call has ended.
    pub fn command(&self, c: Command) -> Result<()> {
        self.commands.send(c).map_err(|_| EngineError::CallEnded)
    }

    /// Mutes or unmutes the microphone.
    pub fn mute(&self, on: bool) -> Result<()> {
        self.command(Command::Mute(on))
    }

    /// Turns the camera on or off.
    pub fn camera(&self, on: bool) -> Result<()> {
        self.command(Command::Camera(on))
    }

    /// Ends the call.
    pub fn hang_up(&self) -> Result<()> {
        self.command(Command::HangUp)
    }

    /// A stats snapshot.
    pub async fn stats(&self) -> Result<CallStats> {
        let (tx, rx) = oneshot::channel();
        self.command(Command::Stats(tx))?;
        rx.await.map_err(|_| EngineError::CallEnded)
    }

    /// Waits for the call to end (after its sinks are finished) and says why.
    pub async fn wait(self) -> EndReason {
        match self.task.await {
            Ok(r) => r,
            Err(e) => EndReason::Failed {
                message: format!("call task failed: {e}"),
            },
        }
    }
}

/// How the call gets into its room.
enum How {
    Room(String),
    Dial(wzp_proto::Fingerprint),
    Answer(CallId),
    /// Back into an answered direct call's room over a new connection: the relay keeps
    /// the call a while for a party whose connection dropped.
    Rejoin(CallId, RoomId),
}

/// A connection to the relay that registered our identity for incoming direct calls.
#[derive(Debug)]
pub struct Listener {
    client: RelayClient,
    config: CallConfig,
}

/// A direct call offered to us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingCall {
    /// The call.
    pub call_id: CallId,
    /// The caller's fingerprint (proven to the relay by the caller's presence proof).
    pub from: wzp_proto::Fingerprint,
    /// The caller's self-chosen name.
    pub alias: Option<String>,
}

impl Listener {
    /// Connects and registers presence, so that calls to our fingerprint reach us.
    pub async fn connect(config: CallConfig) -> Result<Self> {
        config.validate()?;
        let mut client = connect_client(&config).await?;
        register_presence(&mut client, &config).await?;
        Ok(Self { client, config })
    }

    /// Waits for the next call offer.
    pub async fn next_call(&mut self) -> Result<IncomingCall> {
        loop {
            match self.client.next_signal(Duration::from_secs(3600)).await? {
                Some(SignalMessage::CallOffer {
                    call_id,
                    from,
                    alias,
                    ..
                }) => {
                    return Ok(IncomingCall {
                        call_id,
                        from,
                        alias,
                    });
                }
                Some(SignalMessage::Hangup { reason, .. }) => {
                    tracing::debug!(?reason, "caller gave up before we answered");
                }
                Some(other) => tracing::debug!(?other, "listener: signal ignored"),
                None => return Err(TransportError::StreamClosed.into()),
            }
        }
    }

    /// Waits while `call` rings until its caller gives up (hangs up, or the relay ends
    /// the offer), and returns why; other signals meanwhile are ignored. Cancel-safe: run
    /// it beside waiting for the user's answer, so the ringing stops when the caller stops.
    pub async fn cancelled(&mut self, call: &IncomingCall) -> Result<EndReason> {
        loop {
            match self.client.next_signal(Duration::from_secs(3600)).await? {
                Some(SignalMessage::Hangup {
                    call_id: Some(id),
                    reason,
                }) if id == call.call_id => return Ok(hangup_reason(&reason)),
                Some(other) => tracing::debug!(?other, "listener: signal ignored while ringing"),
                None => return Err(TransportError::StreamClosed.into()),
            }
        }
    }

    /// Declines a call.
    pub async fn decline(&mut self, call: &IncomingCall) -> Result<()> {
        self.client
            .send(&SignalMessage::CallAnswer {
                call_id: call.call_id,
                accepted: false,
            })
            .await?;
        Ok(())
    }

    /// Answers that we are in another call: the caller hears "busy", not "declined".
    pub async fn busy(&mut self, call: &IncomingCall) -> Result<()> {
        self.client
            .send(&SignalMessage::Hangup {
                call_id: Some(call.call_id),
                reason: HangupReason::Busy,
            })
            .await?;
        Ok(())
    }

    /// Accepts a call; the listener's connection becomes the call's.
    pub fn accept(self, call: &IncomingCall, media: MediaIo) -> (Call, Events) {
        Call::spawn(
            self.config,
            How::Answer(call.call_id),
            media,
            Some(self.client),
        )
    }
}

async fn connect_client(cfg: &CallConfig) -> Result<RelayClient> {
    let bind = if cfg.relay.addr.is_ipv6() {
        std::net::SocketAddr::from(([0u16; 8], 0))
    } else {
        std::net::SocketAddr::from(([0, 0, 0, 0], 0))
    };
    let endpoint = client_endpoint(bind)?;
    let client = RelayClient::connect(
        &endpoint,
        cfg.relay.addr,
        &cfg.relay.server_name,
        &cfg.relay.trust,
        &TransportParams::default(),
    )
    .await?;
    Ok(client)
}

async fn register_presence(client: &mut RelayClient, cfg: &CallConfig) -> Result<()> {
    let reg =
        client.register_presence(&cfg.identity, cfg.alias.clone(), cfg.relay.token.clone())?;
    client.send(&reg).await?;
    loop {
        match client.next_signal(SIGNAL_WAIT).await? {
            Some(SignalMessage::PresenceAck { .. }) => return Ok(()),
            Some(SignalMessage::Error { code, message }) => {
                return Err(TransportError::Refused { code, message }.into());
            }
            Some(other) => tracing::debug!(?other, "before presence ack"),
            None => {
                return Err(EngineError::Timeout {
                    what: "presence registration",
                    after: SIGNAL_WAIT,
                });
            }
        }
    }
}

/// Why a connection's life ended.
enum Outcome {
    /// The call is over.
    End(EndReason),
    /// The connection is gone; reconnect if allowed.
    Retry(String),
}

/// One remote participant, for the life of one connection.
struct Peer {
    info: ParticipantInfo,
    audio: AudioReceiver,
    meter: LevelMeter,
    level: (f32, bool),
    video: VideoReceiver,
    last_heard: Instant,
    bytes_in: u64,
    muted: bool,
    codec: Option<CodecId>,
    frames: u64,
    frames_not_shown: u64,
    resolution: Option<(u32, u32)>,
    last_lost: u64,
    last_received: u64,
    last_frames: u64,
    /// Its RaptorQ-protected audio (source and repair symbols).
    fec: FecReceiver,
    /// Loss of its audio before repair, for our quality reports.
    loss: LossMeter,
    /// Whether playout holds the protected delay for it now.
    protected: bool,
}

/// Everything that belongs to one connection.
struct Leg {
    conn: WzpConnection,
    out: SignalSender,
    signals: mpsc::Receiver<std::result::Result<Decoded, TransportError>>,
    reader: tokio::task::JoinHandle<()>,
    session: Session,
    me: ParticipantId,
    call_id: Option<CallId>,
    peers: BTreeMap<ParticipantId, Peer>,
    pending: Vec<SignalMessage>,
    cache: RetransmitCache,
    started: Instant,
    /// The datagram send buffer's free space when the connection was new, so that
    /// `initial_space - space now` is what is queued.
    initial_space: usize,
    /// Lowest RTT seen on this connection (the path without queues).
    min_rtt: Option<Duration>,
    /// Video waiting to be sent at the pacing rate.
    pacer: Pacer,
}

impl Drop for Leg {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

struct Runner {
    cfg: CallConfig,
    how: How,
    events: mpsc::UnboundedSender<Event>,
    commands: mpsc::UnboundedReceiver<Command>,
    state: CallState,
    audio_in: Box<dyn AudioSource>,
    audio_out: Box<dyn AudioSink>,
    encoder_cfg: EncoderConfig,
    opus: Option<OpusEncoder>,
    audio_seq: Seq,
    hb_seq: Seq,
    audio_ts: TimestampMs,
    /// RaptorQ protection of our audio, driven by the others' loss reports.
    protection: AudioProtection,
    /// When we last measured and queued our own loss report.
    last_report_at: Option<Instant>,
    /// The report to attach to the next audio packet.
    report: Option<QualityReport>,
    muted: bool,
    local_meter: LevelMeter,
    local_level: f32,
    /// Cleans the microphone signal (AEC against what we play, NS, AGC); `None` while
    /// every stage is off.
    voice: Option<VoiceProcessor>,
    /// A voice-processing failure was reported (once per call).
    voice_error: bool,
    mixer: Mixer,
    video_enc: Option<Encoder>,
    video_rx: mpsc::Receiver<EncodedPackets>,
    video_bitrate: u32,
    ladder: RateLadder,
    keyframe_gate: KeyframeGate,
    congested: Arc<AtomicBool>,
    max_payload: Arc<AtomicUsize>,
    last_path: Option<(u64, u64)>,
    last_wire: Option<(u64, u64)>,
    last_rate_at: Option<Instant>,
    decoder: Option<Decoder>,
    dec_rx: mpsc::UnboundedReceiver<DecOut>,
    stats: CallStats,
    bytes_out: u64,
    last_bytes_out: u64,
    active_since: Option<Instant>,
    ticks: u64,
    media_io_error: bool,
    /// The direct call's id and room once set up (a reconnect rejoins it).
    call_room: Option<(CallId, RoomId)>,
}

impl Runner {
    fn new(
        cfg: CallConfig,
        how: How,
        media: MediaIo,
        events: mpsc::UnboundedSender<Event>,
        commands: mpsc::UnboundedReceiver<Command>,
    ) -> Self {
        let epoch = Instant::now();
        let (vtx, video_rx) = mpsc::channel(8);
        let (dtx, dec_rx) = mpsc::unbounded_channel();
        let first_video_seq = Seq(OsRng.next_u32() >> 1);
        let congested = Arc::new(AtomicBool::new(false));
        let max_payload = Arc::new(AtomicUsize::new(MAX_VIDEO_PAYLOAD));
        let setup = EncoderSetup {
            bitrate: cfg.video.bitrate_bps,
            threads: cfg.video.threads,
            epoch,
            first_seq: first_video_seq,
            congested: congested.clone(),
            max_payload: max_payload.clone(),
        };
        let video_enc = match Encoder::spawn(media.video_in, setup, vtx) {
            Ok(e) => Some(e),
            Err(e) => {
                tracing::error!(error = %e, "cannot start the video encoder thread");
                None
            }
        };
        let decoder = match Decoder::spawn(media.video_out, dtx) {
            Ok(d) => Some(d),
            Err(e) => {
                tracing::error!(error = %e, "cannot start the video decoder thread");
                None
            }
        };
        let encoder_cfg = EncoderConfig::for_codec(cfg.audio_codec);
        let video_bitrate = cfg.video.bitrate_bps;
        let voice = cfg.voice.any().then(|| VoiceProcessor::new(cfg.voice));
        Self {
            cfg,
            how,
            events,
            commands,
            state: CallState::Idle,
            audio_in: media.audio_in,
            audio_out: media.audio_out,
            encoder_cfg,
            opus: None,
            audio_seq: Seq(OsRng.next_u32() >> 1),
            hb_seq: Seq(0),
            audio_ts: TimestampMs(OsRng.next_u32()),
            protection: AudioProtection::new(Seq(OsRng.next_u32() >> 1)),
            last_report_at: None,
            report: None,
            muted: false,
            local_meter: LevelMeter::new(20),
            local_level: 0.0,
            voice,
            voice_error: false,
            mixer: Mixer::new(FRAME),
            video_enc,
            video_rx,
            video_bitrate,
            ladder: RateLadder::new(&DEFAULT_LADDER, AUDIO_RESERVE_BPS, video_bitrate),
            keyframe_gate: KeyframeGate::new(Duration::from_millis(500)),
            congested,
            max_payload,
            last_path: None,
            last_wire: None,
            last_rate_at: None,
            decoder,
            dec_rx,
            stats: CallStats::default(),
            bytes_out: 0,
            last_bytes_out: 0,
            active_since: None,
            ticks: 0,
            media_io_error: false,
            call_room: None,
        }
    }

    fn emit(&self, e: Event) {
        // The owner may have dropped its receiver; the call goes on regardless.
        let _ = self.events.send(e);
    }

    fn set_state(&mut self, next: CallState) {
        if !self.state.can_move_to(&next) {
            tracing::warn!(from = ?self.state, to = ?next, "illegal call state move ignored");
            return;
        }
        tracing::info!(state = ?next, "call state");
        self.state = next.clone();
        self.emit(Event::State(next));
    }

    async fn run(mut self, mut client: Option<RelayClient>) -> EndReason {
        self.set_state(CallState::Connecting);
        self.opus = match OpusEncoder::new(self.encoder_cfg) {
            Ok(e) => Some(e),
            Err(e) => {
                return self
                    .finish(EndReason::Failed {
                        message: format!("audio encoder: {e}"),
                    })
                    .await;
            }
        };
        let mut lost_at: Option<Instant> = None;
        let mut attempt = 0u32;
        let mut last_error = String::new();
        loop {
            if let Some(since) = lost_at {
                if since.elapsed() >= self.cfg.reconnect_for {
                    return self
                        .finish(EndReason::ConnectionLost {
                            message: last_error,
                        })
                        .await;
                }
                attempt += 1;
                self.set_state(CallState::Reconnecting { attempt });
                let backoff = Duration::from_millis(250 * u64::from(attempt.min(8)));
                if let Some(r) = self.idle_for(backoff).await {
                    return self.finish(r).await;
                }
            }
            match self.establish(client.take()).await {
                Ok(leg) => {
                    attempt = 0;
                    if self.active_since.is_none() {
                        self.active_since = Some(Instant::now());
                    }
                    self.set_state(CallState::Active);
                    match self.media_loop(leg).await {
                        Outcome::End(r) => return self.finish(r).await,
                        Outcome::Retry(msg) => {
                            tracing::warn!(%msg, "connection lost");
                            if let Some((call_id, room)) = self.call_room {
                                // A direct call: no new offer, straight back into the
                                // call's room, where the relay waits for us.
                                self.how = How::Rejoin(call_id, room);
                            }
                            self.stats.reconnects += 1;
                            last_error = msg;
                            lost_at = Some(Instant::now());
                        }
                    }
                }
                Err(Outcome::End(r)) => return self.finish(r).await,
                Err(Outcome::Retry(msg)) => {
                    if self.active_since.is_none() {
                        return self.finish(EndReason::ConnectFailed { message: msg }).await;
                    }
                    last_error = msg;
                    if lost_at.is_none() {
                        lost_at = Some(Instant::now());
                    }
                }
            }
        }
    }

    /// Waits `d` while still obeying commands; `Some` if the user hung up.
    async fn idle_for(&mut self, d: Duration) -> Option<EndReason> {
        let deadline = tokio::time::Instant::now() + d;
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => return None,
                c = self.commands.recv() => match c {
                    None | Some(Command::HangUp) => return Some(EndReason::LocalHangup),
                    Some(c) => self.apply_local(c),
                },
            }
        }
    }

    /// Commands that need no connection.
    fn apply_local(&mut self, c: Command) {
        match c {
            Command::Mute(on) => self.muted = on,
            Command::Camera(on) => {
                if let Some(e) = &self.video_enc {
                    e.send(EncCtl::Enabled(on));
                }
            }
            Command::SetAudioInput(src) => self.audio_in = src,
            Command::SetAudioOutput(mut sink) => {
                std::mem::swap(&mut self.audio_out, &mut sink);
                if let Err(e) = sink.finish() {
                    tracing::warn!(error = %e, "old audio output failed to finish");
                }
            }
            Command::SetVideoInput(src) => {
                if let Some(e) = &self.video_enc {
                    e.send(EncCtl::Source(src));
                }
            }
            Command::SetSelfView(v) => {
                if let Some(e) = &self.video_enc {
                    e.send(EncCtl::SelfView(v));
                }
            }
            Command::SetVideoQuality(q) => {
                self.video_bitrate = q.bitrate(self.cfg.video.bitrate_bps);
                self.apply_video_target(self.ladder.target());
            }
            Command::SetVoice(v) => {
                self.cfg.voice = v;
                match (&mut self.voice, v.any()) {
                    // Kept while anything runs, so the echo canceller keeps what it
                    // learnt about the echo path when another stage is toggled.
                    (Some(p), true) => p.set_config(v),
                    (None, true) => self.voice = Some(VoiceProcessor::new(v)),
                    (_, false) => self.voice = None,
                }
            }
            Command::Stats(tx) => {
                let _ = tx.send(self.stats.clone());
            }
            Command::HangUp => {}
        }
    }

    async fn finish(mut self, reason: EndReason) -> EndReason {
        self.set_state(CallState::Ended {
            reason: reason.clone(),
        });
        // Stop the video threads and let the decoder finish its sink.
        self.video_enc = None;
        if let Some(mut d) = self.decoder.take() {
            drop(d.tx);
            if let Some(j) = d.join.take() {
                let _ = tokio::task::spawn_blocking(move || j.join()).await;
            }
        }
        if let Err(e) = self.audio_out.finish() {
            tracing::warn!(error = %e, "audio output failed to finish");
        }
        reason
    }

    /// Connects (or takes the listener's connection), gets into the room and sets up keys.
    async fn establish(
        &mut self,
        client: Option<RelayClient>,
    ) -> std::result::Result<Leg, Outcome> {
        let mut client = match client {
            Some(c) => c,
            None => connect_client(&self.cfg).await.map_err(classify)?,
        };
        self.emit(Event::RelayConnected {
            address: client.conn.remote_address().to_string(),
            fingerprint: client.relay.to_string(),
        });
        let (room, context, call_id) = match &self.how {
            How::Room(name) => {
                let room = RoomId::from_name(name);
                (room, Context::Room(room), None)
            }
            How::Dial(to) => {
                let to = *to;
                register_presence(&mut client, &self.cfg)
                    .await
                    .map_err(classify)?;
                let mut id = [0u8; 16];
                OsRng.fill_bytes(&mut id);
                let call_id = CallId(id);
                client
                    .send(&SignalMessage::CallOffer {
                        call_id,
                        from: self.cfg.identity.fingerprint(),
                        to,
                        protocol_version: PROTOCOL_VERSION,
                        supported_versions: SUPPORTED_VERSIONS.to_vec(),
                        alias: self.cfg.alias.clone(),
                    })
                    .await
                    .map_err(|e| classify(e.into()))?;
                let room = self.await_setup(&mut client, call_id).await?;
                (room, Context::Call(call_id), Some(call_id))
            }
            How::Answer(call_id) => {
                let call_id = *call_id;
                client
                    .send(&SignalMessage::CallAnswer {
                        call_id,
                        accepted: true,
                    })
                    .await
                    .map_err(|e| classify(e.into()))?;
                let room = self.await_setup(&mut client, call_id).await?;
                (room, Context::Call(call_id), Some(call_id))
            }
            How::Rejoin(call_id, room) => (*room, Context::Call(*call_id), Some(*call_id)),
        };
        if let Some(call_id) = call_id {
            self.call_room = Some((call_id, room));
        }
        let hello = client
            .hello(
                &self.cfg.identity,
                room,
                self.cfg.alias.clone(),
                self.cfg.relay.token.clone(),
            )
            .map_err(|e| classify(e.into()))?;
        client.send(&hello).await.map_err(|e| classify(e.into()))?;
        let mut early = Vec::new();
        let me = loop {
            match client.next_signal(SIGNAL_WAIT).await {
                Ok(Some(SignalMessage::Welcome { participant, .. })) => break participant,
                Ok(Some(SignalMessage::Error { code, message })) => {
                    return Err(refused(code, message));
                }
                Ok(Some(SignalMessage::Hangup { reason, .. })) => {
                    // Rejoining a direct call that ended while we were away, or a call
                    // room that refuses us: the reason says which.
                    return Err(Outcome::End(hangup_reason(&reason)));
                }
                Ok(Some(m)) => early.push(m),
                Ok(None) => return Err(Outcome::Retry("no welcome from the relay".into())),
                Err(e) => return Err(classify(e.into())),
            }
        };
        let session = Session::new(
            self.cfg.identity.clone(),
            SessionConfig::new(context, me),
            &mut OsRng,
        );
        let initial_space = client.conn.send_buffer_space();
        let RelayClient {
            conn,
            signals_out,
            mut signals_in,
            ..
        } = client;
        let (stx, signals) = mpsc::channel(256);
        let reader = tokio::spawn(async move {
            loop {
                let r = signals_in.recv().await;
                let stop = !matches!(r, Ok(Some(_)));
                let item = match r {
                    Ok(Some(d)) => Ok(d),
                    Ok(None) => Err(TransportError::StreamClosed),
                    Err(e) => Err(e),
                };
                if stx.send(item).await.is_err() || stop {
                    return;
                }
            }
        });
        let mut leg = Leg {
            conn,
            out: signals_out,
            signals,
            reader,
            session,
            me,
            call_id,
            peers: BTreeMap::new(),
            pending: Vec::new(),
            cache: RetransmitCache::new(Duration::from_millis(1000), 8 << 20),
            started: Instant::now(),
            initial_space,
            min_rtt: None,
            pacer: Pacer::default(),
        };
        tracing::info!(participant = %me, "joined");
        for m in early {
            if let Some(o) = self.on_signal(&mut leg, Decoded::Message(m)) {
                return Err(o);
            }
        }
        if let Some(o) = self.flush(&mut leg).await {
            return Err(o);
        }
        Ok(leg)
    }

    /// Caller/callee: waits for `call_setup` (ringing on the way), or the reason there is none.
    async fn await_setup(
        &mut self,
        client: &mut RelayClient,
        call_id: CallId,
    ) -> std::result::Result<RoomId, Outcome> {
        let deadline = tokio::time::Instant::now() + self.cfg.ring_timeout;
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => {
                    let _ = client.send(&SignalMessage::Hangup {
                        call_id: Some(call_id),
                        reason: HangupReason::Timeout,
                    }).await;
                    return Err(Outcome::End(EndReason::Missed));
                }
                c = self.commands.recv() => match c {
                    None | Some(Command::HangUp) => {
                        let _ = client.send(&SignalMessage::Hangup {
                            call_id: Some(call_id),
                            reason: HangupReason::Normal,
                        }).await;
                        client.signals_out.finish();
                        return Err(Outcome::End(EndReason::LocalHangup));
                    }
                    Some(c) => self.apply_local(c),
                },
                m = client.next_signal(Duration::from_secs(3600)) => match m {
                    Ok(Some(SignalMessage::CallRinging { .. })) => {
                        self.set_state(CallState::Ringing);
                        self.emit(Event::Ringing { call_id });
                    }
                    Ok(Some(SignalMessage::CallSetup { room, call_id: c })) if c == call_id => {
                        return Ok(room);
                    }
                    Ok(Some(SignalMessage::Hangup { reason, .. })) => {
                        return Err(Outcome::End(hangup_reason(&reason)));
                    }
                    Ok(Some(SignalMessage::Error { code, message })) => {
                        return Err(refused(code, message));
                    }
                    Ok(Some(other)) => tracing::debug!(?other, "waiting for call setup"),
                    Ok(None) => return Err(Outcome::Retry("signal stream closed".into())),
                    Err(e) => return Err(classify(e.into())),
                },
            }
        }
    }

    async fn media_loop(&mut self, mut leg: Leg) -> Outcome {
        let mut audio_tick = tokio::time::interval(Duration::from_millis(20));
        audio_tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
        let mut video_tick = tokio::time::interval(Duration::from_millis(10));
        video_tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut level_tick = tokio::time::interval(Duration::from_millis(100));
        level_tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut rate_tick = tokio::time::interval(RATE_INTERVAL);
        rate_tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut stats_tick = tokio::time::interval(self.cfg.stats_interval);
        stats_tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
        stats_tick.reset();
        self.stats.relay = leg.conn.remote_address().to_string();
        // Until the first stats interval, pace by QUIC's initial window over the
        // handshake RTT (otherwise the pacer would start at its floor and hold the
        // first keyframe back for seconds).
        self.stats.bandwidth_estimate_bps = leg.conn.path_stats().cwnd_bps;
        // Path counters start again on a new connection.
        self.last_wire = None;
        self.last_path = None;
        self.last_rate_at = None;
        self.note_path_mtu(&leg);
        let conn = leg.conn.clone();
        loop {
            let outcome = tokio::select! {
                biased;
                c = self.commands.recv() => match c {
                    None | Some(Command::HangUp) => {
                        self.hang_up(&mut leg).await;
                        return Outcome::End(EndReason::LocalHangup);
                    }
                    Some(c) => { self.apply_local(c); None }
                },
                d = conn.recv_media() => match d {
                    Ok(d) => { self.on_datagram(&mut leg, &d); None }
                    Err(e) => Some(classify(e.into())),
                },
                s = leg.signals.recv() => match s {
                    Some(Ok(m)) => self.on_signal(&mut leg, m),
                    Some(Err(e)) => Some(classify(e.into())),
                    None => Some(Outcome::Retry("signal stream closed".into())),
                },
                Some(v) = self.video_rx.recv() => { self.send_video(&mut leg, v); None }
                Some(f) = self.dec_rx.recv() => { self.on_decoded(&mut leg, f); None }
                _ = audio_tick.tick() => { self.audio_step(&mut leg); None }
                _ = video_tick.tick() => {
                    self.pace(&mut leg);
                    let now = Instant::now();
                    let mut evs = Vec::new();
                    let ids: Vec<ParticipantId> = leg.peers.keys().copied().collect();
                    for id in ids {
                        if let Some(p) = leg.peers.get_mut(&id) {
                            if p.video.poll_timeout().is_some_and(|t| t <= now) {
                                p.video.handle_timeout(now, &mut evs);
                            }
                        }
                        self.video_events(&mut leg, id, &mut evs);
                    }
                    None
                }
                _ = level_tick.tick() => { self.emit_levels(&leg); None }
                _ = rate_tick.tick() => { self.rate_step(&mut leg); None }
                _ = stats_tick.tick() => self.stats_step(&mut leg),
            };
            if let Some(o) = outcome {
                return o;
            }
            if let Some(o) = self.flush(&mut leg).await {
                return o;
            }
        }
    }

    /// Sends what the key session and the receivers queued, and reports key events.
    async fn flush(&mut self, leg: &mut Leg) -> Option<Outcome> {
        while let Some(env) = leg.session.poll_transmit() {
            leg.pending.push(SignalMessage::KeyEnvelope {
                from: leg.me,
                to: env.to,
                payload: Blob(env.payload),
            });
        }
        while let Some(ev) = leg.session.poll_event() {
            if let wzp_crypto::Event::ChannelEstablished {
                peer,
                identity,
                short_code,
            } = ev
            {
                // The peer has our media key from now on: a keyframe lets it start
                // showing our video at once instead of waiting to ask for one.
                if let Some(e) = &self.video_enc {
                    e.send(EncCtl::Keyframe);
                }
                let safety = leg
                    .session
                    .safety_number(peer)
                    .map(|s| s.to_string())
                    .unwrap_or_default();
                self.emit(Event::Verification {
                    id: peer,
                    fingerprint: identity.fingerprint(),
                    short_code: short_code.to_string(),
                    safety_number: safety,
                });
            }
        }
        for m in std::mem::take(&mut leg.pending) {
            if let Err(e) = leg.out.send(&m).await {
                return Some(classify(e.into()));
            }
        }
        None
    }

    async fn hang_up(&mut self, leg: &mut Leg) {
        let _ = leg
            .out
            .send(&SignalMessage::Hangup {
                call_id: leg.call_id,
                reason: HangupReason::Normal,
            })
            .await;
        leg.out.finish();
        // Give the relay a moment to read the hangup before the connection closes.
        let _ = tokio::time::timeout(Duration::from_millis(300), leg.out.stopped()).await;
        leg.conn.close(CloseCode::Normal as u32, "hung up");
    }

    fn on_signal(&mut self, leg: &mut Leg, d: Decoded) -> Option<Outcome> {
        let Decoded::Message(m) = d else {
            return None;
        };
        let now = Instant::now();
        match m {
            SignalMessage::RoomUpdate { participants, .. } => {
                let present: std::collections::BTreeSet<ParticipantId> =
                    participants.iter().map(|p| p.id).collect();
                let gone: Vec<ParticipantId> = leg
                    .peers
                    .keys()
                    .filter(|id| !present.contains(id))
                    .copied()
                    .collect();
                for id in gone {
                    leg.peers.remove(&id);
                    self.protection.forget(id);
                    if let Err(e) = leg.session.remove_participant(id, &mut OsRng) {
                        tracing::warn!(error = %e, "remove participant");
                    }
                    if let Some(d) = &self.decoder {
                        let _ = d.tx.send(DecIn::Forget(id));
                    }
                    self.emit(Event::ParticipantLeft { id });
                }
                for p in participants {
                    if p.id == leg.me || leg.peers.contains_key(&p.id) {
                        continue;
                    }
                    if let Err(e) =
                        leg.session
                            .add_participant(p.id, Some(p.fingerprint), &mut OsRng)
                    {
                        tracing::warn!(error = %e, "add participant");
                        continue;
                    }
                    let audio = match AudioReceiver::new(ReceiverConfig::default()) {
                        Ok(a) => a,
                        Err(e) => {
                            return Some(Outcome::End(EndReason::Failed {
                                message: format!("audio receiver: {e}"),
                            }));
                        }
                    };
                    let fec = match FecReceiver::new() {
                        Ok(f) => f,
                        Err(e) => {
                            return Some(Outcome::End(EndReason::Failed {
                                message: format!("audio FEC receiver: {e}"),
                            }));
                        }
                    };
                    let info = ParticipantInfo {
                        id: p.id,
                        fingerprint: p.fingerprint,
                        alias: p.alias.clone(),
                    };
                    self.emit(Event::ParticipantJoined(info.clone()));
                    leg.peers.insert(
                        p.id,
                        Peer {
                            info,
                            audio,
                            meter: LevelMeter::new(20),
                            level: (0.0, false),
                            video: VideoReceiver::new(
                                wzp_video::ReceiverConfig::default(),
                                leg.conn.path_stats().rtt * 2,
                            ),
                            last_heard: now,
                            bytes_in: 0,
                            muted: false,
                            codec: None,
                            frames: 0,
                            frames_not_shown: 0,
                            resolution: None,
                            last_lost: 0,
                            last_received: 0,
                            fec,
                            loss: LossMeter::default(),
                            protected: false,
                            last_frames: 0,
                        },
                    );
                }
            }
            SignalMessage::KeyEnvelope { from, to, payload } => {
                if to != leg.me {
                    tracing::warn!(%from, %to, "key envelope for someone else dropped");
                } else if let Err(e) = leg
                    .session
                    .handle_envelope(from, &payload.0, now, &mut OsRng)
                {
                    tracing::warn!(error = %e, %from, "key envelope refused");
                    self.emit(Event::Warning {
                        message: format!("a key message from participant {from} was refused: {e}"),
                    });
                }
            }
            SignalMessage::Nack { seqs, stream, .. } if stream == VIDEO_STREAM => {
                // Retransmissions wait in the pacer like new video, so a burst
                // of NACKs under congestion cannot flood the path.
                for d in leg.cache.on_nack(&seqs, now) {
                    leg.pacer.push(d);
                }
            }
            SignalMessage::KeyframeRequest { .. } => {
                // At most one keyframe per gate interval: a keyframe is several
                // frames' worth of bytes, and on a congested path each one lost
                // would otherwise bring the next request.
                if let Some(e) = &self.video_enc
                    && self.keyframe_gate.on_request(now)
                {
                    e.send(EncCtl::Keyframe);
                }
            }
            SignalMessage::Hangup { reason, call_id } => {
                if call_id.is_some() || leg.call_id.is_some() {
                    return Some(Outcome::End(hangup_reason(&reason)));
                }
                return Some(Outcome::End(EndReason::Refused {
                    message: format!("the relay removed us from the room: {reason:?}"),
                }));
            }
            SignalMessage::Error { code, message } => {
                if code == ErrorCode::ShuttingDown {
                    return Some(Outcome::Retry("relay shutting down".into()));
                }
                self.emit(Event::Warning {
                    message: format!("relay: {message}"),
                });
            }
            SignalMessage::QualityDirective { max_video_kbps, .. } => {
                if let Some(kbps) = max_video_kbps {
                    self.video_bitrate = kbps.saturating_mul(1000).min(self.cfg.video.bitrate_bps);
                    self.apply_video_target(self.ladder.target());
                }
            }
            other => tracing::debug!(?other, "signal ignored"),
        }
        None
    }

    fn on_datagram(&mut self, leg: &mut Leg, d: &[u8]) {
        let now = Instant::now();
        let Ok((from, datagram)) = wzp_proto::parse_forwarded(d) else {
            self.stats.rejected_datagrams += 1;
            return;
        };
        let Some(peer) = leg.peers.get_mut(&from) else {
            // Media can overtake the room update that announces its sender.
            tracing::trace!(%from, "media from an unknown participant");
            return;
        };
        let mut plain = Vec::with_capacity(datagram.len());
        let header = match leg.session.open(from, datagram, now, &mut plain) {
            Ok(h) => h,
            Err(wzp_crypto::CryptoError::NoSenderKey(_)) => {
                // Media sealed under a key whose envelope has not arrived yet (the
                // first few hundred ms after a join or rotation): expected, not an attack.
                self.stats.awaiting_key_datagrams += 1;
                return;
            }
            Err(e) => {
                self.stats.rejected_datagrams += 1;
                tracing::debug!(error = %e, %from, "datagram refused");
                return;
            }
        };
        peer.bytes_in += d.len() as u64;
        peer.last_heard = now;
        if header.flags.quality_report && plain.len() >= wzp_proto::QUALITY_REPORT_LEN {
            let at = plain.len() - wzp_proto::QUALITY_REPORT_LEN;
            if let Ok(r) = QualityReport::decode(&plain[at..]) {
                self.protection.on_report(from, r.loss_pct(), now);
            }
            plain.truncate(at);
        }
        match header.media_type {
            MediaType::Audio if header.codec == CodecId::ComfortNoise => {
                peer.muted = plain.first().is_some_and(|b| b & 1 == 1);
            }
            MediaType::Audio => {
                peer.muted = false;
                peer.codec = Some(header.codec);
                if header.stream == AUDIO_STREAM {
                    peer.loss.note(header.seq);
                }
                if header.flags.repair || header.fec_ratio != wzp_proto::FecRatio::NONE {
                    // RaptorQ-protected: the symbols carry the frames' own sequence
                    // numbers and timestamps (see `protection`).
                    let mut frames: Vec<AudioFrame> = Vec::new();
                    peer.fec.push(header.codec, &plain, now, &mut frames);
                    for f in frames {
                        peer.audio.insert(f.seq, f.ts, &f.data, now);
                    }
                } else {
                    peer.audio.insert(header.seq, header.timestamp, &plain, now);
                }
            }
            MediaType::Video => {
                let mut v = Vec::with_capacity(wzp_proto::MEDIA_HEADER_LEN + plain.len());
                v.extend_from_slice(&header.encode());
                v.extend_from_slice(&plain);
                let mut evs = Vec::new();
                if let Err(e) = peer.video.handle_datagram(&v, now, &mut evs) {
                    tracing::debug!(error = %e, %from, "video packet refused");
                }
                self.video_events(leg, from, &mut evs);
            }
            other => tracing::trace!(?other, "media type not handled"),
        }
    }

    fn video_events(&mut self, leg: &mut Leg, from: ParticipantId, evs: &mut Vec<ReceiverEvent>) {
        for e in evs.drain(..) {
            match e {
                ReceiverEvent::Decode(au) => {
                    if let Some(d) = &self.decoder {
                        let _ = d.tx.send(DecIn::Unit(from, au));
                    }
                }
                ReceiverEvent::SendNack(seqs) => leg.pending.push(SignalMessage::Nack {
                    sender: from,
                    stream: VIDEO_STREAM,
                    seqs,
                }),
                ReceiverEvent::SendPictureLoss => leg.pending.push(SignalMessage::PictureLoss {
                    sender: from,
                    stream: VIDEO_STREAM,
                }),
            }
        }
    }

    fn on_decoded(&mut self, leg: &mut Leg, f: DecOut) {
        match f {
            DecOut::Decoded {
                from,
                width,
                height,
                shown,
            } => {
                if let Some(p) = leg.peers.get_mut(&from) {
                    p.frames += 1;
                    p.resolution = Some((width, height));
                    if !shown {
                        p.frames_not_shown += 1;
                    }
                }
            }
            DecOut::Failed(from) => {
                if let Some(p) = leg.peers.get_mut(&from) {
                    let mut evs = Vec::new();
                    p.video.decode_failed(Instant::now(), &mut evs);
                    self.video_events(leg, from, &mut evs);
                }
            }
        }
    }

    fn send_video(&mut self, leg: &mut Leg, v: EncodedPackets) {
        let packets = match v {
            EncodedPackets::Frame(p) => p,
            EncodedPackets::SourceStopped(why) => {
                self.emit(Event::VideoSourceStopped { message: why });
                return;
            }
        };
        let now = Instant::now();
        for p in packets {
            let mut sealed = Vec::with_capacity(p.payload.len() + 64);
            if let Err(e) = leg.session.seal(&p.header, &p.payload, &mut sealed) {
                tracing::warn!(error = %e, "video seal failed");
                continue;
            }
            leg.cache.insert(p.header.seq, sealed.clone(), now);
            leg.pacer.push(sealed);
        }
        self.pace(leg);
    }

    /// Releases paced video at the pacing rate (audio never waits here).
    fn pace(&mut self, leg: &mut Leg) {
        let rate_bps = self
            .stats
            .bandwidth_estimate_bps
            .saturating_sub(u64::from(AUDIO_RESERVE_BPS))
            .max(MIN_PACING_BPS);
        let mut sent = 0;
        for d in leg.pacer.release(Instant::now(), rate_bps) {
            sent += 1;
            self.bytes_out += d.len() as u64;
            if let Err(e) = leg.conn.send_media(Bytes::from(d)) {
                self.stats.send_errors += 1;
                tracing::debug!(error = %e, "video datagram not sent");
            }
        }
        self.stats.video_packets_sent += sent;
        self.note_queue(leg);
    }

    /// Reports what happened to the microphone and speaker (unplugged, switched to
    /// the system default, none left) as warnings: the devices reopen the default
    /// themselves, the user should know which one the call now uses.
    fn device_events_step(&mut self) {
        let mic = self.audio_in.device_events();
        let speaker = self.audio_out.device_events();
        let all = mic
            .into_iter()
            .map(|e| ("microphone", e))
            .chain(speaker.into_iter().map(|e| ("speaker", e)));
        for (what, ev) in all {
            let message = match ev {
                DeviceEvent::Lost { id, reason } => {
                    format!("the {what} {id} went away ({reason}); switching to the system default")
                }
                DeviceEvent::Switched(d) => format!("now using the {what} {}", d.name),
                DeviceEvent::Unavailable(why) => {
                    format!("no {what} could be opened ({why}); the call goes on without it")
                }
            };
            tracing::info!(%message, "audio device event");
            self.emit(Event::Warning { message });
        }
    }

    fn audio_step(&mut self, leg: &mut Leg) {
        let now = Instant::now();
        self.ticks += 1;
        if self
            .last_report_at
            .is_none_or(|t| now.saturating_duration_since(t) >= REPORT_INTERVAL)
        {
            self.last_report_at = Some(now);
            self.protection_step(leg, now);
        }
        self.device_events_step();
        let mut pcm = [0f32; FRAME];
        if let Err(e) = self.audio_in.pull(&mut pcm) {
            if !self.media_io_error {
                self.emit(Event::Warning {
                    message: format!("the microphone stopped working ({e}); sending silence"),
                });
                self.media_io_error = true;
            }
            pcm = [0.0; FRAME];
        }
        // Cleaned whether muted or not, so the echo canceller and the gain control stay
        // adapted and unmuting does not start with echo.
        if let Some(v) = self.voice.as_mut() {
            if let Err(e) = v.process(&mut pcm) {
                if !self.voice_error {
                    self.voice_error = true;
                    self.emit(Event::Warning {
                        message: format!("echo cancellation stopped working ({e})"),
                    });
                }
            }
        }
        self.local_level = if self.muted {
            0.0
        } else {
            self.local_meter.update(&pcm).level
        };
        // Audio media time advances exactly one frame per frame (the jitter buffer
        // places packets by it), muted or not, so a mute shows as time passing.
        let ts = self.audio_ts;
        self.audio_ts = TimestampMs(ts.0.wrapping_add(20));
        if !self.muted {
            if let Some(enc) = self.opus.as_mut() {
                let mut pkt = [0u8; 1275];
                let codec = self.encoder_cfg.codec;
                // While protected, the frame must fit a RaptorQ symbol: Opus takes the
                // buffer's length as its byte budget for the frame.
                let budget = self
                    .protection
                    .frame_capacity(codec)
                    .map_or(pkt.len(), |c| c.clamp(MIN_OPUS_BUDGET, pkt.len()));
                match enc.encode(&pcm, &mut pkt[..budget]) {
                    Ok(n) if n > 0 => {
                        let seq = self.audio_seq;
                        self.audio_seq = self.audio_seq.wrapping_add(1);
                        match self.protection.protect(codec, seq, ts, &pkt[..n]) {
                            Some(packets) => {
                                let ratio = self.protection.ratio();
                                for p in packets {
                                    let mut h = MediaHeader::new(codec, p.stream, p.seq, ts);
                                    h.fec_ratio = ratio;
                                    h.flags.repair = p.repair;
                                    self.send_audio(leg, h, &p.payload);
                                }
                            }
                            None => {
                                let h = MediaHeader::new(codec, AUDIO_STREAM, seq, ts);
                                self.send_audio(leg, h, &pkt[..n]);
                            }
                        }
                        self.stats.audio_packets_sent += 1;
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "opus encode failed"),
                }
            }
        } else {
            // Muted: no more frames will push the repair of the last protected
            // frames out, so it goes now (nothing once it has gone).
            let ratio = self.protection.ratio();
            let (codec, flushed) = self.protection.flush();
            for p in flushed {
                let mut h = MediaHeader::new(codec, p.stream, p.seq, ts);
                h.fec_ratio = ratio;
                h.flags.repair = p.repair;
                self.send_audio(leg, h, &p.payload);
            }
            if self.ticks % 25 == 0 {
                let h = MediaHeader::new(CodecId::ComfortNoise, HEARTBEAT_STREAM, self.hb_seq, ts);
                self.hb_seq = self.hb_seq.wrapping_add(1);
                self.seal_and_send(leg, &h, &[1]);
            }
        }
        // Playout: one frame from every participant, mixed.
        let mut frames: Vec<[f32; FRAME]> = Vec::with_capacity(leg.peers.len());
        for p in leg.peers.values_mut() {
            let mut out = [0f32; FRAME];
            if let Err(e) = p.audio.pull(now, &mut out) {
                tracing::debug!(error = %e, "audio pull failed");
                out = [0.0; FRAME];
            }
            let l = p.meter.update(&out);
            p.level = (l.level, l.speaking);
            frames.push(out);
        }
        self.note_queue(leg);
        self.note_path_mtu(leg);
        let mut mixed = [0f32; FRAME];
        self.mixer.mix(frames.iter().map(|f| &f[..]), &mut mixed);
        // The echo canceller's reference: what goes to the speaker now may come back
        // through the microphone in a later frame.
        if let Some(v) = self.voice.as_mut() {
            if let Err(e) = v.analyze_far_end(&mixed) {
                tracing::debug!(error = %e, "echo reference rejected");
            }
        }
        if let Err(e) = self.audio_out.push(&mixed) {
            tracing::warn!(error = %e, "audio output failed");
        }
    }

    /// Tells the encoder the largest payload the path's datagrams can carry now.
    fn note_path_mtu(&self, leg: &Leg) {
        if let Some(max) = leg.conn.path_stats().max_datagram {
            let payload = max
                .saturating_sub(VIDEO_OVERHEAD)
                .clamp(MIN_VIDEO_PAYLOAD, MAX_VIDEO_PAYLOAD);
            self.max_payload.store(payload, Ordering::Relaxed);
        }
    }

    /// Tells the encoder whether QUIC's datagram queue is too long for more video.
    fn note_queue(&self, leg: &Leg) {
        let queued = leg
            .initial_space
            .saturating_sub(leg.conn.send_buffer_space())
            + leg.pacer.bytes();
        let limit = (self.stats.bandwidth_estimate_bps as f64 / 8.0
            * VIDEO_QUEUE_TIME.as_secs_f64()) as usize;
        let limit = limit.clamp(VIDEO_QUEUE_BYTES.0, VIDEO_QUEUE_BYTES.1);
        self.congested.store(queued > limit, Ordering::Relaxed);
    }

    /// The ladder's target, capped by the user's preference (or a relay directive).
    fn apply_video_target(&self, t: VideoTarget) {
        let Some(e) = &self.video_enc else { return };
        match t {
            VideoTarget::On { rung, bitrate_bps } => e.send(EncCtl::Target {
                bitrate: bitrate_bps.min(self.video_bitrate),
                max_fps: rung.fps,
            }),
            VideoTarget::Off => e.send(EncCtl::Off),
        }
    }

    /// Sends one audio packet, with our quality report attached when one is due
    /// (inside the ciphertext, so the relay cannot read or rewrite it).
    fn send_audio(&mut self, leg: &mut Leg, mut h: MediaHeader, payload: &[u8]) {
        if let Some(r) = self.report.take().filter(|_| !h.flags.repair) {
            h.flags.quality_report = true;
            let mut with = Vec::with_capacity(payload.len() + wzp_proto::QUALITY_REPORT_LEN);
            with.extend_from_slice(payload);
            with.extend_from_slice(&r.encode());
            self.seal_and_send(leg, &h, &with);
        } else {
            self.seal_and_send(leg, &h, payload);
        }
    }

    /// Once per [`REPORT_INTERVAL`]: measures how much of each participant's
    /// audio is lost before repair and queues the worst as our report; adapts
    /// our own protection to the reports we got; and holds playout deeper for
    /// participants whose audio is protected (their repair symbols come late).
    fn protection_step(&mut self, leg: &mut Leg, now: Instant) {
        let worst = leg
            .peers
            .values_mut()
            .filter_map(|p| p.loss.take())
            .reduce(f32::max);
        if let Some(loss) = worst {
            let rtt = u32::try_from(leg.conn.path_stats().rtt.as_millis()).unwrap_or(u32::MAX);
            let jitter = leg
                .peers
                .values()
                .map(|p| p.audio.jitter().target_delay_ms())
                .max()
                .unwrap_or(0);
            let cap_kbps = u32::try_from(self.stats.bandwidth_estimate_bps / 1000).unwrap_or(0);
            self.report = Some(QualityReport::from_measurements(
                loss, rtt, jitter, cap_kbps,
            ));
        }
        self.protection.update(now);
        self.stats.audio_fec_ratio = self.protection.ratio().ratio();
        self.apply_protection_to_encoder(now);
        self.stats.audio_repair_sent = self.protection.repair_sent;
        for p in leg.peers.values_mut() {
            let protected = p.fec.active(now);
            if protected != p.protected {
                p.protected = protected;
                let min = if protected {
                    PROTECTED_PLAYOUT_MS
                } else {
                    ReceiverConfig::default().jitter.min_delay_ms
                };
                p.audio.set_min_delay_ms(min);
                tracing::debug!(id = %p.info.id, protected, "playout delay for protected audio");
            }
        }
    }

    /// Opus in-band FEC takes bits from the primary encoding, so it is on (as
    /// configured) only in between: when someone reports some loss (1 % or more)
    /// but RaptorQ does not protect the stream. On a clean link it only costs
    /// quality (quality bench, Opus 32k, no loss: 3.79 with it, 4.04 without),
    /// and beside RaptorQ too (10 % bursty loss, 2.0 repair: 3.31 with, 3.48
    /// without).
    fn apply_protection_to_encoder(&mut self, now: Instant) {
        let protected = self.protection.ratio() != wzp_proto::FecRatio::NONE;
        let lossy = self.protection.worst_loss(now) >= 1.0;
        let inband_fec = self.encoder_cfg.inband_fec && lossy && !protected;
        let cfg = EncoderConfig {
            inband_fec,
            // The loss hint also makes libopus trade quality for robustness;
            // the bench's clean-link figure is with no hint.
            expected_loss_pct: if inband_fec {
                self.encoder_cfg.expected_loss_pct
            } else {
                0
            },
            ..self.encoder_cfg
        };
        if let Some(enc) = self.opus.as_mut()
            && enc.config() != cfg
            && let Err(e) = enc.apply(cfg)
        {
            tracing::warn!(error = %e, "opus settings for audio protection");
        }
    }

    fn seal_and_send(&mut self, leg: &mut Leg, h: &MediaHeader, payload: &[u8]) {
        let mut sealed = Vec::with_capacity(payload.len() + 64);
        if let Err(e) = leg.session.seal(h, payload, &mut sealed) {
            tracing::warn!(error = %e, "seal failed");
            return;
        }
        self.bytes_out += sealed.len() as u64;
        if let Err(e) = leg.conn.send_media(Bytes::from(sealed)) {
            self.stats.send_errors += 1;
            tracing::debug!(error = %e, "datagram not sent");
        }
    }

    fn emit_levels(&self, leg: &Leg) {
        let remote = leg
            .peers
            .values()
            .map(|p| (p.info.id, p.level.0, p.level.1))
            .collect();
        self.emit(Event::Speaking {
            local: self.local_level,
            remote,
        });
    }

    /// Congestion control for video, every `RATE_INTERVAL`: a bandwidth estimate from
    /// QUIC's path statistics, fed to the rate ladder.
    ///
    /// While the path is clear the estimate may grow 8% per step (about 1.36x per
    /// second) up to QUIC's congestion window over RTT, but only while the sender
    /// uses it (delivered x 1.5 above it; otherwise it holds). Once a queue builds up
    /// at the bottleneck (RTT 40 ms above the lowest seen) or packets are lost, it falls to
    /// 0.85 x the lower of the last estimate and the delivery rate (bytes QUIC put on
    /// the wire minus bytes lost), every step until the queue drains: a delay-based
    /// back-off like WebRTC's, erring low because audio shares the path.
    fn rate_step(&mut self, leg: &mut Leg) {
        let now = Instant::now();
        let secs = self.last_rate_at.map_or(RATE_INTERVAL.as_secs_f64(), |t| {
            now.saturating_duration_since(t).as_secs_f64().max(0.001)
        });
        self.last_rate_at = Some(now);
        let path = leg.conn.path_stats();
        let (sent, lost) = (path.sent_packets, path.lost_packets);
        let min_rtt = *leg.min_rtt.get_or_insert(path.rtt);
        leg.min_rtt = Some(min_rtt.min(path.rtt));
        let delivered_bps = match self.last_wire {
            Some((b0, l0)) => {
                let sent = path.sent_bytes.saturating_sub(b0);
                let lost = path.lost_bytes.saturating_sub(l0);
                sent.saturating_sub(lost) as f64 * 8.0 / secs
            }
            None => path.cwnd_bps as f64,
        };
        self.last_wire = Some((path.sent_bytes, path.lost_bytes));
        let loss = match self.last_path {
            Some((s0, l0)) if sent > s0 => (lost.saturating_sub(l0)) as f32 / (sent - s0) as f32,
            _ => 0.0,
        };
        self.last_path = Some((sent, lost));
        let prev = self.stats.bandwidth_estimate_bps as f64;
        let queueing = path.rtt.saturating_sub(min_rtt) > QUEUEING_RTT;
        if queueing {
            // Loss the others report now is our own queue overflowing: repair
            // symbols would only add to it (see `AudioProtection::congested`).
            self.protection.congested(now);
            self.apply_protection_to_encoder(now);
        }
        let bwe = if queueing || loss > 0.05 {
            delivered_bps.min(prev) * 0.85
        } else if delivered_bps * APP_LIMITED_HEADROOM < prev * 1.08 {
            // Application-limited (a still picture compresses to far less than its
            // target, or the camera is off): nothing shows the path could carry
            // more, so the estimate holds instead of growing. Grown without evidence,
            // it let the next keyframe out at several times the bottleneck's rate,
            // overflowing its queue and costing audio (the 300 kbit/s cap test).
            prev
        } else {
            (prev * 1.08).min(path.cwnd_bps as f64)
        };
        let bwe = bwe.max(MIN_BWE_BPS as f64) as u64;
        self.stats.bandwidth_estimate_bps = bwe;
        self.stats.path_loss = loss;
        let bwe = u32::try_from(bwe).unwrap_or(u32::MAX);
        if let Some(t) = self.ladder.update(now, bwe, loss) {
            tracing::debug!(?t, bwe, loss, "video target");
            self.apply_video_target(t);
        }
        self.stats.video_target_bps = match self.ladder.target() {
            VideoTarget::On { bitrate_bps, .. } => bitrate_bps.min(self.video_bitrate),
            VideoTarget::Off => 0,
        };
    }

    fn stats_step(&mut self, leg: &mut Leg) -> Option<Outcome> {
        let now = Instant::now();
        let secs = self.cfg.stats_interval.as_secs_f64();
        let path = leg.conn.path_stats();
        let rtt_ms = u32::try_from(path.rtt.as_millis()).unwrap_or(u32::MAX);
        self.note_path_mtu(leg);
        self.stats.path_rtt_ms = rtt_ms;
        let echo = self.voice.as_ref().map(VoiceProcessor::stats);
        self.stats.echo_erle_db = echo.and_then(|e| e.erle_db);
        self.stats.echo_delay_ms = echo.and_then(|e| e.delay_ms);
        self.stats.queued_bytes = leg
            .initial_space
            .saturating_sub(leg.conn.send_buffer_space());
        let out_bps = ((self.bytes_out - self.last_bytes_out) as f64 * 8.0 / secs) as u64;
        let mut parts = Vec::with_capacity(leg.peers.len());
        for p in leg.peers.values_mut() {
            let js = p.audio.stats();
            let lost = js.lost - p.last_lost;
            let got = js.received - p.last_received;
            let loss = if lost + got == 0 {
                0.0
            } else {
                lost as f64 / (lost + got) as f64
            };
            let fps = (p.frames - p.last_frames) as f64 / secs;
            let jitter_ms = p.audio.jitter().target_delay_ms();
            let heard = now.duration_since(p.last_heard) < Duration::from_secs(2);
            parts.push(ParticipantStats {
                id: p.info.id,
                rtt_ms,
                loss,
                jitter_ms,
                bitrate_in_bps: (p.bytes_in as f64 * 8.0 / secs) as u64,
                audio_codec: p.codec.map(|c| format!("{c:?}")),
                resolution: p.resolution,
                fps,
                concealed: js.concealed,
                recovered: js.recovered,
                fec_recovered: p.fec.recovered(),
                video_nacks: p.video.nacked(),
                keyframe_requests: p.video.keyframe_requests(),
                frames_not_shown: p.frames_not_shown,
                muted: p.muted,
                quality: NetworkQuality::classify(loss, jitter_ms, heard),
            });
            p.last_lost = js.lost;
            p.last_received = js.received;
            p.last_frames = p.frames;
            p.bytes_in = 0;
            p.video.set_rtt(path.rtt * 2);
        }
        self.stats.participants = parts;
        self.stats.bitrate_out_bps = out_bps;
        self.last_bytes_out = self.bytes_out;
        self.stats.active_for = self.active_since.map(|t| t.elapsed()).unwrap_or_default();
        self.emit(Event::Stats(self.stats.clone()));
        // Watchdog: connected, others present, and not one packet from any of them.
        let timeout = self.cfg.media_timeout;
        if !leg.peers.is_empty()
            && now.duration_since(leg.started) > timeout
            && leg
                .peers
                .values()
                .all(|p| now.duration_since(p.last_heard) > timeout)
        {
            return Some(Outcome::Retry(format!(
                "no media from anyone for {} s",
                timeout.as_secs()
            )));
        }
        None
    }
}

fn refused(code: ErrorCode, message: String) -> Outcome {
    Outcome::End(EndReason::Refused {
        message: format!("{code:?}: {message}"),
    })
}

/// Maps a hangup from the relay or the peer to why the call ended.
fn hangup_reason(r: &HangupReason) -> EndReason {
    match r {
        HangupReason::Normal => EndReason::RemoteHangup,
        HangupReason::Busy => EndReason::Busy,
        HangupReason::Declined => EndReason::Declined,
        HangupReason::Timeout => EndReason::Missed,
        HangupReason::VersionMismatch { supported } => EndReason::Refused {
            message: format!("no common protocol version (the other side speaks {supported:?})"),
        },
        HangupReason::Error { message } if message.contains("connection lost") => {
            EndReason::PeerLost
        }
        HangupReason::Error { message }
            if message.contains("not online") || message.contains("offline") =>
        {
            EndReason::Unreachable
        }
        HangupReason::Error { message } => EndReason::Refused {
            message: message.clone(),
        },
        HangupReason::Other => EndReason::RemoteHangup,
    }
}

/// Decides whether an error ends the call or is worth a reconnect.
fn classify(e: EngineError) -> Outcome {
    match &e {
        EngineError::Transport(t) => match t {
            TransportError::RelayKeyChanged { .. } => Outcome::End(EndReason::RelayKeyChanged),
            TransportError::Refused { code, message } => refused(*code, message.clone()),
            TransportError::ClosedByPeer { code, reason } => match CloseCode::from_u64(*code) {
                Some(CloseCode::ShuttingDown) | Some(CloseCode::Timeout) | None => {
                    Outcome::Retry(format!("relay closed the connection: {reason}"))
                }
                Some(CloseCode::Normal) => Outcome::Retry(format!("relay closed: {reason}")),
                Some(_) => Outcome::End(EndReason::Refused {
                    message: reason.clone(),
                }),
            },
            _ if t.is_transient() => Outcome::Retry(e.to_string()),
            _ if t.is_fatal() => Outcome::End(EndReason::Failed {
                message: e.to_string(),
            }),
            _ => Outcome::Retry(e.to_string()),
        },
        EngineError::Timeout { .. } => Outcome::Retry(e.to_string()),
        _ => Outcome::End(EndReason::Failed {
            message: e.to_string(),
        }),
    }
}
