//! Probing a relay before using it: is it up, how far away is it, which key does it
//! present. The app's relay list and `wzp ping` show this, so a user can pick a near
//! relay and see a changed key before any call goes through it.
//!
//! A probe is a real connection (the same handshake and trust rules as a call) and a few
//! signal-stream `ping`s answered by the relay's `pong`. It sends no identity: a relay
//! learns only that someone at this address looked.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use wzp_proto::{CloseCode, SignalMessage};

use crate::client::RelayClient;
use crate::endpoint::TransportParams;
use crate::error::{Result, TransportError};
use crate::tls::{RelayFingerprint, Trust};

/// How many pings a probe sends (one at a time); the median round trip is reported.
pub const PINGS: usize = 3;

/// What a probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeReport {
    /// The key the relay presented (it passed `trust`).
    pub relay: RelayFingerprint,
    /// Time to connect: the QUIC + TLS handshake, about one round trip plus the relay's
    /// work.
    pub handshake: Duration,
    /// Median round trip of a signal ping through the relay's own event loop: what a
    /// call's signalling will see, including any queueing in a loaded relay.
    pub rtt: Duration,
}

/// Connects to `addr` under `trust`, pings [`PINGS`] times and closes. Each step waits at
/// most `wait`.
///
/// Errors are those of a call's connect: [`TransportError::RelayKeyChanged`] when a
/// pinned relay presents another key, a connection error when the relay refuses, and
/// [`TransportError::NoAnswer`] when the handshake or a pong does not come in time.
pub async fn probe(
    endpoint: &quinn::Endpoint,
    addr: SocketAddr,
    server_name: &str,
    trust: &Trust,
    params: &TransportParams,
    wait: Duration,
) -> Result<ProbeReport> {
    let start = Instant::now();
    let connect = RelayClient::connect(endpoint, addr, server_name, trust, params);
    let mut client =
        tokio::time::timeout(wait, connect)
            .await
            .map_err(|_| TransportError::NoAnswer {
                what: "handshake",
                wait,
            })??;
    let handshake = start.elapsed();
    let result = ping_rounds(&mut client, wait).await;
    client
        .conn
        .close(CloseCode::Normal as u32, "probe finished");
    let mut rtts = result?;
    rtts.sort_unstable();
    Ok(ProbeReport {
        relay: client.relay,
        handshake,
        rtt: rtts[rtts.len() / 2],
    })
}

/// [`PINGS`] ping/pong round trips, one after the other; other signals are skipped.
async fn ping_rounds(client: &mut RelayClient, wait: Duration) -> Result<[Duration; PINGS]> {
    let mut rtts = [Duration::ZERO; PINGS];
    for (i, rtt) in rtts.iter_mut().enumerate() {
        let ts_ms = i as u64 + 1;
        let sent = Instant::now();
        client.send(&SignalMessage::Ping { ts_ms }).await?;
        loop {
            let left = wait.saturating_sub(sent.elapsed());
            match client.next_signal(left).await? {
                Some(SignalMessage::Pong { ts_ms: t }) if t == ts_ms => break,
                Some(SignalMessage::Error { code, message }) => {
                    return Err(TransportError::Refused { code, message });
                }
                Some(_) => {}
                None => return Err(TransportError::NoAnswer { what: "pong", wait }),
            }
        }
        *rtt = sent.elapsed();
    }
    Ok(rtts)
}
