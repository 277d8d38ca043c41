//! `wzp load`: synthetic participants against a relay, measuring what the relay
//! delivers, how late, and at what CPU cost.
//!
//! Each participant is a real client connection that joins a room with a real
//! identity proof and sends media shaped like a call: audio at 50 packets/s
//! (about 80-byte payloads, senders staggered across the 20 ms period) and,
//! with `--video`, 30 frames/s in bursts of up-to-1,200-byte packets. Every
//! payload carries its send time, so receivers measure latency through the
//! relay. Only packets sent inside the measurement window (after warm-up) are
//! counted, and each is expected at every other member of its room.
//!
//! `--udp-floor` measures no relay: see [`crate::floor`].

use std::io::BufRead as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Args;
use rand_core::OsRng;
use serde::Serialize;
use tokio::sync::Mutex;
use wzp_crypto::Identity;
use wzp_proto::{CodecId, MediaHeader, RoomId, Seq, StreamId, TimestampMs, parse_forwarded};
use wzp_transport::{RelayClient, RelayFingerprint, TransportParams, Trust};

use crate::error::CliError;

/// Arguments of `wzp load`.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Relay to test (host:port). Omit with --spawn-relay.
    #[arg(long, required_unless_present_any = ["spawn_relay", "udp_floor", "udp_floor_sink"])]
    relay: Option<SocketAddr>,
    /// The relay's fingerprint (pinned). Without it, trust on first use.
    #[arg(long)]
    relay_fingerprint: Option<String>,
    /// The relay's process id, to read its CPU time and memory from /proc.
    #[arg(long)]
    relay_pid: Option<u32>,
    /// Start a relay (`wzp relay` on a free loopback port) for the test and measure it.
    #[arg(long)]
    spawn_relay: bool,
    /// Worker threads for the spawned relay (default: all CPUs).
    #[arg(long, requires = "spawn_relay")]
    relay_threads: Option<usize>,
    /// Batching window for the spawned relay (its --batch-ms).
    #[arg(long, default_value_t = 0, requires = "spawn_relay")]
    relay_batch_ms: u64,
    /// Number of rooms.
    #[arg(long, default_value_t = 1)]
    rooms: usize,
    /// Participants per room.
    #[arg(long, default_value_t = 10)]
    participants: usize,
    /// Send audio (on by default unless --video alone is given).
    #[arg(long)]
    audio: bool,
    /// Send video.
    #[arg(long)]
    video: bool,
    /// Audio payload bytes per packet.
    #[arg(long, default_value_t = 80)]
    audio_bytes: usize,
    /// Video bitrate per sender in kbps (30 fps, split into packets of at most 1,200 bytes).
    #[arg(long, default_value_t = 600)]
    video_kbps: u32,
    /// Seconds of warm-up before measuring.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Seconds to measure.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Seconds between leaving and rejoining for one participant per room (0 = no churn).
    #[arg(long, default_value_t = 0)]
    churn_secs: u64,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    /// Measure no relay: send the load shape as bare UDP, one packet per
    /// forwarded datagram, and print the sender's CPU per packet (the kernel's
    /// share of a relay's cost).
    #[arg(long, conflicts_with_all = ["relay", "spawn_relay"])]
    udp_floor: bool,
    /// Internal: the receiving process of --udp-floor, with this many sockets.
    #[arg(long, hide = true)]
    udp_floor_sink: Option<usize>,
}

/// Runs `wzp load` in the mode its arguments ask for.
pub fn main(args: LoadArgs) -> Result<(), CliError> {
    if let Some(n) = args.udp_floor_sink {
        return crate::floor::sink(n, args.duration);
    }
    if args.udp_floor {
        return crate::floor::run(args.rooms, args.participants, args.warmup, args.duration);
    }
    crate::runtime()?.block_on(run(args))
}

/// When sender `i` sends within each 20 ms period.
///
/// Senders are spread evenly over the period, and the members of one room
/// evenly among them (member k of every room, then member k + 1), as
/// independent clients' phases would be: adjacent slots in one room would let
/// a relay pack a receiver's datagrams into one packet more often than real
/// rooms allow.
pub(crate) fn send_offset(i: usize, rooms: usize, participants: usize) -> Duration {
    let total = (rooms * participants).max(1) as u64;
    let slot = (i % participants.max(1)) * rooms + i / participants.max(1);
    Duration::from_micros(slot as u64 * 20_000 / total)
}

/// Payload prefix: send time (ns since the test epoch), sender index, sequence.
const STAMP_LEN: usize = 8 + 4 + 4;
const VIDEO_MTU_PAYLOAD: usize = 1200 - 16 - 2;

#[derive(Debug, Default, Serialize)]
struct Report {
    rooms: usize,
    participants_per_room: usize,
    audio: bool,
    video: bool,
    seconds: f64,
    sent_packets: u64,
    expected_deliveries: u64,
    delivered: u64,
    delivery_pct: f64,
    forwarded_per_sec: f64,
    latency_us_p50: u64,
    latency_us_p99: u64,
    latency_us_max: u64,
    relay_cpu_seconds: Option<f64>,
    relay_cpu_us_per_forwarded_packet: Option<f64>,
    relay_rss_kib_start: Option<u64>,
    relay_rss_kib_end: Option<u64>,
    /// Packets the kernel dropped on the relay's full socket in the window.
    relay_udp_drops: Option<u64>,
    /// Packets the kernel dropped on the tester's own full sockets in the
    /// window: loss that is the tester's, not the relay's.
    tester_udp_drops: Option<u64>,
}

struct Shared {
    epoch: Instant,
    window: (u64, u64),
    sent_in_window: Vec<AtomicU64>,
    latencies: Mutex<Vec<u32>>,
    delivered: AtomicU64,
}

/// utime+stime, in seconds, from a /proc `stat` file.
fn stat_cpu_seconds(path: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(path).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // Clock ticks are 100 per second on Linux.
    Some((utime + stime) / 100.0)
}

/// CPU seconds the calling thread has used.
pub(crate) fn thread_cpu_seconds() -> Option<f64> {
    stat_cpu_seconds("/proc/thread-self/stat")
}

/// Reads utime+stime (in seconds) and RSS (KiB) of a process from /proc.
fn proc_usage(pid: u32) -> Option<(f64, u64)> {
    let cpu = stat_cpu_seconds(&format!("/proc/{pid}/stat"))?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())?;
    Some((cpu, rss))
}

struct SpawnedRelay {
    child: Child,
    addr: SocketAddr,
    fingerprint: RelayFingerprint,
}

impl Drop for SpawnedRelay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_relay(
    limit_pps: usize,
    relay_threads: Option<usize>,
    batch_ms: u64,
) -> Result<SpawnedRelay, CliError> {
    let exe = std::env::current_exe().map_err(|source| CliError::Io {
        path: PathBuf::from("current executable"),
        source,
    })?;
    let dir = std::env::temp_dir().join(format!("wzp-load-relay-{}", std::process::id()));
    let mut child = Command::new(exe)
        .args([
            "relay",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "off",
            "--max-sessions",
            "100000",
        ])
        .args([
            "--max-participants",
            "1000",
            "--max-packets-per-sec",
            &limit_pps.to_string(),
        ])
        .args(["--max-bytes-per-sec", "100000000"])
        .args(relay_threads.map(|t| format!("--threads={t}")))
        .arg(format!("--batch-ms={batch_ms}"))
        .arg("--identity-file")
        .arg(dir.join("relay.key"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|source| CliError::Io {
            path: PathBuf::from("wzp relay"),
            source,
        })?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| CliError::Usage("relay stdout unavailable".into()))?;
    let mut lines = std::io::BufReader::new(stdout).lines();
    let mut addr = None;
    let mut fp = None;
    while addr.is_none() || fp.is_none() {
        let Some(Ok(line)) = lines.next() else {
            let _ = child.kill();
            return Err(CliError::Usage(
                "spawned relay exited before it was ready".into(),
            ));
        };
        if let Some(a) = line.strip_prefix("wzp relay listening on ") {
            addr = a.split_whitespace().next().and_then(|a| a.parse().ok());
        } else if let Some(f) = line.strip_prefix("relay fingerprint: ") {
            fp = RelayFingerprint::parse(f).ok();
        }
    }
    // Keep reading what the relay prints, so its stdout never fills or breaks.
    std::thread::spawn(move || for _ in lines.by_ref() {});
    match (addr, fp) {
        (Some(addr), Some(fingerprint)) => Ok(SpawnedRelay {
            child,
            addr,
            fingerprint,
        }),
        _ => Err(CliError::Usage(
            "could not read the spawned relay's address".into(),
        )),
    }
}

fn packet(media: CodecId, seq: u32, epoch: Instant, sender: u32, len: usize) -> Bytes {
    let h = MediaHeader::new(
        media,
        StreamId(0),
        Seq(seq),
        TimestampMs(epoch.elapsed().as_millis() as u32),
    );
    let mut v = Vec::with_capacity(16 + len.max(STAMP_LEN));
    v.extend_from_slice(&h.encode());
    let ns = epoch.elapsed().as_nanos() as u64;
    v.extend_from_slice(&ns.to_be_bytes());
    v.extend_from_slice(&sender.to_be_bytes());
    v.extend_from_slice(&seq.to_be_bytes());
    v.resize(16 + len.max(STAMP_LEN), 0xa5);
    Bytes::from(v)
}

/// Runs the load test.
pub async fn run(args: LoadArgs) -> Result<(), CliError> {
    let audio = args.audio || !args.video;
    let per_sender_pps = if audio { 50 } else { 0 }
        + if args.video {
            let frame_bytes = (args.video_kbps as usize * 1000 / 8) / 30;
            30 * frame_bytes.div_ceil(VIDEO_MTU_PAYLOAD)
        } else {
            0
        };
    let spawned = if args.spawn_relay {
        Some(spawn_relay(
            (per_sender_pps * 4).max(1000),
            args.relay_threads,
            args.relay_batch_ms,
        )?)
    } else {
        None
    };
    let (addr, trust, pid) = match (&spawned, args.relay) {
        (Some(s), _) => (s.addr, Trust::Pinned(s.fingerprint), Some(s.child.id())),
        (None, Some(a)) => {
            let trust = match &args.relay_fingerprint {
                Some(f) => Trust::Pinned(RelayFingerprint::parse(f)?),
                None => Trust::FirstUse,
            };
            (a, trust, args.relay_pid)
        }
        (None, None) => return Err(CliError::Usage("give --relay ADDR or --spawn-relay".into())),
    };
    let total = args.rooms * args.participants;
    let params = TransportParams::default();
    let mut clients = Vec::with_capacity(total);
    let mut endpoints = Vec::with_capacity(total);
    for i in 0..total {
        let room = RoomId::from_name(&format!("load-room-{}", i / args.participants));
        // Each participant has its own socket, as real clients on their own
        // machines do: one shared socket would make the tester's single receive
        // queue the bottleneck (it overflowed at 1,200 streams and its losses
        // read as the relay's).
        let endpoint = wzp_transport::client_endpoint(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let mut c = RelayClient::connect(&endpoint, addr, "localhost", &trust, &params).await?;
        endpoints.push(endpoint);
        let id = Identity::generate(&mut OsRng);
        c.join(&id, room, None, Duration::from_secs(10)).await?;
        clients.push((c, id, room));
    }
    // The clock starts once everyone is in, so warm-up is traffic, not set-up.
    let warm_end = Duration::from_secs(args.warmup);
    let measure_end = warm_end + Duration::from_secs(args.duration);
    let shared = Arc::new(Shared {
        epoch: Instant::now(),
        window: (warm_end.as_nanos() as u64, measure_end.as_nanos() as u64),
        sent_in_window: (0..total).map(|_| AtomicU64::new(0)).collect(),
        latencies: Mutex::new(Vec::new()),
        delivered: AtomicU64::new(0),
    });
    let stop_at = shared.epoch + measure_end + Duration::from_millis(500);
    let send_until = shared.epoch + measure_end;
    let video_pkts = if args.video {
        ((args.video_kbps as usize * 1000 / 8) / 30)
            .div_ceil(VIDEO_MTU_PAYLOAD)
            .max(1)
    } else {
        0
    };
    let video_len = ((args.video_kbps as usize * 1000 / 8) / 30)
        .checked_div(video_pkts)
        .map_or(0, |l| l.clamp(STAMP_LEN, VIDEO_MTU_PAYLOAD));
    let mut tasks = Vec::new();
    for (i, (client, id, room)) in clients.into_iter().enumerate() {
        let conn = client.conn.clone();
        let sh = shared.clone();
        let offset = send_offset(i, args.rooms, args.participants);
        let mut streams = Vec::new();
        if audio {
            streams.push((
                CodecId::Opus24k,
                Duration::from_millis(20),
                1,
                args.audio_bytes,
            ));
        }
        if args.video {
            streams.push((
                CodecId::H264Baseline,
                Duration::from_micros(33_333),
                video_pkts,
                video_len,
            ));
        }
        for (codec, period, burst, len) in streams {
            let send_conn = conn.clone();
            let send_sh = sh.clone();
            tasks.push(tokio::spawn(async move {
                let start = tokio::time::Instant::from_std(send_sh.epoch + offset);
                let mut tick = tokio::time::interval_at(start, period);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                let mut seq = 0u32;
                loop {
                    tick.tick().await;
                    if Instant::now() >= send_until {
                        break;
                    }
                    for _ in 0..burst {
                        let p = packet(codec, seq, send_sh.epoch, i as u32, len);
                        seq = seq.wrapping_add(1);
                        let ns = u64::from_be_bytes(p[16..24].try_into().unwrap_or([0; 8]));
                        if send_conn.send_media(p).is_ok()
                            && ns >= send_sh.window.0
                            && ns < send_sh.window.1
                        {
                            send_sh.sent_in_window[i].fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }));
        }
        // Receiver.
        let recv_sh = sh.clone();
        tasks.push(tokio::spawn(async move {
            let mut local = Vec::new();
            let mut delivered = 0u64;
            loop {
                let left = stop_at.saturating_duration_since(Instant::now());
                let Ok(Ok(d)) = tokio::time::timeout(left, conn.recv_media()).await else {
                    break;
                };
                let Ok((_, inner)) = parse_forwarded(&d) else {
                    continue;
                };
                if inner.len() < 16 + STAMP_LEN {
                    continue;
                }
                let ns = u64::from_be_bytes(inner[16..24].try_into().unwrap_or([0; 8]));
                if ns >= recv_sh.window.0 && ns < recv_sh.window.1 {
                    delivered += 1;
                    let now_ns = recv_sh.epoch.elapsed().as_nanos() as u64;
                    local.push((now_ns.saturating_sub(ns) / 1000) as u32);
                }
            }
            recv_sh.delivered.fetch_add(delivered, Ordering::Relaxed);
            recv_sh.latencies.lock().await.extend(local);
        }));
        // Churn: one member per room leaves and rejoins periodically.
        if args.churn_secs > 0 && i % args.participants == 0 {
            tasks.push(tokio::spawn(drain_signals_until(
                client.signals_in,
                stop_at,
            )));
            let mut client = ChurnClient {
                conn: client.conn,
                signals_out: client.signals_out,
            };
            let churn = Duration::from_secs(args.churn_secs);
            tasks.push(tokio::spawn(async move {
                let mut joined = true;
                while Instant::now() + churn < stop_at {
                    tokio::time::sleep(churn).await;
                    let msg = if joined {
                        wzp_proto::SignalMessage::Hangup {
                            call_id: None,
                            reason: wzp_proto::HangupReason::Normal,
                        }
                    } else {
                        match wzp_transport::client::hello(&client.conn, &id, room, None, None) {
                            Ok(h) => h,
                            Err(_) => break,
                        }
                    };
                    if client.signals_out.send(&msg).await.is_err() {
                        break;
                    }
                    joined = !joined;
                }
            }));
        } else {
            // Keep the signal stream open and read it (room updates), as a real client does.
            tasks.push(tokio::spawn(drain_signals_until(
                client.signals_in,
                stop_at,
            )));
            tasks.push(tokio::spawn(async move {
                let _keep = client.signals_out;
                tokio::time::sleep_until(tokio::time::Instant::from_std(stop_at)).await;
            }));
        }
    }
    // Measure the relay across the window, and whose sockets overflowed.
    let tester_ports: Vec<u16> = endpoints
        .iter()
        .filter_map(|e| e.local_addr().ok())
        .map(|a| a.port())
        .collect();
    let socket_drops = || {
        (
            pid.and_then(|p| wzp_transport::udp_receive_drops(Some(p), &[addr.port()])),
            wzp_transport::udp_receive_drops(None, &tester_ports),
        )
    };
    tokio::time::sleep_until(tokio::time::Instant::from_std(shared.epoch + warm_end)).await;
    let before = pid.and_then(proc_usage);
    let drops_before = socket_drops();
    tokio::time::sleep_until(tokio::time::Instant::from_std(shared.epoch + measure_end)).await;
    let after = pid.and_then(proc_usage);
    let drops_after = socket_drops();
    let delta = |a: Option<u64>, b: Option<u64>| Some(b?.saturating_sub(a?));
    for t in tasks {
        let _ = t.await;
    }
    let sent: u64 = shared
        .sent_in_window
        .iter()
        .map(|a| a.load(Ordering::Relaxed))
        .sum();
    let expected = sent * (args.participants as u64 - 1);
    let delivered = shared.delivered.load(Ordering::Relaxed);
    let mut lat = std::mem::take(&mut *shared.latencies.lock().await);
    lat.sort_unstable();
    let pct = |p: f64| -> u64 {
        if lat.is_empty() {
            0
        } else {
            u64::from(lat[((lat.len() - 1) as f64 * p) as usize])
        }
    };
    let cpu = match (before, after) {
        (Some(b), Some(a)) => Some(a.0 - b.0),
        _ => None,
    };
    let report = Report {
        rooms: args.rooms,
        participants_per_room: args.participants,
        audio,
        video: args.video,
        seconds: args.duration as f64,
        sent_packets: sent,
        expected_deliveries: expected,
        delivered,
        delivery_pct: if expected > 0 {
            100.0 * delivered as f64 / expected as f64
        } else {
            0.0
        },
        forwarded_per_sec: delivered as f64 / args.duration as f64,
        latency_us_p50: pct(0.50),
        latency_us_p99: pct(0.99),
        latency_us_max: lat.last().copied().map(u64::from).unwrap_or(0),
        relay_cpu_seconds: cpu,
        relay_cpu_us_per_forwarded_packet: cpu
            .filter(|_| delivered > 0)
            .map(|c| c * 1e6 / delivered as f64),
        relay_rss_kib_start: before.map(|b| b.1),
        relay_rss_kib_end: after.map(|a| a.1),
        relay_udp_drops: delta(drops_before.0, drops_after.0),
        tester_udp_drops: delta(drops_before.1, drops_after.1),
    };
    drop(spawned);
    print_report(&report, args.json)
}

/// The parts of a client the churn task needs.
struct ChurnClient {
    conn: wzp_transport::WzpConnection,
    signals_out: wzp_transport::SignalSender,
}

async fn drain_signals_until(mut rx: wzp_transport::SignalReceiver, stop_at: Instant) {
    let deadline = tokio::time::Instant::from_std(stop_at);
    while let Ok(Ok(Some(_))) = tokio::time::timeout_at(deadline, rx.recv()).await {}
}

fn print_report(r: &Report, json: bool) -> Result<(), CliError> {
    if json {
        println!("{}", serde_json::to_string_pretty(r)?);
        return Ok(());
    }
    println!(
        "rooms {} x {} participants, {}{} for {:.0} s",
        r.rooms,
        r.participants_per_room,
        if r.audio { "audio" } else { "" },
        if r.video { " video" } else { "" },
        r.seconds
    );
    println!(
        "sent {}  expected deliveries {}  delivered {} ({:.3}%)",
        r.sent_packets, r.expected_deliveries, r.delivered, r.delivery_pct
    );
    println!("forwarded {:.0} packets/s", r.forwarded_per_sec);
    println!(
        "latency through relay (client send -> client receive): p50 {} us  p99 {} us  max {} us",
        r.latency_us_p50, r.latency_us_p99, r.latency_us_max
    );
    match (r.relay_cpu_seconds, r.relay_cpu_us_per_forwarded_packet) {
        (Some(c), Some(per)) => println!("relay CPU {c:.2} s  = {per:.2} us per forwarded packet"),
        _ => println!("relay CPU: unknown (give --relay-pid or --spawn-relay)"),
    }
    if let (Some(a), Some(b)) = (r.relay_rss_kib_start, r.relay_rss_kib_end) {
        println!("relay RSS {a} KiB -> {b} KiB");
    }
    let known = |d: Option<u64>| d.map_or_else(|| "unknown".to_owned(), |d| d.to_string());
    println!(
        "packets dropped by the kernel on full sockets: relay {}, tester {}",
        known(r.relay_udp_drops),
        known(r.tester_udp_drops)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn senders_fill_the_period_and_room_members_are_spread_over_it() {
        let (rooms, participants) = (3, 4);
        let mut offsets: Vec<Duration> = (0..rooms * participants)
            .map(|i| send_offset(i, rooms, participants))
            .collect();
        // Members of room 1 (senders 4..8) are a quarter period apart.
        let room1: Vec<u128> = offsets[4..8].iter().map(Duration::as_micros).collect();
        assert_eq!(room1, [1_666, 6_666, 11_666, 16_666]);
        // Every sender has its own slot, evenly spread.
        offsets.sort_unstable();
        offsets.dedup();
        assert_eq!(offsets.len(), 12);
        assert!(offsets.iter().all(|o| *o < Duration::from_millis(20)));
        // One room: the plain stagger.
        assert_eq!(send_offset(3, 1, 10), Duration::from_millis(6));
    }
}
