//! `wzp call`, `wzp listen` and `wzp demo`: headless calls through a relay, with
//! synthetic, file or device media, printing stats lines as the call goes.

use std::io::BufReader;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use rand_core::OsRng;
use wzp_audio::{
    AudioSink, AudioSource, CaptureDevice, PlaybackDevice, ToneSource, WavSink, WavSource,
};
use wzp_crypto::Identity;
use wzp_engine::{
    Call, CallConfig, CallStats, CallTarget, EndReason, Event, Events, Listener, MediaIo,
    NullVideoSink, RelayConfig, VideoSink, VoiceConfig, Y4mSink,
};
use wzp_proto::Fingerprint;
use wzp_transport::{RelayFingerprint, Trust};
use wzp_video::{FrameSource, SyntheticSource, Y4mSource};

use crate::error::CliError;

/// Media and output options shared by `call` and `listen`.
#[derive(Debug, Args, Clone)]
pub struct MediaArgs {
    /// Microphone side: `tone[:HZ]` (default 440 Hz), `FILE.wav` (48 kHz mono or stereo;
    /// played once in real time, then silence), `device[:ID]`, or `silence`.
    #[arg(long, default_value = "tone", value_name = "SOURCE")]
    audio_in: String,
    /// Speaker side: `FILE.wav` (exactly what would be played, on the playout clock,
    /// completed however the call ends), `device[:ID]`, or `null`.
    #[arg(long, default_value = "null", value_name = "SINK")]
    audio_out: String,
    /// Play the `--audio-in` file in a loop instead of once.
    #[arg(long = "loop")]
    looping: bool,
    /// Camera side: `none`, `pattern[:WxH[@FPS]]` (a test pattern with a frame counter),
    /// `FILE.y4m`, or `camera[:ID]` (needs the `camera` build feature).
    #[arg(long, default_value = "none", value_name = "SOURCE")]
    video_in: String,
    /// Where remote video goes: `FILE.y4m` (the first participant's frames) or `null`.
    #[arg(long, default_value = "null", value_name = "SINK")]
    video_out: String,
    /// Outgoing video bitrate in kbit/s.
    #[arg(long, default_value_t = 1200, value_name = "KBPS")]
    video_kbps: u32,
    /// End the call after this many seconds (default: run until hung up or Ctrl-C).
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
    /// Seconds between stats lines (0: none).
    #[arg(long, default_value_t = 1.0, value_name = "SECS")]
    stats_every: f64,
    /// Stats and events as JSON lines on stdout instead of text.
    #[arg(long)]
    json: bool,
    /// Start muted.
    #[arg(long)]
    muted: bool,
    /// Voice processing on the microphone signal: `auto` (all stages with
    /// `--audio-in device`, none for tones and files, which noise suppression would
    /// treat as noise), `off`, `all`, or a comma list of `aec`, `ns`, `agc`.
    #[arg(long, default_value = "auto", value_name = "STAGES")]
    voice: String,
}

/// How to reach the relay, and who we are.
#[derive(Debug, Args, Clone)]
pub struct RelayArgs {
    /// Relay address, HOST:PORT.
    #[arg(long, value_name = "ADDR")]
    relay: String,
    /// The relay's certificate fingerprint (as `wzp relay` prints it). Without it the
    /// relay is trusted on first use and remembered in the pin file; a changed key
    /// is then refused.
    #[arg(long, value_name = "FP")]
    relay_fingerprint: Option<String>,
    /// Access token, if the relay requires one.
    #[arg(long, env = "WZP_TOKEN", value_name = "TOKEN")]
    token: Option<String>,
    /// Identity file [default: $XDG_CONFIG_HOME/wzp/identity].
    #[arg(long = "identity", env = "WZP_IDENTITY", value_name = "PATH")]
    identity: Option<PathBuf>,
    /// Use a fresh throwaway identity instead of the identity file.
    #[arg(long)]
    ephemeral: bool,
    /// Name shown to others.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
}

/// `wzp call`.
#[derive(Debug, Args)]
pub struct CallArgs {
    #[command(flatten)]
    relay: RelayArgs,
    /// Join this room (a group call; the relay sees only a hash of the name).
    #[arg(
        long,
        value_name = "NAME",
        conflicts_with = "to",
        required_unless_present = "to"
    )]
    room: Option<String>,
    /// Call this identity directly (its fingerprint, as `wzp identity show` prints it).
    #[arg(long, value_name = "FINGERPRINT")]
    to: Option<String>,
    #[command(flatten)]
    media: MediaArgs,
}

/// `wzp listen`.
#[derive(Debug, Args)]
pub struct ListenArgs {
    #[command(flatten)]
    relay: RelayArgs,
    /// Decline calls instead of answering them (for tests of the caller side).
    #[arg(long)]
    decline: bool,
    /// Answer this many calls, one after another, then exit.
    #[arg(long, default_value_t = 1)]
    calls: u32,
    #[command(flatten)]
    media: MediaArgs,
}

/// `wzp demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Seconds to run.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Send video (a 640x360 test pattern) too.
    #[arg(long)]
    video: bool,
    /// Stats as JSON lines.
    #[arg(long)]
    json: bool,
}

/// `wzp ping`.
#[derive(Debug, Args)]
pub struct PingArgs {
    /// Relay address, HOST:PORT.
    #[arg(long, value_name = "ADDR")]
    relay: String,
    /// The relay's certificate fingerprint. Without it the pin file decides: a pinned
    /// relay must present its pinned key; one never seen before is pinned now.
    #[arg(long, value_name = "FP")]
    relay_fingerprint: Option<String>,
    /// Seconds to wait for the handshake and for each pong.
    #[arg(long, default_value_t = 4.0)]
    wait: f64,
}

/// Runs `wzp ping`: connects (no identity, no room), pings three times, prints the key
/// the relay presented and the round trip; a changed key or no answer is an error.
pub async fn run_ping(args: PingArgs) -> Result<(), CliError> {
    if !(args.wait > 0.0 && args.wait <= 60.0) {
        return Err(CliError::Usage(format!(
            "--wait {}: give seconds between 0 and 60",
            args.wait
        )));
    }
    let (addr, trust, pins) = relay_trust(&args.relay, args.relay_fingerprint.as_deref())?;
    let bind = if addr.is_ipv6() {
        SocketAddr::from(([0u16; 8], 0))
    } else {
        SocketAddr::from(([0, 0, 0, 0], 0))
    };
    let endpoint = wzp_transport::client_endpoint(bind)?;
    let report = wzp_transport::probe(
        &endpoint,
        addr,
        &wzp_engine::RelayConfig::server_name_of(&args.relay),
        &trust,
        &wzp_transport::TransportParams::default(),
        Duration::from_secs_f64(args.wait),
    )
    .await?;
    println!(
        "relay {} answered: key {}, handshake {:.1} ms, round trip {:.2} ms (median of {})",
        args.relay,
        report.relay,
        report.handshake.as_secs_f64() * 1e3,
        report.rtt.as_secs_f64() * 1e3,
        wzp_transport::probe::PINGS
    );
    if let Some(mut p) = pins {
        p.store.pin(&p.relay, report.relay)?;
        println!(
            "first contact: its key is now pinned; compare it with the one its operator gave you"
        );
    }
    Ok(())
}

fn relay_config(a: &RelayArgs) -> Result<(RelayConfig, Option<PinFile>), CliError> {
    let (addr, trust, pins) = relay_trust(&a.relay, a.relay_fingerprint.as_deref())?;
    let server_name = wzp_engine::RelayConfig::server_name_of(&a.relay);
    Ok((
        RelayConfig {
            addr,
            server_name,
            trust,
            token: a.token.clone(),
        },
        pins,
    ))
}

/// The relay's address and how to trust it: the fingerprint given, else the pin file
/// (pinned if known; first use, with the file to pin into, if not).
fn relay_trust(
    relay: &str,
    fingerprint: Option<&str>,
) -> Result<(SocketAddr, Trust, Option<PinFile>), CliError> {
    use std::net::ToSocketAddrs;
    let addr: SocketAddr = relay
        .to_socket_addrs()
        .map_err(|e| CliError::Usage(format!("--relay {relay}: {e}")))?
        .next()
        .ok_or_else(|| CliError::Usage(format!("--relay {relay}: no address")))?;
    let (trust, pins) = match fingerprint {
        Some(f) => (
            Trust::Pinned(
                RelayFingerprint::parse(f)
                    .map_err(|e| CliError::Usage(format!("--relay-fingerprint: {e}")))?,
            ),
            None,
        ),
        None => match pin_path() {
            Some(path) => {
                let store = wzp_transport::PinStore::load(&path)?;
                let trust = store.trust_for(relay)?;
                let first_use = matches!(trust, Trust::FirstUse);
                (
                    trust,
                    first_use.then(|| PinFile {
                        store,
                        relay: relay.to_string(),
                    }),
                )
            }
            None => (Trust::FirstUse, None),
        },
    };
    Ok((addr, trust, pins))
}

/// A relay trusted on first use, to pin once its fingerprint is known.
struct PinFile {
    store: wzp_transport::PinStore,
    relay: String,
}

/// `relays.json` beside the default identity file.
fn pin_path() -> Option<PathBuf> {
    crate::identity::resolve_path(None)
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("relays.json")))
}

fn identity(a: &RelayArgs) -> Result<Identity, CliError> {
    if a.ephemeral {
        return Ok(Identity::generate(&mut OsRng));
    }
    let path = crate::identity::resolve_path(a.identity.clone())?;
    if !path.exists() {
        return Err(CliError::NoIdentity { path });
    }
    Ok(wzp_crypto::identity::store::load(&path)?)
}

fn call_config(a: &RelayArgs, m: &MediaArgs) -> Result<(CallConfig, Option<PinFile>), CliError> {
    let (relay, pins) = relay_config(a)?;
    let mut cfg = CallConfig::new(relay, identity(a)?);
    cfg.alias = a.name.clone();
    cfg.video.bitrate_bps = m.video_kbps.saturating_mul(1000);
    if m.stats_every > 0.0 {
        cfg.stats_interval = Duration::from_secs_f64(m.stats_every.max(0.1));
    }
    cfg.voice = voice(m)?;
    cfg.validate().map_err(|e| CliError::Usage(e.to_string()))?;
    Ok((cfg, pins))
}

fn usage(flag: &str, value: &str, why: impl std::fmt::Display) -> CliError {
    CliError::Usage(format!("{flag} {value}: {why}"))
}

fn audio_in(m: &MediaArgs) -> Result<Box<dyn AudioSource>, CliError> {
    let v = m.audio_in.as_str();
    if v == "silence" {
        return Ok(Box::new(wzp_audio::SilenceSource));
    }
    if let Some(rest) = v.strip_prefix("tone") {
        let hz = match rest.strip_prefix(':') {
            Some(f) => f
                .parse::<f32>()
                .ok()
                .filter(|f| (20.0..=20_000.0).contains(f))
                .ok_or_else(|| usage("--audio-in", v, "frequency must be 20..=20000 Hz"))?,
            None if rest.is_empty() => 440.0,
            None => return Err(usage("--audio-in", v, "expected tone or tone:HZ")),
        };
        return Ok(Box::new(ToneSource::new(hz, 0.3)));
    }
    if let Some(id) = device_id(v) {
        return Ok(Box::new(
            CaptureDevice::open(id).map_err(|e| usage("--audio-in", v, e))?,
        ));
    }
    let src = WavSource::open(v).map_err(|e| usage("--audio-in", v, e))?;
    Ok(Box::new(src.looping(m.looping)))
}

/// The `--voice` stages.
fn voice(m: &MediaArgs) -> Result<VoiceConfig, CliError> {
    let v = m.voice.as_str();
    match v {
        "auto" if device_id(&m.audio_in).is_some() => return Ok(VoiceConfig::default()),
        "auto" | "off" => return Ok(VoiceConfig::off()),
        "all" => return Ok(VoiceConfig::default()),
        _ => {}
    }
    let mut cfg = VoiceConfig::off();
    for stage in v.split(',') {
        match stage.trim() {
            "aec" => cfg.echo_cancellation = true,
            "ns" => cfg.noise_suppression = true,
            "agc" => cfg.gain_control = true,
            other => {
                return Err(usage(
                    "--voice",
                    v,
                    format!("unknown stage {other:?} (auto, off, all, or aec,ns,agc)"),
                ));
            }
        }
    }
    Ok(cfg)
}

/// `device` -> Some(None), `device:ID` -> Some(Some(ID)).
fn device_id(v: &str) -> Option<Option<&str>> {
    if v == "device" {
        Some(None)
    } else {
        v.strip_prefix("device:").map(Some)
    }
}

fn audio_out(m: &MediaArgs) -> Result<Box<dyn AudioSink>, CliError> {
    let v = m.audio_out.as_str();
    if v == "null" {
        return Ok(Box::new(NullSink));
    }
    if let Some(id) = device_id(v) {
        return Ok(Box::new(
            PlaybackDevice::open(id).map_err(|e| usage("--audio-out", v, e))?,
        ));
    }
    Ok(Box::new(
        WavSink::create(v).map_err(|e| usage("--audio-out", v, e))?,
    ))
}

/// Discards audio (`--audio-out null`).
struct NullSink;

impl AudioSink for NullSink {
    fn push(&mut self, _: &[f32]) -> wzp_audio::Result<()> {
        Ok(())
    }
}

fn video_in(m: &MediaArgs) -> Result<Option<Box<dyn FrameSource + Send>>, CliError> {
    let v = m.video_in.as_str();
    if v == "none" {
        return Ok(None);
    }
    if let Some(rest) = v.strip_prefix("pattern") {
        let (w, h, fps) = match rest.strip_prefix(':') {
            None if rest.is_empty() => (1280, 720, 30),
            None => {
                return Err(usage(
                    "--video-in",
                    v,
                    "expected pattern or pattern:WxH[@FPS]",
                ));
            }
            Some(spec) => parse_size(spec).ok_or_else(|| {
                usage("--video-in", v, "expected WxH or WxH@FPS, e.g. 640x360@30")
            })?,
        };
        return Ok(Some(Box::new(
            SyntheticSource::new(w, h, fps).map_err(|e| usage("--video-in", v, e))?,
        )));
    }
    if v == "camera" || v.starts_with("camera:") {
        return Err(usage(
            "--video-in",
            v,
            "this build has no camera support (build wzp-video with the `camera` feature)",
        ));
    }
    let f = std::fs::File::open(v).map_err(|e| usage("--video-in", v, e))?;
    let src = Y4mSource::new(BufReader::new(f)).map_err(|e| usage("--video-in", v, e))?;
    Ok(Some(Box::new(src)))
}

fn parse_size(spec: &str) -> Option<(u32, u32, u32)> {
    let (size, fps) = match spec.split_once('@') {
        Some((s, f)) => (s, f.parse().ok().filter(|f| (1..=60).contains(f))?),
        None => (spec, 30),
    };
    let (w, h) = size.split_once('x')?;
    Some((w.parse().ok()?, h.parse().ok()?, fps))
}

fn video_out(m: &MediaArgs) -> Result<Box<dyn VideoSink>, CliError> {
    let v = m.video_out.as_str();
    if v == "null" {
        return Ok(Box::new(NullVideoSink));
    }
    Ok(Box::new(
        Y4mSink::create(std::path::Path::new(v), 30).map_err(|e| usage("--video-out", v, e))?,
    ))
}

fn media(m: &MediaArgs) -> Result<MediaIo, CliError> {
    Ok(MediaIo {
        audio_in: audio_in(m)?,
        audio_out: audio_out(m)?,
        video_in: video_in(m)?,
        video_out: video_out(m)?,
    })
}

/// Runs `wzp call`.
pub async fn run_call(args: CallArgs) -> Result<(), CliError> {
    let (cfg, pins) = call_config(&args.relay, &args.media)?;
    let target = match (&args.room, &args.to) {
        (Some(r), _) => CallTarget::Room(r.clone()),
        (None, Some(fp)) => {
            CallTarget::Direct(Fingerprint::parse(fp).map_err(|e| usage("--to", fp, e))?)
        }
        (None, None) => {
            return Err(CliError::Usage(
                "give --room NAME or --to FINGERPRINT".into(),
            ));
        }
    };
    let io = media(&args.media)?;
    let (call, events) =
        Call::start(cfg, target, io).map_err(|e| CliError::Usage(e.to_string()))?;
    if args.media.muted {
        let _ = call.mute(true);
    }
    drive(call, events, &args.media, pins).await
}

/// Runs `wzp listen`: registers, then answers (or declines) incoming calls.
pub async fn run_listen(args: ListenArgs) -> Result<(), CliError> {
    let (cfg, _pins) = call_config(&args.relay, &args.media)?;
    println!("listening as {}", cfg.identity.fingerprint());
    for _ in 0..args.calls.max(1) {
        let mut listener = Listener::connect(cfg.clone()).await.map_err(engine)?;
        let incoming = listener.next_call().await.map_err(engine)?;
        println!(
            "incoming call from {}{}",
            incoming.from,
            incoming
                .alias
                .as_deref()
                .map(|a| format!(" ({a})"))
                .unwrap_or_default()
        );
        if args.decline {
            listener.decline(&incoming).await.map_err(engine)?;
            println!("declined");
            // Let the relay deliver the answer before the connection goes away.
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        let (call, events) = listener.accept(&incoming, media(&args.media)?);
        if args.media.muted {
            let _ = call.mute(true);
        }
        drive(call, events, &args.media, None).await?;
    }
    Ok(())
}

fn engine(e: wzp_engine::EngineError) -> CliError {
    CliError::Call(e.to_string())
}

/// Prints events and stats until the call ends, `--duration` passes, or Ctrl-C/SIGTERM.
async fn drive(
    call: Call,
    mut events: Events,
    m: &MediaArgs,
    mut pins: Option<PinFile>,
) -> Result<(), CliError> {
    let deadline = m
        .duration
        .map(|d| tokio::time::Instant::now() + Duration::from_secs_f64(d.max(0.0)));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|source| CliError::Io {
            path: "SIGTERM handler".into(),
            source,
        })?;
    let mut hung_up = false;
    loop {
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            e = events.recv() => match e {
                Some(e) => {
                    if let Event::RelayConnected { fingerprint, .. } = &e {
                        if let Some(p) = pins.as_mut() {
                            if let Ok(fp) = RelayFingerprint::parse(fingerprint) {
                                if let Err(err) = p.store.pin(&p.relay, fp) {
                                    tracing::warn!(error = %err, "cannot save the relay pin");
                                }
                            }
                        }
                    }
                    print_event(&e, m.json)?;
                    if matches!(&e, Event::State(s) if s.is_ended()) {
                        break;
                    }
                }
                None => break,
            },
            () = sleep, if !hung_up => { hung_up = true; let _ = call.hang_up(); }
            _ = tokio::signal::ctrl_c(), if !hung_up => { hung_up = true; let _ = call.hang_up(); }
            _ = term.recv(), if !hung_up => { hung_up = true; let _ = call.hang_up(); }
        }
    }
    let reason = call.wait().await;
    match reason {
        EndReason::LocalHangup | EndReason::RemoteHangup => Ok(()),
        other => Err(CliError::Call(format!("call ended: {}", describe(&other)))),
    }
}

/// A sentence for why a call ended.
fn describe(r: &EndReason) -> String {
    match r {
        EndReason::LocalHangup => "hung up".into(),
        EndReason::RemoteHangup => "the other side hung up".into(),
        EndReason::Declined => "declined".into(),
        EndReason::Busy => "busy (in another call)".into(),
        EndReason::Missed => "no answer".into(),
        EndReason::Unreachable => "not reachable (not online at this relay)".into(),
        EndReason::PeerLost => "the other side lost its connection".into(),
        EndReason::ConnectFailed { message } => format!("cannot connect to the relay: {message}"),
        EndReason::ConnectionLost { message } => {
            format!("connection lost and reconnecting failed: {message}")
        }
        EndReason::Refused { message } => format!("refused by the relay: {message}"),
        EndReason::RelayKeyChanged => {
            "the relay's key changed since it was pinned; possibly an attack (check with the relay's operator)".into()
        }
        EndReason::RelayShutdown => "the relay shut down".into(),
        EndReason::Failed { message } => format!("failed: {message}"),
    }
}

fn print_event(e: &Event, json: bool) -> Result<(), CliError> {
    if json {
        if !matches!(e, Event::Speaking { .. }) {
            println!("{}", serde_json::to_string(e)?);
        }
        return Ok(());
    }
    match e {
        Event::State(s) => println!("state: {}", serde_json::to_string(s)?),
        Event::RelayConnected {
            address,
            fingerprint,
        } => println!("relay {address} fingerprint {fingerprint}"),
        Event::ParticipantJoined(p) => println!(
            "joined: {} {}{}",
            p.id,
            p.fingerprint,
            p.alias
                .as_deref()
                .map(|a| format!(" ({a})"))
                .unwrap_or_default()
        ),
        Event::ParticipantLeft { id } => println!("left: {id}"),
        Event::Verification {
            id,
            short_code,
            safety_number,
            ..
        } => {
            println!("verified channel with {id}: code {short_code}, safety number {safety_number}")
        }
        Event::Stats(s) => println!("{}", stats_line(s)),
        Event::Ringing { .. } => println!("ringing"),
        Event::Warning { message } => println!("warning: {message}"),
        Event::VideoSourceStopped { message } => println!("video stopped: {message}"),
        Event::Speaking { .. } => {}
    }
    Ok(())
}

fn stats_line(s: &CallStats) -> String {
    let mut line = format!(
        "stats t={:.1}s out={}kbps audio_sent={} video_sent={} rejected={} reconnects={}",
        s.active_for.as_secs_f64(),
        s.bitrate_out_bps / 1000,
        s.audio_packets_sent,
        s.video_packets_sent,
        s.rejected_datagrams,
        s.reconnects
    );
    if let Some(erle) = s.echo_erle_db {
        line.push_str(&format!(" erle={erle:.1}dB"));
    }
    for p in &s.participants {
        line.push_str(&format!(
            " | {} rtt={}ms loss={:.1}% jitter={}ms in={}kbps {}{} concealed={} recovered={} {:?}{}",
            p.id,
            p.rtt_ms,
            p.loss * 100.0,
            p.jitter_ms,
            p.bitrate_in_bps / 1000,
            p.audio_codec.as_deref().unwrap_or("-"),
            p.resolution
                .map(|(w, h)| format!(" {w}x{h}@{:.0}", p.fps))
                .unwrap_or_default(),
            p.concealed,
            p.recovered,
            p.quality,
            if p.muted { " muted" } else { "" }
        ));
    }
    line
}

/// Runs `wzp demo`: a relay and two participants in this process, for a quick look.
pub async fn run_demo(args: DemoArgs) -> Result<(), CliError> {
    let settings = wzp_relay::Settings::resolve(&wzp_relay::RelayArgs {
        listen: Some("127.0.0.1:0".into()),
        metrics_listen: Some("127.0.0.1:0".into()),
        ..Default::default()
    })?;
    let relay =
        wzp_relay::start_with_identity(settings, wzp_transport::RelayIdentity::generate()?).await?;
    println!(
        "demo relay on {} (fingerprint {})",
        relay.local_addr(),
        relay.fingerprint()
    );
    let rc = RelayConfig {
        addr: relay.local_addr(),
        server_name: "localhost".into(),
        trust: Trust::Pinned(relay.fingerprint()),
        token: None,
    };
    let mut calls = Vec::new();
    for (name, hz) in [("alice", 440.0), ("bob", 660.0)] {
        let mut cfg = CallConfig::new(rc.clone(), Identity::generate(&mut OsRng));
        cfg.alias = Some(name.into());
        cfg.video.bitrate_bps = 600_000;
        let video: Option<Box<dyn FrameSource + Send>> = if args.video {
            Some(Box::new(SyntheticSource::new(640, 360, 30)?))
        } else {
            None
        };
        let io = MediaIo {
            audio_in: Box::new(ToneSource::new(hz, 0.3)),
            audio_out: Box::new(NullSink),
            video_in: video,
            video_out: Box::new(NullVideoSink),
        };
        let (call, events) =
            Call::start(cfg, CallTarget::Room("demo".into()), io).map_err(engine)?;
        calls.push((name, call, events));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(args.duration.max(1.0));
    let (_, alice, mut a_events) = calls.remove(0);
    let (_, bob, mut b_events) = calls.remove(0);
    let mut heard = false;
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => break,
            e = a_events.recv() => match e {
                Some(Event::Stats(s)) => {
                    heard |= s.participants.iter().any(|p| p.bitrate_in_bps > 0);
                    if args.json {
                        println!("{}", serde_json::to_string(&Event::Stats(s))?);
                    } else {
                        println!("alice {}", stats_line(&s));
                    }
                }
                Some(Event::State(s)) if s.is_ended() => break,
                Some(_) => {}
                None => break,
            },
            e = b_events.recv() => if let Some(Event::State(s)) = e {
                if s.is_ended() { break; }
            },
        }
    }
    let _ = alice.hang_up();
    let _ = bob.hang_up();
    let (ra, rb) = (alice.wait().await, bob.wait().await);
    relay.shutdown().await;
    if ra != EndReason::LocalHangup || rb != EndReason::LocalHangup {
        return Err(CliError::Call(format!(
            "demo call ended early: alice {}, bob {}",
            describe(&ra),
            describe(&rb)
        )));
    }
    if !heard {
        return Err(CliError::Call("no media arrived in the demo call".into()));
    }
    println!("demo ok");
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        media: MediaArgs,
    }

    fn voice_of(args: &[&str]) -> Result<VoiceConfig, CliError> {
        let cli = Cli::try_parse_from(std::iter::once("wzp").chain(args.iter().copied()))
            .map_err(|e| CliError::Usage(e.to_string()))?;
        voice(&cli.media)
    }

    #[test]
    fn voice_processing_follows_the_source_unless_chosen() {
        let all = VoiceConfig::default();
        let off = VoiceConfig::off();
        assert_eq!(voice_of(&[]).ok(), Some(off), "a tone is not cleaned");
        assert_eq!(voice_of(&["--audio-in", "device"]).ok(), Some(all));
        assert_eq!(
            voice_of(&["--audio-in", "device:x", "--voice", "off"]).ok(),
            Some(off)
        );
        assert_eq!(voice_of(&["--voice", "all"]).ok(), Some(all));
        let aec_ns = voice_of(&["--voice", "aec, ns"]).ok();
        assert_eq!(
            aec_ns,
            Some(VoiceConfig {
                echo_cancellation: true,
                noise_suppression: true,
                ..off
            })
        );
        let bad = voice_of(&["--voice", "aec,reverb"]);
        assert!(
            matches!(&bad, Err(CliError::Usage(m)) if m.contains("reverb")),
            "{bad:?}"
        );
    }
}
