//! Calls through a bad network: an impairment proxy between one participant and the
//! relay (loss, jitter, outage, bandwidth cap, address change).

// Tests hold `wzp_e2e::serial()` across awaits on purpose: one real-time call test at a time.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::await_holding_lock,
    missing_docs
)]

use std::time::{Duration, Instant};

use wzp_audio::ToneSource;
use wzp_e2e::{SharedSink, TestRelay, drain, tone_power, wait_event};
use wzp_engine::{Call, CallState, CallTarget, EndReason, Event, Events, MediaIo, NullVideoSink};
use wzp_netsim::{GilbertElliott, Impairment, Proxy, ProxyHandle, RateLimit};
use wzp_video::{FrameSource, SyntheticSource};

const WAIT: Duration = Duration::from_secs(15);

/// A (behind the proxy, 440 Hz) and B (direct, 660 Hz) in one room, keys exchanged.
struct Pair {
    relay: TestRelay,
    proxy: ProxyHandle,
    a: Call,
    b: Call,
    ea: Events,
    eb: Events,
    sb: SharedSink,
}

/// An impairment proxy in front of `relay`, clear until a test impairs it.
async fn proxy_to(relay: &TestRelay, seed: u64) -> ProxyHandle {
    Proxy::start(
        "127.0.0.1:0".parse().unwrap(),
        relay.addr,
        Impairment::none(),
        Impairment::none(),
        seed,
    )
    .await
    .expect("proxy")
}

/// Darkens the proxied participant's downlink until its watchdog gives the connection
/// up, then clears it and waits until the participant is back in the call with new keys.
async fn dark_downlink_until_rejoined(proxy: &ProxyHandle, events: &mut Events) {
    proxy
        .set_downlink(Impairment {
            loss: 1.0,
            ..Impairment::none()
        })
        .unwrap();
    wait_event(events, WAIT, "reconnecting", |e| {
        matches!(e, Event::State(CallState::Reconnecting { .. }))
    })
    .await;
    proxy.set_downlink(Impairment::none()).unwrap();
    wait_event(events, WAIT, "active again", |e| {
        matches!(e, Event::State(CallState::Active))
    })
    .await;
    wait_event(events, WAIT, "keys again", |e| {
        matches!(e, Event::Verification { .. })
    })
    .await;
}

async fn pair(name: &str, video_a: Option<Box<dyn FrameSource + Send>>) -> Pair {
    let relay = TestRelay::start(name).await;
    let proxy = proxy_to(&relay, 7).await;
    let mut cfg_a = relay.config_via(proxy.local_addr());
    cfg_a.video.bitrate_bps = 1_200_000;
    let io_a = MediaIo {
        audio_in: Box::new(ToneSource::new(440.0, 0.3)),
        audio_out: Box::new(SharedSink::default()),
        video_in: video_a,
        video_out: Box::new(NullVideoSink),
    };
    let sb = SharedSink::default();
    let io_b = MediaIo {
        audio_in: Box::new(ToneSource::new(660.0, 0.3)),
        audio_out: Box::new(sb.clone()),
        video_in: None,
        video_out: Box::new(NullVideoSink),
    };
    let room = CallTarget::Room(name.into());
    let (a, mut ea) = Call::start(cfg_a, room.clone(), io_a).expect("a");
    let (b, mut eb) = Call::start(relay.config(), room, io_b).expect("b");
    for e in [&mut ea, &mut eb] {
        wait_event(e, WAIT, "keys", |e| matches!(e, Event::Verification { .. })).await;
    }
    Pair {
        relay,
        proxy,
        a,
        b,
        ea,
        eb,
        sb,
    }
}

/// Power of A's 440 Hz tone in the last `ms` of B's playout.
fn a_heard(sb: &SharedSink, ms: usize) -> f32 {
    tone_power(&sb.tail(48 * ms), 440.0)
}

/// A pure 0.3-amplitude tone measures (0.3/2)^2 = 0.0225 here; a quarter of that
/// means the tone is clearly playing.
const HEARD: f32 = 0.0225 / 4.0;
/// Through heavy loss, concealment fills the gaps with fading copies: a tenth of
/// full power still means the call is carrying the speaker.
const HEARD_DEGRADED: f32 = 0.0225 / 10.0;

async fn finish(p: Pair) -> (Vec<Event>, Vec<Event>) {
    let (da, db) = (drain(p.ea), drain(p.eb));
    p.a.hang_up().unwrap();
    p.b.hang_up().unwrap();
    assert_eq!(p.a.wait().await, EndReason::LocalHangup);
    assert_eq!(p.b.wait().await, EndReason::LocalHangup);
    drop(p.proxy);
    drop(p.relay);
    (da.await.unwrap(), db.await.unwrap())
}

fn reconnects(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, Event::State(CallState::Reconnecting { .. })))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_holds_through_30_percent_loss_and_300_ms_jitter() {
    let _serial = wzp_e2e::serial();
    let p = pair("loss", None).await;
    let bad = Impairment {
        loss: 0.30,
        jitter: Duration::from_millis(300),
        ..Impairment::none()
    };
    p.proxy.set_uplink(bad.clone()).unwrap();
    p.proxy.set_downlink(bad).unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let net = p.proxy.stats();
    let lost = net.uplink.dropped_loss as f64 / net.uplink.received.max(1) as f64;
    assert!(lost > 0.2, "the loss was real: {lost:.2}");
    // Over the whole impaired stretch: QUIC's congestion control (it reads 30% random
    // loss as congestion) throttles the datagrams, so audio has gaps of up to about a
    // second inside it; what must hold is that the call stays up and carries the speaker.
    let heard = a_heard(&p.sb, 3500);
    let present = wzp_e2e::tone_presence(&p.sb.tail(48 * 3500), 440.0, HEARD_DEGRADED);
    let stats = p.b.stats().await.unwrap();
    let (ea, eb) = finish(p).await;
    eprintln!(
        "heard {heard:e}; A's tone in {:.0}% of B's 20 ms frames; b sees a: {:?}",
        present * 100.0,
        stats.participants.first()
    );
    // Judged per 20 ms frame, as the other impairment tests are: one Goertzel over the
    // stretch is phase-coherent, so a playout skip cancels the tone's halves (it read
    // 1.6e-3 and 1.7e-3, under a tenth of full power, in runs where the tone was in
    // 58-59 % of the frames; eleven runs read 57-74 %). With the congestion gaps above
    // (up to about a second of 3.5 s), the tone in 40 % of the frames still means the
    // call carries the speaker; a call that does not carries it in none.
    assert!(
        present >= 0.4,
        "440 Hz at B through 30% loss in only {:.0}% of the frames (power {heard:e})",
        present * 100.0
    );
    assert!(stats.participants.len() == 1);
    assert_eq!(reconnects(&ea) + reconnects(&eb), 0, "no reconnect needed");
}

/// Bursty loss (10 %, bursts of 8 packets) on A's uplink: B measures A's loss and
/// reports it, A turns on RaptorQ protection, and B rebuilds lost frames from the
/// repair symbols (wzp_engine::protection).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bursty_loss_turns_on_audio_protection_and_bursts_are_rebuilt() {
    let _serial = wzp_e2e::serial();
    let p = pair("fec", None).await;
    let (burst, loss) = (8.0, 0.10);
    p.proxy
        .set_uplink(Impairment {
            burst: Some(GilbertElliott {
                p_good_to_bad: loss / (burst * (1.0 - loss)),
                p_bad_to_good: 1.0 / burst,
                loss_in_bad: 1.0,
            }),
            jitter: Duration::from_millis(20),
            ..Impairment::none()
        })
        .unwrap();
    tokio::time::sleep(Duration::from_secs(8)).await;
    let heard = a_heard(&p.sb, 3000);
    let present = wzp_e2e::tone_presence(&p.sb.tail(48 * 3000), 440.0, HEARD);
    let sa = p.a.stats().await.unwrap();
    let sb = p.b.stats().await.unwrap();
    let net = p.proxy.stats();
    let (ea, eb) = finish(p).await;
    let seen = sb.participants.first().cloned();
    eprintln!(
        "heard {heard:e}; A's tone in {:.0}% of B's 20 ms frames; a: fec ratio {} \
         repair sent {}; proxy {:?}; b sees a: {seen:?}",
        present * 100.0,
        sa.audio_fec_ratio,
        sa.audio_repair_sent,
        net.uplink
    );
    assert!(net.uplink.dropped_burst > 20, "the loss was real");
    assert!(sa.audio_fec_ratio > 0.0, "A protects its audio");
    let seen = seen.expect("b sees a");
    assert!(seen.fec_recovered > 0, "B rebuilt frames: {seen:?}");
    assert!(heard > HEARD, "440 Hz at B through bursty loss: {heard:e}");
    assert_eq!(reconnects(&ea) + reconnects(&eb), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_resumes_within_a_second_after_a_2_second_outage() {
    let _serial = wzp_e2e::serial();
    let p = pair("outage", None).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(a_heard(&p.sb, 200) > HEARD, "tone before the outage");
    p.proxy.set_outage(true).unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        a_heard(&p.sb, 200) < HEARD / 10.0,
        "silence during the outage"
    );
    p.proxy.set_outage(false).unwrap();
    let ended = Instant::now();
    let mut resumed = None;
    while ended.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if a_heard(&p.sb, 60) > HEARD {
            resumed = Some(ended.elapsed());
            break;
        }
    }
    let (ea, _) = finish(p).await;
    let resumed = resumed.expect("audio never resumed");
    eprintln!(
        "audio resumed {} ms after the outage ended",
        resumed.as_millis()
    );
    // Goal: 1 s. Before the client connection got a congestion-window floor
    // (wzp_transport::congestion) this was bimodal, 0.25-0.8 s or ~2.3 s, because the
    // sender's QUIC stack sent nothing until its backed-off probe timer fired.
    assert!(
        resumed <= Duration::from_secs(1),
        "resumed after {resumed:?}"
    );
    assert_eq!(reconnects(&ea), 0, "the connection survived the outage");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_300_kbps_cap_keeps_audio_and_degrades_video() {
    let _serial = wzp_e2e::serial();
    let video = SyntheticSource::new(640, 360, 30).expect("pattern");
    let p = pair("cap", Some(Box::new(video))).await;
    p.proxy
        .set_uplink(Impairment {
            rate_limit: Some(RateLimit::with_queue_delay(
                300_000,
                Duration::from_millis(200),
            )),
            ..Impairment::none()
        })
        .unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let concealed = |s: &wzp_engine::CallStats| s.participants.first().map_or(0, |p| p.concealed);
    let sb0 = p.b.stats().await.unwrap();
    let up0 = p.proxy.stats().uplink;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let up1 = p.proxy.stats().uplink;
    let tail = p.sb.tail(48 * 2000);
    let present = wzp_e2e::tone_presence(&tail, 440.0, HEARD);
    let coherent = tone_power(&tail, 440.0);
    let sa = p.a.stats().await.unwrap();
    let sb1 = p.b.stats().await.unwrap();
    let offered_bps = (up1.received_bytes - up0.received_bytes) * 8 / 4;
    let queue_drops = up1.dropped_queue - up0.dropped_queue;
    eprintln!(
        "concealed at B: {} in the first 4 s under the cap, {} in the next 4 s; \
         A's tone in {:.0}% of B's 20 ms frames over the last 2 s (one Goertzel over \
         the 2 s, phase-sensitive: {coherent:e} of 2.25e-2); A offered the bottleneck \
         {offered_bps} bit/s on the wire in the next 4 s, {queue_drops} packets dropped there",
        concealed(&sb0),
        concealed(&sb1) - concealed(&sb0),
        present * 100.0,
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let sb2 = p.b.stats().await.unwrap();
    eprintln!("proxy: {:?}", p.proxy.stats());
    let m = p.relay.handle().metrics().render();
    for l in m
        .lines()
        .filter(|l| l.contains("drop") && !l.starts_with('#'))
    {
        eprintln!("relay {l}");
    }
    let (ea, _) = finish(p).await;
    eprintln!("a: {sa:?}\nb sees a: {:?}", sb2.participants.first());
    // When the cap arrives, the estimate takes a few steps to come down from
    // the unimpaired rate and the bottleneck queue overflows: B conceals 3-52
    // frames in those first 4 s (seen on this machine). Once adapted, audio must
    // be intact: at most 10 concealed frames (200 ms) in the next 4 s (0 seen).
    let adapted = concealed(&sb1) - concealed(&sb0);
    assert!(
        adapted <= 10,
        "audio intact once adapted: {adapted} concealed"
    );
    // And heard: the tone in nearly every 20 ms frame B played (per frame, not one
    // Goertzel over the whole tail: when playout drops a frame to shorten its
    // delay after the burst, the tone's phase jumps and one long Goertzel cancels
    // itself, measuring a fifth of the power of a tone that never stopped).
    assert!(
        present >= 0.95,
        "A's tone in {:.0}% of B's frames under the cap",
        present * 100.0
    );
    // What A puts on the wire fits the cap once adapted, counted where it matters,
    // at the bottleneck (its own 1 s bitrate figure may cross 300 kbit/s for a
    // second while the 200 ms queue absorbs it): on average under the cap, and the
    // queue seldom overflows.
    assert!(
        offered_bps <= 300_000,
        "A offers the bottleneck {offered_bps} bit/s"
    );
    assert!(
        queue_drops <= 10,
        "{queue_drops} packets dropped at the bottleneck once adapted"
    );
    let fps = |s: &wzp_engine::CallStats| s.participants.first().map_or(0.0, |p| p.fps);
    assert!(
        fps(&sb1) > 0.0 || fps(&sb2) > 0.0,
        "video still moving at B (not frozen)"
    );
    assert_eq!(reconnects(&ea), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_change_keeps_the_call_without_reconnecting() {
    let _serial = wzp_e2e::serial();
    let p = pair("migrate", None).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let moved = p.proxy.rebind_flows().await.unwrap();
    assert_eq!(moved, 1);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let heard = a_heard(&p.sb, 500);
    let (ea, eb) = finish(p).await;
    assert!(heard > HEARD, "440 Hz after the address change: {heard:e}");
    assert_eq!(reconnects(&ea) + reconnects(&eb), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watchdog_reconnects_when_media_stops_but_the_connection_lives() {
    let _serial = wzp_e2e::serial();
    // An outage longer than the media timeout but shorter than QUIC's idle timeout: the
    // connection is still up, nothing arrives, and the engine rejoins on its own.
    let relay = TestRelay::start("watchdog").await;
    let proxy = proxy_to(&relay, 9).await;
    let mut cfg_a = relay.config_via(proxy.local_addr());
    cfg_a.media_timeout = Duration::from_secs(2);
    let sa = SharedSink::default();
    let io = |hz: f32, sink: &SharedSink| MediaIo {
        audio_in: Box::new(ToneSource::new(hz, 0.3)),
        audio_out: Box::new(sink.clone()),
        video_in: None,
        video_out: Box::new(NullVideoSink),
    };
    let room = CallTarget::Room("watchdog".into());
    let (a, mut ea) = Call::start(cfg_a, room.clone(), io(440.0, &sa)).expect("a");
    let (b, mut eb) =
        Call::start(relay.config(), room, io(660.0, &SharedSink::default())).expect("b");
    for e in [&mut ea, &mut eb] {
        wait_event(e, WAIT, "keys", |e| matches!(e, Event::Verification { .. })).await;
    }
    // Only A's downlink goes dark: A keeps sending (so the relay keeps it), hears nothing.
    dark_downlink_until_rejoined(&proxy, &mut ea).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let heard = tone_power(&sa.tail(24_000), 660.0);
    let (da, db) = (drain(ea), drain(eb));
    a.hang_up().unwrap();
    b.hang_up().unwrap();
    a.wait().await;
    b.wait().await;
    let _ = (da.await, db.await);
    assert!(heard > HEARD, "B heard again after the rejoin: {heard:e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_call_survives_a_dropped_connection_and_rejoins() {
    let _serial = wzp_e2e::serial();
    // The caller's path goes dark long enough for its watchdog to give the connection
    // up; it reconnects and goes straight back into the call, which the relay kept.
    let relay = TestRelay::start("direct-rejoin").await;
    let proxy = proxy_to(&relay, 11).await;
    let callee_cfg = relay.config();
    let callee_fp = callee_cfg.identity.fingerprint();
    let mut listener = wzp_engine::Listener::connect(callee_cfg)
        .await
        .expect("listener");
    let mut cfg_a = relay.config_via(proxy.local_addr());
    cfg_a.media_timeout = Duration::from_secs(2);
    let (sa, sb) = (SharedSink::default(), SharedSink::default());
    let io = |hz: f32, sink: &SharedSink| MediaIo {
        audio_in: Box::new(ToneSource::new(hz, 0.3)),
        audio_out: Box::new(sink.clone()),
        video_in: None,
        video_out: Box::new(NullVideoSink),
    };
    let (a, mut ea) = Call::start(cfg_a, CallTarget::Direct(callee_fp), io(440.0, &sa)).expect("a");
    let offer = tokio::time::timeout(WAIT, listener.next_call())
        .await
        .expect("offer in time")
        .expect("offer");
    let (b, mut eb) = listener.accept(&offer, io(660.0, &sb));
    for e in [&mut ea, &mut eb] {
        wait_event(e, WAIT, "keys", |e| matches!(e, Event::Verification { .. })).await;
    }
    // A's downlink goes dark: A hears nothing, gives the connection up and reconnects.
    dark_downlink_until_rejoined(&proxy, &mut ea).await;
    wait_event(&mut eb, WAIT, "keys again at b", |e| {
        matches!(e, Event::Verification { .. })
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let a_hears = tone_power(&sa.tail(24_000), 660.0);
    let b_hears = tone_power(&sb.tail(24_000), 440.0);
    // The relay moved the call to A's new connection: B's hang-up reaches A.
    let da = drain(ea);
    b.hang_up().unwrap();
    assert_eq!(
        tokio::time::timeout(WAIT, a.wait()).await.expect("a ends"),
        EndReason::RemoteHangup
    );
    b.wait().await;
    let _ = (da.await, eb);
    assert!(a_hears > HEARD, "A hears B after the rejoin: {a_hears:e}");
    assert!(b_hears > HEARD, "B hears A after the rejoin: {b_hears:e}");
}
