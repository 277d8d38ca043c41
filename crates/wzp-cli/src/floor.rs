//! `wzp load --udp-floor`: what the kernel alone charges a sender for a load
//! shape, with no QUIC and no relay.
//!
//! One thread plays the relay: for each packet a participant would send, it
//! sends a plain 98-byte UDP datagram (the size of a forwarded audio datagram)
//! to each other member of the room, one `sendto` each, on the same schedule as
//! `wzp load`. A second process holds one socket per participant and reads them,
//! as the load tester's clients do. The sending thread's CPU time per packet is
//! the floor under the relay's CPU per forwarded datagram whenever each
//! forwarded datagram is its own UDP packet: on loopback the sender also pays
//! the receiving side's kernel delivery and wake-up. See docs/BENCHMARKS.md.

use std::io::BufRead as _;
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::CliError;
use crate::load::{send_offset, thread_cpu_seconds};

/// Bytes of each datagram: an 80-byte audio payload with its 16-byte header
/// and the relay's 2-byte sender prefix.
const DATAGRAM: usize = 98;
const PERIOD: Duration = Duration::from_millis(20);

fn io(what: &str) -> impl FnOnce(std::io::Error) -> CliError + '_ {
    move |source| CliError::Io {
        path: PathBuf::from(what),
        source,
    }
}

/// Runs the sending side and prints the sender's CPU per packet.
pub fn run(rooms: usize, participants: usize, warmup: u64, duration: u64) -> Result<(), CliError> {
    let total = rooms * participants;
    if total == 0 || participants < 2 {
        return Err(CliError::Usage(
            "--udp-floor needs at least one room of two participants".into(),
        ));
    }
    let exe = std::env::current_exe().map_err(io("current executable"))?;
    let mut sink = Command::new(exe)
        .args(["load", "--udp-floor-sink", &total.to_string()])
        .args(["--duration", &(warmup + duration + 2).to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(io("wzp load --udp-floor-sink"))?;
    let ports: Vec<SocketAddr> = {
        let out = sink
            .stdout
            .take()
            .ok_or_else(|| CliError::Usage("sink stdout unavailable".into()))?;
        let mut line = String::new();
        std::io::BufReader::new(out)
            .read_line(&mut line)
            .map_err(io("sink output"))?;
        line.split_whitespace()
            .filter_map(|p| p.parse::<u16>().ok())
            .map(|p| SocketAddr::from(([127, 0, 0, 1], p)))
            .collect()
    };
    if ports.len() != total {
        let _ = sink.kill();
        return Err(CliError::Usage(format!(
            "the sink opened {} sockets, not {total}",
            ports.len()
        )));
    }
    let socket = UdpSocket::bind("127.0.0.1:0").map_err(io("udp 127.0.0.1:0"))?;
    let datagram = [0xa5u8; DATAGRAM];
    let start = Instant::now() + Duration::from_millis(200);
    let warm_end = start + Duration::from_secs(warmup);
    let end = warm_end + Duration::from_secs(duration);
    // Senders in the order they send within a period.
    let mut order: Vec<(Duration, usize)> = (0..total)
        .map(|i| (send_offset(i, rooms, participants), i))
        .collect();
    order.sort_unstable();
    let mut cpu_start = None;
    let mut sent = 0u64;
    let mut errors = 0u64;
    'periods: for k in 0u32.. {
        for &(offset, i) in &order {
            let due = start + PERIOD * k + offset;
            if due >= end {
                break 'periods;
            }
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            if cpu_start.is_none() && due >= warm_end {
                cpu_start = thread_cpu_seconds();
            }
            let room = i / participants;
            for j in (room * participants..(room + 1) * participants).filter(|&j| j != i) {
                match socket.send_to(&datagram, ports[j]) {
                    Ok(_) if cpu_start.is_some() => sent += 1,
                    Ok(_) => {}
                    Err(_) => errors += 1,
                }
            }
        }
    }
    let cpu = thread_cpu_seconds()
        .zip(cpu_start)
        .map(|(end, start)| end - start);
    let _ = sink.kill();
    let _ = sink.wait();
    let per_sec = sent as f64 / duration.max(1) as f64;
    match cpu {
        Some(cpu) if sent > 0 => println!(
            "bare UDP, rooms {rooms} x {participants}: {per_sec:.0} packets/s, {errors} send errors, sender CPU {cpu:.2} s = {:.2} us per packet",
            cpu * 1e6 / sent as f64
        ),
        _ => println!("bare UDP: sender CPU unknown ({sent} packets in the window)"),
    }
    Ok(())
}

/// The receiving side: `n` sockets on loopback, their ports on one line of
/// stdout, then reads until `secs` pass.
pub fn sink(n: usize, secs: u64) -> Result<(), CliError> {
    let rt = crate::runtime()?;
    rt.block_on(async move {
        let mut sockets = Vec::with_capacity(n);
        for _ in 0..n {
            sockets.push(
                tokio::net::UdpSocket::bind("127.0.0.1:0")
                    .await
                    .map_err(io("udp 127.0.0.1:0"))?,
            );
        }
        let mut ports = Vec::with_capacity(n);
        for s in &sockets {
            ports.push(
                s.local_addr()
                    .map_err(io("udp socket address"))?
                    .port()
                    .to_string(),
            );
        }
        println!("{}", ports.join(" "));
        for s in sockets {
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                while s.recv(&mut buf).await.is_ok() {}
            });
        }
        tokio::time::sleep(Duration::from_secs(secs)).await;
        Ok(())
    })
}
