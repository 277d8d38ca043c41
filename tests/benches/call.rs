//! Call benchmarks through a real relay on loopback (one command:
//! `cargo bench -p wzp-e2e --bench call`):
//!
//! 1. call setup: `Call::start` at A -> first audio played at B (B already in the room),
//!    and -> first video frame shown at B;
//! 2. audio internal latency: the moment A's engine takes a frame from its source ->
//!    the moment B's engine hands it to its sink (encode, seal, QUIC, relay, QUIC,
//!    jitter buffer, decode, mix), from tone bursts;
//! 3. video glass-to-glass at 720p30: the source producing a frame -> the frame drawn at
//!    B by wzp-render (offscreen, lavapipe here: no GPU), matched by the frame counter
//!    drawn into the picture;
//! 4. CPU of one participant in a 1:1 720p30 call: this binary runs each participant
//!    as a child process of itself and reads the child's CPU time from /proc.
//!
//! Devices are not in these paths (file-like sources and sinks): add the device
//! buffers (typically 10-20 ms each way) for mouth-to-ear.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wzp_audio::{AudioSink, AudioSource, Pull, ToneSource};
use wzp_e2e::{TestRelay, tone_power};
use wzp_engine::{Call, CallTarget, Event, MediaIo, NullVideoSink, VideoSink};
use wzp_proto::ParticipantId;
use wzp_video::{FrameSource, I420Frame, SyntheticSource};

type Stamps = Arc<Mutex<Vec<Instant>>>;

/// Silence with a 440 Hz burst of 60 ms every 500 ms; records when each burst's
/// first frame was taken.
struct BurstSource {
    tone: ToneSource,
    frame: u64,
    started: Stamps,
}

impl AudioSource for BurstSource {
    fn pull(&mut self, out: &mut [f32]) -> wzp_audio::Result<Pull> {
        let phase = self.frame % 25;
        self.frame += 1;
        if phase < 3 {
            if phase == 0 {
                self.started.lock().unwrap().push(Instant::now());
            }
            self.tone.pull(out)
        } else {
            out.fill(0.0);
            Ok(Pull::Audio)
        }
    }
}

/// Records when each burst starts playing (rising edge of 440 Hz energy).
struct EdgeSink {
    on: bool,
    heard: Stamps,
    first: Arc<Mutex<Option<Instant>>>,
}

impl AudioSink for EdgeSink {
    fn push(&mut self, frame: &[f32]) -> wzp_audio::Result<()> {
        // The burst follows exact digital silence, so a low threshold finds its
        // first played frame (the onset, not the frame where it reaches full level).
        let loud = tone_power(frame, 440.0) > 0.0225 / 200.0;
        if loud {
            let mut f = self.first.lock().unwrap();
            f.get_or_insert_with(Instant::now);
        }
        if loud && !self.on {
            self.heard.lock().unwrap().push(Instant::now());
        }
        self.on = loud;
        Ok(())
    }
}

/// A synthetic source that remembers when it produced each frame counter.
struct StampedSource {
    inner: SyntheticSource,
    next: u32,
    made: Arc<Mutex<HashMap<u32, Instant>>>,
}

impl FrameSource for StampedSource {
    fn next_frame(&mut self) -> wzp_video::Result<Option<I420Frame>> {
        let f = self.inner.next_frame()?;
        self.made.lock().unwrap().insert(self.next, Instant::now());
        self.next += 1;
        Ok(f)
    }
    fn dimensions(&self) -> (u32, u32) {
        self.inner.dimensions()
    }
    fn frame_rate(&self) -> f64 {
        self.inner.frame_rate()
    }
}

/// Draws each frame with wzp-render (offscreen) and records when each counter was on
/// the (offscreen) screen.
struct ShownSink {
    shown: Arc<Mutex<Vec<(u32, Instant)>>>,
    decoded: Arc<Mutex<Vec<(u32, Instant)>>>,
    renderer: Option<wzp_render::Renderer>,
}

impl VideoSink for ShownSink {
    fn frame(&mut self, _: ParticipantId, frame: &I420Frame) -> wzp_engine::Result<()> {
        let counter = wzp_video::source::code::read(frame).map(|(c, _)| c);
        if let Some(c) = counter {
            self.decoded.lock().unwrap().push((c, Instant::now()));
        }
        if self.renderer.is_none() {
            self.renderer = Some(
                wzp_render::Renderer::offscreen(&wzp_render::RendererOptions::default()).unwrap(),
            );
        }
        let r = self.renderer.as_mut().unwrap();
        let id = wzp_render::TileId(1);
        r.upload(id, frame).unwrap();
        let size = wzp_render::Size::new(frame.width(), frame.height());
        let scene = wzp_render::Scene::call(size, &[id], wzp_render::GridOptions::default(), None);
        r.draw_offscreen(&scene, size).unwrap();
        r.wait_idle().unwrap();
        let now = Instant::now();
        if let Some(c) = counter {
            self.shown.lock().unwrap().push((c, now));
        }
        Ok(())
    }
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    if v.is_empty() {
        return f64::NAN;
    }
    v[((v.len() - 1) as f64 * p).round() as usize]
}

async fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// What one call measured, in ms.
struct Run {
    audio_setup: f64,
    video_setup: f64,
    audio: Vec<f64>,
    video: Vec<f64>,
    video_decoded: Vec<f64>,
}

/// One call: setup times, then `secs` of latency samples.
async fn one_run(width: u32, height: u32, secs: u64) -> Run {
    let relay = TestRelay::start("bench").await;
    // B: already in the room, listening.
    let (b_started, heard, first) = (Stamps::default(), Stamps::default(), Arc::default());
    let shown = Arc::new(Mutex::new(Vec::new()));
    let decoded = Arc::new(Mutex::new(Vec::new()));
    let io_b = MediaIo {
        audio_in: Box::new(wzp_audio::SilenceSource),
        audio_out: Box::new(EdgeSink {
            on: false,
            heard: heard.clone(),
            first: Arc::clone(&first),
        }),
        video_in: None,
        video_out: Box::new(ShownSink {
            shown: shown.clone(),
            decoded: decoded.clone(),
            // Made before the call, as an app's window has its renderer before any call
            // (made on the first frame, its wgpu set-up on lavapipe, 0.1-0.4 s here, was
            // counted in the first frame's time to screen).
            renderer: Some(
                wzp_render::Renderer::offscreen(&wzp_render::RendererOptions::default()).unwrap(),
            ),
        }),
    };
    drop(b_started);
    let (b, mut eb) = Call::start(relay.config(), CallTarget::Room("bench".into()), io_b).unwrap();
    loop {
        if let Some(Event::State(wzp_engine::CallState::Active)) = eb.recv().await {
            break;
        }
    }
    // Timelines of both engines' events, printed for a slow first video frame.
    let timeline: Arc<Mutex<Vec<(Instant, String)>>> = Arc::default();
    let note = |who: &'static str, tl: &Arc<Mutex<Vec<(Instant, String)>>>, e: &Event| {
        let what = match e {
            Event::State(s) => format!("{who} state {s:?}"),
            Event::Verification { id, .. } => format!("{who} keys with {id}"),
            Event::ParticipantJoined(p) => format!("{who} sees {} join", p.id),
            _ => return,
        };
        tl.lock().unwrap().push((Instant::now(), what));
    };
    let tl_b = Arc::clone(&timeline);
    let eb_task = tokio::spawn(async move {
        while let Some(e) = eb.recv().await {
            note("B", &tl_b, &e);
        }
    });
    // A: the command at t0.
    let started = Stamps::default();
    let made = Arc::new(Mutex::new(HashMap::new()));
    let io_a = MediaIo {
        audio_in: Box::new(BurstSource {
            tone: ToneSource::new(440.0, 0.3),
            frame: 0,
            started: started.clone(),
        }),
        audio_out: Box::new(NullSink),
        video_in: Some(Box::new(StampedSource {
            inner: SyntheticSource::new(width, height, 30).unwrap(),
            next: 0,
            made: made.clone(),
        })),
        video_out: Box::new(NullVideoSink),
    };
    let mut cfg = relay.config();
    cfg.video.bitrate_bps = if width >= 1280 { 2_000_000 } else { 800_000 };
    cfg.video.threads = 2;
    let t0 = Instant::now();
    let (a, mut ea) = Call::start(cfg, CallTarget::Room("bench".into()), io_a).unwrap();
    let tl_a = Arc::clone(&timeline);
    let ea_task = tokio::spawn(async move {
        while let Some(e) = ea.recv().await {
            note("A", &tl_a, &e);
        }
    });
    wait_until("first audio", 10, || first.lock().unwrap().is_some()).await;
    let audio_setup = first.lock().unwrap().unwrap().duration_since(t0);
    wait_until("first video", 10, || !shown.lock().unwrap().is_empty()).await;
    let video_setup = shown.lock().unwrap()[0].1.duration_since(t0);
    if video_setup > Duration::from_millis(300) {
        let bs = b.stats().await.unwrap();
        let seen = bs.participants.first();
        eprintln!(
            "slow first video ({} ms): B awaiting-key datagrams {}, keyframe requests {:?}, A's first frame counter shown {:?}",
            video_setup.as_millis(),
            bs.awaiting_key_datagrams,
            seen.map(|p| p.keyframe_requests),
            shown.lock().unwrap().first().map(|f| f.0),
        );
        for (t, what) in timeline.lock().unwrap().iter() {
            eprintln!(
                "  +{:>4} ms {what}",
                t.saturating_duration_since(t0).as_millis()
            );
        }
        eprintln!(
            "  relay: {}",
            relay
                .handle()
                .metrics()
                .render()
                .lines()
                .filter(|l| l.contains("keyframe") && !l.starts_with('#'))
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    a.hang_up().unwrap();
    b.hang_up().unwrap();
    a.wait().await;
    b.wait().await;
    let _ = (ea_task.await, eb_task.await);
    // Audio: pair each heard edge with the latest burst started before it.
    let starts = started.lock().unwrap().clone();
    let mut audio = Vec::new();
    for h in heard.lock().unwrap().iter() {
        if let Some(s) = starts.iter().rev().find(|s| *s < h) {
            let d = h.duration_since(*s).as_secs_f64() * 1000.0;
            if d < 400.0 {
                audio.push(d);
            }
        }
    }
    let made = made.lock().unwrap();
    let since_made = |v: &Vec<(u32, Instant)>| -> Vec<f64> {
        v.iter()
            .filter_map(|(c, t)| {
                made.get(c)
                    .map(|m| t.duration_since(*m).as_secs_f64() * 1000.0)
            })
            .collect()
    };
    let video = since_made(&shown.lock().unwrap());
    let video_decoded = since_made(&decoded.lock().unwrap());
    Run {
        audio_setup: audio_setup.as_secs_f64() * 1000.0,
        video_setup: video_setup.as_secs_f64() * 1000.0,
        audio,
        video,
        video_decoded,
    }
}

struct NullSink;
impl AudioSink for NullSink {
    fn push(&mut self, _: &[f32]) -> wzp_audio::Result<()> {
        Ok(())
    }
}

/// Child mode: one participant in a 720p30 call until killed.
async fn child(addr: &str, fp: &str, hz: f32) {
    let fp = wzp_transport::RelayFingerprint::parse(fp).unwrap();
    let relay = wzp_engine::RelayConfig {
        addr: addr.parse().unwrap(),
        server_name: "localhost".into(),
        trust: wzp_transport::Trust::Pinned(fp),
        token: None,
    };
    let mut cfg =
        wzp_engine::CallConfig::new(relay, wzp_crypto::Identity::generate(&mut rand_core::OsRng));
    cfg.video.bitrate_bps = 2_000_000;
    cfg.video.threads = 1;
    let io = MediaIo {
        audio_in: Box::new(ToneSource::new(hz, 0.3)),
        audio_out: Box::new(NullSink),
        video_in: Some(Box::new(SyntheticSource::new(1280, 720, 30).unwrap())),
        video_out: Box::new(NullVideoSink),
    };
    let (call, mut ev) = Call::start(cfg, CallTarget::Room("cpu".into()), io).unwrap();
    while let Some(e) = ev.recv().await {
        if let Event::State(s) = &e {
            if s.is_ended() {
                break;
            }
        }
    }
    call.wait().await;
}

fn cpu_ticks(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn rss_kb(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

async fn cpu_run(secs: u64) -> (f64, f64, u64) {
    let relay = TestRelay::start("cpu").await;
    let exe = std::env::current_exe().unwrap();
    let fp = relay.handle().fingerprint().to_string();
    let spawn = |hz: &str| {
        std::process::Command::new(&exe)
            .env("WZP_BENCH_CHILD", format!("{}|{fp}|{hz}", relay.addr))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut a = spawn("440");
    let mut b = spawn("660");
    // Warm up (connect, keys, first keyframes), then measure A and B.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (a0, b0, t0) = (cpu_ticks(a.id()), cpu_ticks(b.id()), Instant::now());
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let (a1, b1, dt) = (cpu_ticks(a.id()), cpu_ticks(b.id()), t0.elapsed());
    let rss = rss_kb(a.id()).unwrap_or(0);
    let fwd = relay.handle().metrics().render();
    let _ = a.kill();
    let _ = b.kill();
    let _ = (a.wait(), b.wait());
    let hz = 100.0; // USER_HZ on Linux
    let pct = |x0: Option<u64>, x1: Option<u64>| match (x0, x1) {
        (Some(x0), Some(x1)) => (x1 - x0) as f64 / hz / dt.as_secs_f64() * 100.0,
        _ => f64::NAN,
    };
    let forwarded = fwd
        .lines()
        .find(|l| l.starts_with("wzp_relay_packets_forwarded_total"))
        .unwrap_or("")
        .to_string();
    eprintln!("relay: {forwarded}");
    (pct(a0, a1), pct(b0, b1), rss)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    if let Ok(spec) = std::env::var("WZP_BENCH_CHILD") {
        let parts: Vec<&str> = spec.split('|').collect();
        rt.block_on(child(parts[0], parts[1], parts[2].parse().unwrap()));
        return;
    }
    // `cargo bench` passes --bench; a filter argument picks parts.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let want = |name: &str| args.is_empty() || args.iter().any(|a| name.contains(a.as_str()));
    if want("latency") {
        let (mut aset, mut vset, mut alat, mut vlat, mut vdec) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..5 {
            let r = rt.block_on(one_run(1280, 720, 6));
            aset.push(r.audio_setup);
            vset.push(r.video_setup);
            alat.extend(r.audio);
            vlat.extend(r.video);
            vdec.extend(r.video_decoded);
        }
        println!(
            "call setup, command -> first audio played at the peer: p50 {:.0} ms, max {:.0} ms (5 calls)",
            pct(&mut aset.clone(), 0.5),
            pct(&mut aset, 1.0)
        );
        println!(
            "call setup, command -> first 720p video frame at the peer: p50 {:.0} ms, max {:.0} ms",
            pct(&mut vset.clone(), 0.5),
            pct(&mut vset, 1.0)
        );
        println!(
            "audio internal latency (source -> sink through the relay): p50 {:.1} ms, p90 {:.1} ms, n={}",
            pct(&mut alat.clone(), 0.5),
            pct(&mut alat.clone(), 0.9),
            alat.len()
        );
        println!(
            "video 720p30 source -> decoded at the peer: p50 {:.1} ms, p90 {:.1} ms, n={}",
            pct(&mut vdec.clone(), 0.5),
            pct(&mut vdec.clone(), 0.9),
            vdec.len()
        );
        println!(
            "video glass-to-glass 720p30 (source -> drawn offscreen at the peer): p50 {:.1} ms, p90 {:.1} ms, n={}",
            pct(&mut vlat.clone(), 0.5),
            pct(&mut vlat.clone(), 0.9),
            vlat.len()
        );
    }
    if want("cpu") {
        let (a, b, rss) = rt.block_on(cpu_run(10));
        println!(
            "CPU of one participant in a 1:1 720p30 call (encode 720p + decode 720p + audio): A {a:.0}% / B {b:.0}% of one core; RSS {} MB",
            rss / 1024
        );
    }
}
