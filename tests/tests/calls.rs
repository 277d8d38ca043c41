//! End-to-end calls: a real relay and real engines over QUIC on loopback, with
//! synthetic audio and video.

// Tests hold `wzp_e2e::serial()` across awaits on purpose: one real-time call test at a time.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::await_holding_lock,
    missing_docs
)]

use std::time::Duration;

use wzp_audio::{EncoderConfig, OpusEncoder, ToneSource, WavSource};
use wzp_e2e::{CounterSink, SharedSink, TestRelay, drain, hang_up_both, tone_power, wait_event};
use wzp_engine::{Call, CallState, CallTarget, EndReason, Event, Listener, MediaIo, NullVideoSink};
use wzp_proto::{CodecId, Datagram, MediaType};
use wzp_video::SyntheticSource;

const WAIT: Duration = Duration::from_secs(15);

fn tone_io(hz: f32, sink: &SharedSink) -> MediaIo {
    MediaIo {
        audio_in: Box::new(ToneSource::new(hz, 0.3)),
        audio_out: Box::new(sink.clone()),
        video_in: None,
        video_out: Box::new(NullVideoSink),
    }
}

/// Waits until the key exchange with a peer completed (media can flow both ways).
async fn keyed(events: &mut wzp_engine::Events) {
    wait_event(events, WAIT, "key exchange", |e| {
        matches!(e, Event::Verification { .. })
    })
    .await;
}

async fn active(events: &mut wzp_engine::Events) {
    wait_event(events, WAIT, "active", |e| {
        matches!(e, Event::State(CallState::Active))
    })
    .await;
}

/// Waits until `sink` holds at least `secs` of audio after now.
async fn record_for(sink: &SharedSink, secs: f32) {
    let want = sink.len() + (secs * 48_000.0) as usize;
    let deadline = tokio::time::Instant::now() + WAIT;
    while sink.len() < want {
        assert!(
            tokio::time::Instant::now() < deadline,
            "audio stopped playing"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether `tail` has each of `present` (over 5 % of the strongest of all, and audible)
/// and none of `absent` (under 1 %); the first failure in words.
fn tone_check(tail: &[f32], present: &[f32], absent: &[f32]) -> Result<(), String> {
    let strongest = present
        .iter()
        .chain(absent)
        .map(|f| tone_power(tail, *f))
        .fold(0.0f32, f32::max);
    for f in present {
        let p = tone_power(tail, *f);
        if !(p > strongest * 0.05 && p > 1e-5) {
            return Err(format!(
                "{f} Hz missing (power {p:e}, strongest {strongest:e})"
            ));
        }
    }
    for f in absent {
        let p = tone_power(tail, *f);
        if p >= strongest * 0.01 {
            return Err(format!(
                "hears {f} Hz it should not (power {p:e}, strongest {strongest:e})"
            ));
        }
    }
    Ok(())
}

/// Asserts the last second of `sink` has each of `present` and none of `absent`.
fn assert_tones(who: &str, sink: &SharedSink, present: &[f32], absent: &[f32]) {
    if let Err(e) = tone_check(&sink.tail(48_000), present, absent) {
        panic!("{who}: {e}");
    }
}

/// Waits (up to [`WAIT`]) until the last second of `sink` passes [`tone_check`], then
/// asserts it: for checks right after a call set up, when the first audio may still be
/// on its way on a loaded machine.
async fn hears_within(who: &str, sink: &SharedSink, present: &[f32], absent: &[f32]) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        record_for(sink, 0.25).await;
        let ok = tone_check(&sink.tail(48_000), present, absent).is_ok();
        if ok || tokio::time::Instant::now() >= deadline {
            break;
        }
    }
    assert_tones(who, sink, present, absent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_party_room_each_hears_the_other_and_the_relay_sees_only_ciphertext() {
    let _serial = wzp_e2e::serial();
    let relay = TestRelay::start("two").await;
    let mut tap = relay.handle().tap_media().expect("tap");
    let (sa, sb) = (SharedSink::default(), SharedSink::default());
    let (a, mut ea) = Call::start(
        relay.config(),
        CallTarget::Room("r2".into()),
        tone_io(440.0, &sa),
    )
    .expect("start a");
    let (b, mut eb) = Call::start(
        relay.config(),
        CallTarget::Room("r2".into()),
        tone_io(660.0, &sb),
    )
    .expect("start b");
    active(&mut ea).await;
    active(&mut eb).await;
    // Keys exchanged both ways: each side reports the other's verification codes, equal.
    let code = |e: &Event| match e {
        Event::Verification {
            short_code,
            safety_number,
            ..
        } => Some((short_code.clone(), safety_number.clone())),
        _ => None,
    };
    let ca = code(&wait_event(&mut ea, WAIT, "verification at a", |e| code(e).is_some()).await);
    let cb = code(&wait_event(&mut eb, WAIT, "verification at b", |e| code(e).is_some()).await);
    assert_eq!(
        ca, cb,
        "both sides see the same short code and safety number"
    );
    let (da, db) = (drain(ea), drain(eb));
    record_for(&sa, 1.5).await;
    record_for(&sb, 1.5).await;

    // What the relay received: every datagram is sealed. The engine's first Opus packets
    // are reproducible (same encoder settings, same tone from phase 0), so any 12-byte
    // run of them appearing in what the relay saw would be plaintext leaking.
    let mut enc = OpusEncoder::new(EncoderConfig::for_codec(CodecId::Opus24k)).expect("opus");
    let mut tone = ToneSource::new(440.0, 0.3);
    let mut plain = Vec::new();
    for _ in 0..50 {
        let mut pcm = [0f32; 960];
        wzp_audio::AudioSource::pull(&mut tone, &mut pcm).expect("tone");
        let mut pkt = [0u8; 1275];
        let n = enc.encode(&pcm, &mut pkt).expect("encode");
        if n >= 24 {
            plain.push(pkt[4..16].to_vec());
        }
    }
    assert!(plain.len() > 40);
    let mut seen = Vec::new();
    while let Ok(d) = tap.try_recv() {
        seen.push(d);
    }
    assert!(seen.len() > 100, "relay saw {} datagrams", seen.len());
    // The search works: a datagram carrying a plaintext packet would be caught.
    let leaky = [&[0u8; 17][..], &plain[0][..]].concat();
    assert!(contains(&leaky, &plain[0]));
    for d in &seen {
        match Datagram::parse(d).expect("relay saw a malformed datagram") {
            Datagram::Plain { header, body, .. } => {
                if header.media_type == MediaType::Audio && header.codec != CodecId::ComfortNoise {
                    // epoch byte + ciphertext + 16-byte tag
                    assert!(
                        body.len() > 17,
                        "sealed audio carries epoch, ciphertext and tag"
                    );
                }
            }
            other => panic!("unexpected framing {other:?}"),
        }
        for p in &plain {
            assert!(!contains(d, p), "plaintext Opus bytes reached the relay");
        }
    }
    assert_tones("a", &sa, &[660.0], &[440.0]);
    assert_tones("b", &sb, &[440.0], &[660.0]);
    a.hang_up().expect("hang up a");
    b.hang_up().expect("hang up b");
    assert_eq!(a.wait().await, EndReason::LocalHangup);
    assert_eq!(b.wait().await, EndReason::LocalHangup);
    let (ea, eb) = (da.await.expect("a events"), db.await.expect("b events"));
    for ev in [&ea, &eb] {
        assert!(ev.iter().any(|e| matches!(e, Event::Stats(_))));
        assert!(matches!(
            ev.last(),
            Some(Event::State(CallState::Ended {
                reason: EndReason::LocalHangup
            }))
        ));
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_party_room_each_hears_the_other_two() {
    let _serial = wzp_e2e::serial();
    let relay = TestRelay::start("three").await;
    let tones = [440.0f32, 660.0, 990.0];
    let sinks: Vec<SharedSink> = tones.iter().map(|_| SharedSink::default()).collect();
    let mut calls = Vec::new();
    for (hz, sink) in tones.iter().zip(&sinks) {
        let (c, mut e) = Call::start(
            relay.config(),
            CallTarget::Room("r3".into()),
            tone_io(*hz, sink),
        )
        .expect("start");
        active(&mut e).await;
        calls.push((c, e));
    }
    // Everyone completes the key exchange with both others.
    let mut drains = Vec::new();
    for (_, e) in &mut calls {
        let mut keyed_with = 0;
        while keyed_with < 2 {
            keyed(e).await;
            keyed_with += 1;
        }
    }
    for (c, e) in calls {
        drains.push((c, drain(e)));
    }
    // Keys are in place with both others; let the jitter buffers fill, then listen.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for s in &sinks {
        record_for(s, 1.5).await;
    }
    for (i, s) in sinks.iter().enumerate() {
        let present: Vec<f32> = tones
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, f)| *f)
            .collect();
        assert_tones(&format!("participant {i}"), s, &present, &[tones[i]]);
    }
    for (c, _) in &drains {
        c.hang_up().expect("hang up");
    }
    for (c, d) in drains {
        assert_eq!(c.wait().await, EndReason::LocalHangup);
        d.await.expect("events");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn video_frames_arrive_in_order_with_the_senders_counters() {
    let _serial = wzp_e2e::serial();
    let relay = TestRelay::start("video").await;
    let counters = CounterSink::default();
    let sink = SharedSink::default();
    let io_a = MediaIo {
        audio_in: Box::new(ToneSource::new(440.0, 0.3)),
        audio_out: Box::new(SharedSink::default()),
        video_in: Some(Box::new(
            SyntheticSource::new(320, 192, 15).expect("pattern"),
        )),
        video_out: Box::new(NullVideoSink),
    };
    let io_b = MediaIo {
        audio_in: Box::new(ToneSource::new(660.0, 0.3)),
        audio_out: Box::new(sink.clone()),
        video_in: None,
        video_out: Box::new(counters.clone()),
    };
    let mut cfg = relay.config();
    cfg.video.bitrate_bps = 300_000;
    let (a, mut ea) = Call::start(cfg, CallTarget::Room("v".into()), io_a).expect("a");
    let (b, mut eb) = Call::start(relay.config(), CallTarget::Room("v".into()), io_b).expect("b");
    active(&mut ea).await;
    active(&mut eb).await;
    let (da, _db) = (drain(ea), drain(eb));
    let deadline = tokio::time::Instant::now() + WAIT;
    while counters.0.lock().expect("lock").len() < 30 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "too few video frames"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stats = b.stats().await.expect("stats");
    a.hang_up().expect("hang up");
    b.hang_up().expect("hang up");
    a.wait().await;
    b.wait().await;
    da.await.expect("events");
    let got = counters.0.lock().expect("lock").clone();
    let read: Vec<u32> = got.iter().filter_map(|(_, c)| *c).collect();
    assert!(
        read.len() * 10 >= got.len() * 9,
        "counters unreadable in {} of {} frames",
        got.len() - read.len(),
        got.len()
    );
    assert!(
        read.windows(2).all(|w| w[0] < w[1]),
        "frames out of order: {read:?}"
    );
    let p = &stats.participants[0];
    assert_eq!(p.resolution, Some((320, 192)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mute_stops_audio_packets_and_the_peer_sees_it() {
    let _serial = wzp_e2e::serial();
    let relay = TestRelay::start("mute").await;
    let mut tap = relay.handle().tap_media().expect("tap");
    let (sa, sb) = (SharedSink::default(), SharedSink::default());
    let (a, mut ea) = Call::start(
        relay.config(),
        CallTarget::Room("m".into()),
        tone_io(440.0, &sa),
    )
    .expect("a");
    let (b, mut eb) = Call::start(
        relay.config(),
        CallTarget::Room("m".into()),
        tone_io(660.0, &sb),
    )
    .expect("b");
    b.mute(true).expect("mute b");
    active(&mut ea).await;
    active(&mut eb).await;
    keyed(&mut ea).await;
    keyed(&mut eb).await;
    record_for(&sb, 0.5).await;
    let count = |tap: &mut tokio::sync::mpsc::UnboundedReceiver<bytes::Bytes>| {
        let (mut opus, mut heartbeat) = (0, 0);
        while let Ok(d) = tap.try_recv() {
            if let Ok(Datagram::Plain { header, .. }) = Datagram::parse(&d) {
                match header.codec {
                    CodecId::ComfortNoise => heartbeat += 1,
                    _ if header.media_type == MediaType::Audio => opus += 1,
                    _ => {}
                }
            }
        }
        (opus, heartbeat)
    };
    let (before, _) = count(&mut tap);
    assert!(before > 10, "a sends audio ({before})");
    a.mute(true).expect("mute a");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = count(&mut tap);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (opus, heartbeat) = count(&mut tap);
    assert_eq!(opus, 0, "audio packets while both are muted");
    assert!(heartbeat >= 2, "mute heartbeats keep flowing ({heartbeat})");
    let muted_seen = wait_event(
        &mut eb,
        WAIT,
        "a shown muted at b",
        |e| matches!(e, Event::Stats(s) if s.participants.iter().any(|p| p.muted)),
    )
    .await;
    assert!(matches!(muted_seen, Event::Stats(_)));
    a.mute(false).expect("unmute");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (opus, _) = count(&mut tap);
    assert!(opus > 10, "audio resumes after unmute ({opus})");
    a.hang_up().expect("hang up");
    b.hang_up().expect("hang up");
    drop((ea, eb));
    a.wait().await;
    b.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_call_ring_accept_hear_and_hang_up() {
    let _serial = wzp_e2e::serial();
    let relay = TestRelay::start("direct").await;
    let callee_cfg = relay.config();
    let callee_fp = callee_cfg.identity.fingerprint();
    let mut listener = Listener::connect(callee_cfg).await.expect("listener");
    let (sa, sb) = (SharedSink::default(), SharedSink::default());
    let caller_cfg = relay.config();
    let caller_fp = caller_cfg.identity.fingerprint();
    let (a, mut ea) = Call::start(
        caller_cfg,
        CallTarget::Direct(callee_fp),
        tone_io(440.0, &sa),
    )
    .expect("caller");
    let incoming = tokio::time::timeout(WAIT, listener.next_call())
        .await
        .expect("offer in time")
        .expect("offer");
    assert_eq!(incoming.from, caller_fp);
    wait_event(&mut ea, WAIT, "ringing", |e| {
        matches!(e, Event::State(CallState::Ringing))
    })
    .await;
    let (b, mut eb) = listener.accept(&incoming, tone_io(660.0, &sb));
    active(&mut ea).await;
    active(&mut eb).await;
    keyed(&mut ea).await;
    keyed(&mut eb).await;
    let db = drain(eb);
    record_for(&sa, 1.0).await;
    record_for(&sb, 1.0).await;
    assert_tones("caller", &sa, &[660.0], &[440.0]);
    assert_tones("callee", &sb, &[440.0], &[660.0]);
    a.hang_up().expect("hang up");
    assert_eq!(a.wait().await, EndReason::LocalHangup);
    assert_eq!(
        tokio::time::timeout(WAIT, b.wait())
            .await
            .expect("callee ends"),
        EndReason::RemoteHangup
    );
    db.await.expect("events");
    drop(ea);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_call_declined_busy_and_unreachable() {
    let _serial = wzp_e2e::serial();
    let relay = TestRelay::start("decline").await;
    // Declined.
    let callee_cfg = relay.config();
    let callee_fp = callee_cfg.identity.fingerprint();
    let mut listener = Listener::connect(callee_cfg).await.expect("listener");
    let sink = SharedSink::default();
    let (a, ea) = Call::start(
        relay.config(),
        CallTarget::Direct(callee_fp),
        tone_io(440.0, &sink),
    )
    .expect("caller");
    let incoming = listener.next_call().await.expect("offer");
    listener.decline(&incoming).await.expect("decline");
    assert_eq!(
        tokio::time::timeout(WAIT, a.wait()).await.expect("ends"),
        EndReason::Declined
    );
    drop(ea);

    // Busy: the callee is in a call with someone else.
    let (c, mut ec) = Call::start(
        relay.config(),
        CallTarget::Direct(callee_fp),
        tone_io(440.0, &sink),
    )
    .expect("caller 2");
    let incoming = listener.next_call().await.expect("offer 2");
    let (b, eb) = listener.accept(&incoming, tone_io(660.0, &sink));
    active(&mut ec).await;
    let (d, ed) = Call::start(
        relay.config(),
        CallTarget::Direct(callee_fp),
        tone_io(440.0, &sink),
    )
    .expect("caller 3");
    assert_eq!(
        tokio::time::timeout(WAIT, d.wait()).await.expect("ends"),
        EndReason::Busy
    );
    c.hang_up().expect("hang up");
    c.wait().await;
    tokio::time::timeout(WAIT, b.wait())
        .await
        .expect("callee ends");
    drop((eb, ed));

    // Unreachable: nobody registered with that fingerprint.
    let nobody = wzp_crypto::Identity::generate(&mut rand_core::OsRng).fingerprint();
    let (e, _ee) = Call::start(
        relay.config(),
        CallTarget::Direct(nobody),
        tone_io(440.0, &sink),
    )
    .expect("caller 4");
    assert_eq!(
        tokio::time::timeout(WAIT, e.wait()).await.expect("ends"),
        EndReason::Unreachable
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_call_reconnects_after_the_relay_restarts() {
    let _serial = wzp_e2e::serial();
    let mut relay = TestRelay::start("restart").await;
    let (sa, sb) = (SharedSink::default(), SharedSink::default());
    let (a, mut ea) = Call::start(
        relay.config(),
        CallTarget::Room("rr".into()),
        tone_io(440.0, &sa),
    )
    .expect("a");
    let (b, mut eb) = Call::start(
        relay.config(),
        CallTarget::Room("rr".into()),
        tone_io(660.0, &sb),
    )
    .expect("b");
    active(&mut ea).await;
    active(&mut eb).await;
    record_for(&sa, 0.5).await;
    relay.stop().await;
    wait_event(&mut ea, WAIT, "reconnecting", |e| {
        matches!(e, Event::State(CallState::Reconnecting { .. }))
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    relay.restart().await;
    active(&mut ea).await;
    active(&mut eb).await;
    keyed(&mut ea).await;
    keyed(&mut eb).await;
    let (da, db) = (drain(ea), drain(eb));
    tokio::time::sleep(Duration::from_millis(800)).await;
    record_for(&sa, 1.0).await;
    assert_tones("a after rejoin", &sa, &[660.0], &[440.0]);
    let s = a.stats().await.expect("stats");
    assert_eq!(s.reconnects, 1);
    a.hang_up().expect("hang up");
    b.hang_up().expect("hang up");
    assert_eq!(a.wait().await, EndReason::LocalHangup);
    assert_eq!(b.wait().await, EndReason::LocalHangup);
    da.await.expect("events");
    db.await.expect("events");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_call_is_missed_and_a_live_source_switch_reaches_the_peer() {
    let _serial = wzp_e2e::serial();
    let relay = TestRelay::start("missed").await;
    let callee_cfg = relay.config();
    let callee_fp = callee_cfg.identity.fingerprint();
    let mut listener = Listener::connect(callee_cfg).await.expect("listener");
    let mut caller = relay.config();
    caller.ring_timeout = Duration::from_millis(1500);
    let sink = SharedSink::default();
    let (a, _ea) =
        Call::start(caller, CallTarget::Direct(callee_fp), tone_io(440.0, &sink)).expect("a");
    let _offer = listener.next_call().await.expect("offer");
    assert_eq!(
        tokio::time::timeout(WAIT, a.wait()).await.expect("ends"),
        EndReason::Missed
    );

    // Live source switch: B changes its microphone from 660 Hz to 880 Hz mid-call.
    let (sa, sb) = (SharedSink::default(), SharedSink::default());
    let (a, mut ea) = Call::start(
        relay.config(),
        CallTarget::Room("sw".into()),
        tone_io(440.0, &sa),
    )
    .expect("a");
    let (b, mut eb) = Call::start(
        relay.config(),
        CallTarget::Room("sw".into()),
        tone_io(660.0, &sb),
    )
    .expect("b");
    keyed(&mut ea).await;
    keyed(&mut eb).await;
    let (da, db) = (drain(ea), drain(eb));
    record_for(&sa, 1.0).await;
    assert_tones("a before the switch", &sa, &[660.0], &[880.0]);
    b.command(wzp_engine::Command::SetAudioInput(Box::new(
        ToneSource::new(880.0, 0.3),
    )))
    .expect("switch");
    // Until the old tone has left A's playout: its depth is not fixed (a loaded machine
    // makes packets late, the jitter buffer deepens, and protection adds its hold), so a
    // fixed wait failed once in CI with the end of the 660 Hz tone still in the window.
    hears_within("a after the switch", &sa, &[880.0], &[660.0]).await;
    hang_up_both(a, b, (da, db)).await;
}

/// A camera that works for a few frames, then fails as an unplugged one does.
struct FlakyCamera {
    inner: SyntheticSource,
    left: u32,
}

impl wzp_video::FrameSource for FlakyCamera {
    fn next_frame(&mut self) -> wzp_video::Result<Option<wzp_video::I420Frame>> {
        if self.left == 0 {
            return Err(wzp_video::VideoError::Y4m("device disconnected".into()));
        }
        self.left -= 1;
        self.inner.next_frame()
    }
    fn dimensions(&self) -> (u32, u32) {
        self.inner.dimensions()
    }
    fn frame_rate(&self) -> f64 {
        self.inner.frame_rate()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_camera_that_fails_mid_call_is_an_event_and_the_call_goes_on() {
    let _serial = wzp_e2e::serial();
    let relay = TestRelay::start("camera").await;
    let (sa, sb) = (SharedSink::default(), SharedSink::default());
    let io_a = MediaIo {
        audio_in: Box::new(ToneSource::new(440.0, 0.3)),
        audio_out: Box::new(sa.clone()),
        video_in: Some(Box::new(FlakyCamera {
            inner: SyntheticSource::new(320, 192, 15).expect("pattern"),
            left: 10,
        })),
        video_out: Box::new(NullVideoSink),
    };
    let (a, mut ea) = Call::start(relay.config(), CallTarget::Room("cam".into()), io_a).expect("a");
    let (b, mut eb) = Call::start(
        relay.config(),
        CallTarget::Room("cam".into()),
        tone_io(660.0, &sb),
    )
    .expect("b");
    let stopped = wait_event(&mut ea, WAIT, "camera stopped", |e| {
        matches!(e, Event::VideoSourceStopped { .. })
    })
    .await;
    assert!(
        matches!(&stopped, Event::VideoSourceStopped { message } if message.contains("disconnected")),
        "{stopped:?}"
    );
    keyed(&mut eb).await;
    let (da, db) = (drain(ea), drain(eb));
    hears_within("b after a's camera failed", &sb, &[440.0], &[660.0]).await;
    assert_eq!(hang_up_both(a, b, (da, db)).await, EndReason::LocalHangup);
}

/// A microphone whose headset is pulled out after half a second: its device reports
/// the loss, then the switch to the system default (as `CaptureDevice` does).
struct UnpluggedMic {
    inner: ToneSource,
    pulls: u32,
}

impl wzp_audio::AudioSource for UnpluggedMic {
    fn pull(&mut self, frame: &mut [f32]) -> wzp_audio::Result<wzp_audio::Pull> {
        self.pulls += 1;
        self.inner.pull(frame)
    }

    fn device_events(&mut self) -> Vec<wzp_audio::DeviceEvent> {
        match self.pulls {
            25 => vec![wzp_audio::DeviceEvent::Lost {
                id: "pulseaudio:headset".into(),
                reason: "unplugged".into(),
            }],
            30 => vec![wzp_audio::DeviceEvent::Switched(wzp_audio::DeviceInfo {
                id: "pulseaudio:laptop".into(),
                name: "Laptop microphone".into(),
                is_default: true,
                direction: wzp_audio::Direction::Input,
            })],
            _ => Vec::new(),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unplugged_microphone_is_reported_with_the_device_the_call_moved_to() {
    let _serial = wzp_e2e::serial();
    let relay = TestRelay::start("unplug").await;
    let sb = SharedSink::default();
    let io_a = MediaIo {
        audio_in: Box::new(UnpluggedMic {
            inner: ToneSource::new(440.0, 0.3),
            pulls: 0,
        }),
        audio_out: Box::new(SharedSink::default()),
        video_in: None,
        video_out: Box::new(NullVideoSink),
    };
    let (a, mut ea) =
        Call::start(relay.config(), CallTarget::Room("unplug".into()), io_a).expect("a");
    let (b, eb) = Call::start(
        relay.config(),
        CallTarget::Room("unplug".into()),
        tone_io(660.0, &sb),
    )
    .expect("b");
    let lost = wait_event(
        &mut ea,
        WAIT,
        "device lost warning",
        |e| matches!(e, Event::Warning { message } if message.contains("went away")),
    )
    .await;
    assert!(
        matches!(&lost, Event::Warning { message } if message.contains("microphone pulseaudio:headset") && message.contains("unplugged")),
        "{lost:?}"
    );
    wait_event(&mut ea, WAIT, "switched warning", |e| {
        matches!(e, Event::Warning { message } if message == "now using the microphone Laptop microphone")
    })
    .await;
    let (da, db) = (drain(ea), drain(eb));
    hears_within("b after a's microphone moved", &sb, &[440.0], &[660.0]).await;
    assert_eq!(hang_up_both(a, b, (da, db)).await, EndReason::LocalHangup);
}

/// A camera that says when it is closed (dropped), as a device's light would.
struct ClosingCamera {
    inner: SyntheticSource,
    closed: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl wzp_video::FrameSource for ClosingCamera {
    fn next_frame(&mut self) -> wzp_video::Result<Option<wzp_video::I420Frame>> {
        self.inner.next_frame()
    }
    fn dimensions(&self) -> (u32, u32) {
        self.inner.dimensions()
    }
    fn frame_rate(&self) -> f64 {
        self.inner.frame_rate()
    }
}

impl Drop for ClosingCamera {
    fn drop(&mut self) {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

fn closing_camera() -> (
    Box<dyn wzp_video::FrameSource + Send>,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    let closed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let cam = ClosingCamera {
        inner: SyntheticSource::new(320, 192, 15).expect("pattern"),
        closed: closed.clone(),
    };
    (Box::new(cam), closed)
}

/// What the desktop app's camera button does: off stops the video and closes the
/// camera (its source is dropped, so a real device's light goes out), on opens one
/// again and the peer sees video again; a call can also start with no camera and get
/// one later (the "start with my camera off" setting).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn camera_off_closes_the_camera_and_on_opens_one_again() {
    let _serial = wzp_e2e::serial();
    let relay = TestRelay::start("camera-off").await;
    let counters = CounterSink::default();
    let (cam, closed) = closing_camera();
    let io_a = MediaIo {
        audio_in: Box::new(ToneSource::new(440.0, 0.3)),
        audio_out: Box::new(SharedSink::default()),
        video_in: Some(cam),
        video_out: Box::new(NullVideoSink),
    };
    let io_b = MediaIo {
        audio_in: Box::new(ToneSource::new(660.0, 0.3)),
        audio_out: Box::new(SharedSink::default()),
        video_in: None,
        video_out: Box::new(counters.clone()),
    };
    let mut cfg = relay.config();
    cfg.video.bitrate_bps = 300_000;
    let (a, mut ea) = Call::start(cfg, CallTarget::Room("c".into()), io_a).expect("a");
    let (b, mut eb) = Call::start(relay.config(), CallTarget::Room("c".into()), io_b).expect("b");
    active(&mut ea).await;
    active(&mut eb).await;
    let (da, db) = (drain(ea), drain(eb));
    let frames = || counters.0.lock().expect("lock").len();
    let wait_frames = |n: usize, what: &'static str| {
        let frames = &frames;
        async move {
            let deadline = tokio::time::Instant::now() + WAIT;
            while frames() < n {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{what}: {} frames",
                    frames()
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    wait_frames(10, "video before the camera goes off").await;
    // Off: sending stops and the camera is closed.
    a.camera(false).expect("off");
    a.command(wzp_engine::Command::SetVideoInput(None))
        .expect("close");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while !closed.load(std::sync::atomic::Ordering::SeqCst) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the camera was not closed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let off_at = frames();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        frames() <= off_at + 1,
        "video kept coming with the camera off"
    );
    // On: a camera opened again; the peer sees video again.
    let (cam2, closed2) = closing_camera();
    a.command(wzp_engine::Command::SetVideoInput(Some(cam2)))
        .expect("open");
    a.camera(true).expect("on");
    wait_frames(off_at + 10, "video after the camera came back").await;
    hang_up_both(a, b, (da, db)).await;
    assert!(
        closed2.load(std::sync::atomic::Ordering::SeqCst),
        "closed at the end of the call"
    );
}

/// Mean power of `samples`.
fn power(samples: &[f32]) -> f32 {
    samples.iter().map(|x| x * x).sum::<f32>() / samples.len().max(1) as f32
}

/// Echo cancellation in a real call: A's speaker leaks B's speech back into A's
/// microphone (40 ms later, at half amplitude). Without cancellation B hears itself;
/// with it switched on live, the echo B hears must drop by 20 dB. Then B falls silent
/// and A talks: A's voice must pass the canceller (within 3 dB).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_cancellation_removes_the_far_end_from_what_we_send() {
    let _serial = wzp_e2e::serial();
    let relay = TestRelay::start("echo").await;
    let room = wzp_e2e::EchoRoom::new(Duration::from_millis(40), 0.5);
    let sb = SharedSink::default();
    let (a, mut ea) = Call::start(
        relay.config(),
        CallTarget::Room("echo".into()),
        MediaIo {
            audio_in: Box::new(room.mic(ToneSource::new(1000.0, 0.0))),
            audio_out: Box::new(room.speaker()),
            video_in: None,
            video_out: Box::new(NullVideoSink),
        },
    )
    .expect("a");
    let speech = concat!(env!("CARGO_MANIFEST_DIR"), "/../assets/speech_48k.wav");
    let (b, mut eb) = Call::start(
        relay.config(),
        CallTarget::Room("echo".into()),
        MediaIo {
            audio_in: Box::new(WavSource::open(speech).expect("speech").looping(true)),
            audio_out: Box::new(sb.clone()),
            video_in: None,
            video_out: Box::new(NullVideoSink),
        },
    )
    .expect("b");
    keyed(&mut ea).await;
    keyed(&mut eb).await;
    let (da, db) = (drain(ea), drain(eb));
    record_for(&sb, 3.0).await;
    let echo_off = power(&sb.tail(2 * 48_000));
    a.command(wzp_engine::Command::SetVoice(wzp_engine::VoiceConfig {
        echo_cancellation: true,
        ..wzp_engine::VoiceConfig::off()
    }))
    .expect("aec on");
    record_for(&sb, 6.0).await;
    let echo_on = power(&sb.tail(2 * 48_000));
    let stats = a.stats().await.expect("stats");
    // B falls silent; A talks (a 1 kHz tone at 0.1: Goertzel power (0.1/2)^2).
    b.mute(true).expect("mute b");
    a.command(wzp_engine::Command::SetAudioInput(Box::new(
        room.mic(ToneSource::new(1000.0, 0.1)),
    )))
    .expect("a talks");
    record_for(&sb, 2.0).await;
    let voice = tone_power(&sb.tail(48_000), 1000.0);
    eprintln!(
        "echo at b: {echo_off:e} -> {echo_on:e} ({:.1} dB); a's voice after it {voice:e} \
         (sent 2.5e-3); canceller: ERLE {:?} dB, delay {:?} ms",
        10.0 * (echo_off / echo_on.max(1e-12)).log10(),
        stats.echo_erle_db,
        stats.echo_delay_ms
    );
    assert!(
        echo_off > 1e-4,
        "without cancellation B hears its echo ({echo_off:e})"
    );
    assert!(
        echo_on < echo_off * 0.01,
        "echo not 20 dB down: {echo_off:e} -> {echo_on:e}"
    );
    assert!(
        voice > 2.5e-3 * 0.5,
        "A's own voice did not pass the echo canceller: {voice:e}"
    );
    hang_up_both(a, b, (da, db)).await;
}
