//! The thin tokio shell: a UDP proxy that runs every packet through two [`Link`]s.
//!
//! One task owns everything (the client-facing socket, the flows, both links) and
//! loops: release what is due, sleep until the next packet arrives, a command comes,
//! or the links' next timeout. Upstream sockets each get a small reader task that
//! forwards what the relay sends into that loop.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::error::{NetsimError, Result};
use crate::impairment::Impairment;
use crate::link::{Link, LinkStats, Packet};

/// The most flows (client source addresses) a proxy keeps; a new address beyond that
/// replaces nothing and its packets are dropped, so a runaway test cannot exhaust ports.
pub const MAX_FLOWS: usize = 256;

/// Largest UDP payload read.
const RECV_BUF: usize = 65_536;

/// Counters of a running proxy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Client to upstream.
    pub uplink: LinkStats,
    /// Upstream to client.
    pub downlink: LinkStats,
    /// Flows (client source addresses) seen so far.
    pub flows: usize,
    /// Times [`ProxyHandle::rebind_flows`] moved the flows to fresh sockets.
    pub rebinds: u64,
    /// Packets the links released but the socket refused to send (or whose flow was
    /// gone, or that exceeded [`MAX_FLOWS`]).
    pub send_errors: u64,
}

/// One flow: a client source address and the upstream socket standing in for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowInfo {
    /// The client's address as the proxy sees it.
    pub client: SocketAddr,
    /// The address the upstream (relay) sees for this client now.
    pub upstream_local: SocketAddr,
}

/// Namespace of [`Proxy::start`]; the running proxy is controlled with [`ProxyHandle`].
#[derive(Debug)]
pub enum Proxy {}

enum Command {
    SetUplink(Impairment),
    SetDownlink(Impairment),
    SetOutage(bool),
    Rebind(oneshot::Sender<Result<usize>>),
    Flows(oneshot::Sender<Vec<FlowInfo>>),
    Shutdown,
}

/// Controls a running [`Proxy`]. Dropping it stops the proxy too.
#[derive(Debug)]
pub struct ProxyHandle {
    local: SocketAddr,
    upstream: SocketAddr,
    commands: mpsc::UnboundedSender<Command>,
    stats: Arc<Mutex<ProxyStats>>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Command::SetUplink(_) => "SetUplink",
            Command::SetDownlink(_) => "SetDownlink",
            Command::SetOutage(_) => "SetOutage",
            Command::Rebind(_) => "Rebind",
            Command::Flows(_) => "Flows",
            Command::Shutdown => "Shutdown",
        })
    }
}

impl Proxy {
    /// Binds `listen` (use `127.0.0.1:0`) and forwards what clients send there to
    /// `upstream`, and the replies back, through `uplink` and `downlink`. Each client
    /// source address gets its own upstream socket (a flow, like a NAT mapping), so a
    /// migrating client looks like a migrating client to the relay. The two links are
    /// seeded from `seed` (different streams for each direction), so a run with the
    /// same seed and traffic makes the same random choices.
    pub async fn start(
        listen: SocketAddr,
        upstream: SocketAddr,
        uplink: Impairment,
        downlink: Impairment,
        seed: u64,
    ) -> Result<ProxyHandle> {
        let now = Instant::now();
        let up = Link::new(uplink, derive_seed(seed, 1), now)?;
        let down = Link::new(downlink, derive_seed(seed, 2), now)?;
        let (socket, sender) = bind_pair(listen, None)?;
        let local = sender.local_addr().map_err(|source| NetsimError::Io {
            context: "proxy socket address".into(),
            source,
        })?;
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (down_tx, down_rx) = mpsc::channel(4096);
        let stats = Arc::new(Mutex::new(ProxyStats::default()));
        let state = State {
            socket,
            sender,
            upstream,
            up,
            down,
            flows: HashMap::new(),
            by_client: HashMap::new(),
            next_flow: 0,
            down_tx,
            rebinds: 0,
            send_errors: 0,
            stats: stats.clone(),
        };
        let task = tokio::spawn(state.run(command_rx, down_rx));
        tracing::debug!(%local, %upstream, "netsim proxy started");
        Ok(ProxyHandle {
            local,
            upstream,
            commands,
            stats,
            task,
        })
    }
}

impl ProxyHandle {
    /// The address clients send to instead of the upstream.
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The address everything is forwarded to.
    #[must_use]
    pub fn upstream(&self) -> SocketAddr {
        self.upstream
    }

    fn send(&self, c: Command) -> Result<()> {
        self.commands.send(c).map_err(|_| NetsimError::Stopped)
    }

    /// Replaces the client-to-upstream impairment (validated here; scheduled outages
    /// count from now).
    pub fn set_uplink(&self, impairment: Impairment) -> Result<()> {
        impairment.validate()?;
        self.send(Command::SetUplink(impairment))
    }

    /// Replaces the upstream-to-client impairment (validated here; scheduled outages
    /// count from now).
    pub fn set_downlink(&self, impairment: Impairment) -> Result<()> {
        impairment.validate()?;
        self.send(Command::SetDownlink(impairment))
    }

    /// Starts or ends a manual outage in both directions.
    pub fn set_outage(&self, on: bool) -> Result<()> {
        self.send(Command::SetOutage(on))
    }

    /// Counters as of the proxy loop's last turn.
    #[must_use]
    pub fn stats(&self) -> ProxyStats {
        *self
            .stats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Moves every flow to a fresh upstream socket, so the relay sees each client
    /// come from a new address (a NAT rebinding or a network change, for migration
    /// tests). Packets the relay sends to the old addresses are lost, as they would be.
    /// Returns how many flows moved.
    pub async fn rebind_flows(&self) -> Result<usize> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Rebind(tx))?;
        rx.await.map_err(|_| NetsimError::Stopped)?
    }

    /// The flows and the addresses the relay sees for them.
    pub async fn flows(&self) -> Result<Vec<FlowInfo>> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Flows(tx))?;
        rx.await.map_err(|_| NetsimError::Stopped)
    }

    /// Stops the proxy, waits for it, and returns the final counters. Packets still in
    /// flight are discarded.
    pub async fn shutdown(mut self) -> ProxyStats {
        let _ = self.commands.send(Command::Shutdown);
        if let Err(e) = (&mut self.task).await {
            tracing::warn!(error = %e, "netsim proxy task ended abnormally");
        }
        self.stats()
    }
}

impl Drop for ProxyHandle {
    fn drop(&mut self) {
        // Closing the command channel ends the loop; abort is for a loop stuck elsewhere.
        self.task.abort();
    }
}

/// Splits one user seed into independent streams (SplitMix64 finaliser).
fn derive_seed(seed: u64, stream: u64) -> u64 {
    let mut z = seed ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

struct Flow {
    client: SocketAddr,
    /// Sending side of the upstream socket (its reader task holds the receiving side).
    socket: std::net::UdpSocket,
    reader: JoinHandle<()>,
}

impl Drop for Flow {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

struct State {
    /// Receiving side of the client-facing socket.
    socket: UdpSocket,
    /// Sending side of the same socket.
    sender: std::net::UdpSocket,
    upstream: SocketAddr,
    up: Link,
    down: Link,
    flows: HashMap<u64, Flow>,
    by_client: HashMap<SocketAddr, u64>,
    next_flow: u64,
    down_tx: mpsc::Sender<(u64, Bytes)>,
    rebinds: u64,
    send_errors: u64,
    stats: Arc<Mutex<ProxyStats>>,
}

impl State {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut from_upstream: mpsc::Receiver<(u64, Bytes)>,
    ) {
        let mut buf = vec![0u8; RECV_BUF];
        loop {
            self.flush(Instant::now());
            self.publish();
            let due = match (self.up.poll_timeout(), self.down.poll_timeout()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let sleep = async {
                match due {
                    Some(t) => tokio::time::sleep_until(t.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                cmd = commands.recv() => match cmd {
                    None | Some(Command::Shutdown) => break,
                    Some(cmd) => self.command(cmd).await,
                },
                r = self.socket.recv_from(&mut buf) => match r {
                    Ok((n, from)) => {
                        let data = Bytes::copy_from_slice(&buf[..n]);
                        self.handle_client_packet(from, data).await;
                    }
                    Err(e) => tracing::debug!(error = %e, "netsim proxy recv failed"),
                },
                Some((flow, data)) = from_upstream.recv() => {
                    self.down.handle_packet(Instant::now(), Packet::tagged(data, flow));
                }
                () = sleep => {}
            }
        }
        self.publish();
        tracing::debug!("netsim proxy stopped");
    }

    async fn command(&mut self, cmd: Command) {
        let now = Instant::now();
        match cmd {
            Command::SetUplink(imp) => {
                if let Err(e) = self.up.set_impairment(now, imp) {
                    tracing::warn!(error = %e, "netsim uplink impairment refused");
                }
            }
            Command::SetDownlink(imp) => {
                if let Err(e) = self.down.set_impairment(now, imp) {
                    tracing::warn!(error = %e, "netsim downlink impairment refused");
                }
            }
            Command::SetOutage(on) => {
                tracing::debug!(on, "netsim outage");
                self.up.set_outage(on);
                self.down.set_outage(on);
            }
            Command::Rebind(reply) => {
                let _ = reply.send(self.rebind().await);
            }
            Command::Flows(reply) => {
                let mut v: Vec<FlowInfo> = self
                    .flows
                    .values()
                    .filter_map(|f| {
                        Some(FlowInfo {
                            client: f.client,
                            upstream_local: f.socket.local_addr().ok()?,
                        })
                    })
                    .collect();
                v.sort_by_key(|f| f.client);
                let _ = reply.send(v);
            }
            Command::Shutdown => {}
        }
    }

    async fn handle_client_packet(&mut self, from: SocketAddr, data: Bytes) {
        let flow = match self.by_client.get(&from) {
            Some(&id) => id,
            None => {
                if self.flows.len() >= MAX_FLOWS {
                    tracing::warn!(%from, "netsim proxy: too many flows, dropping packet");
                    self.send_errors += 1;
                    return;
                }
                let id = self.next_flow;
                match self.open_flow(id) {
                    Ok((socket, reader)) => {
                        self.next_flow += 1;
                        tracing::debug!(client = %from, upstream_local = ?socket.local_addr().ok(), "netsim flow opened");
                        self.flows.insert(
                            id,
                            Flow {
                                client: from,
                                socket,
                                reader,
                            },
                        );
                        self.by_client.insert(from, id);
                        id
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "netsim proxy could not open a flow");
                        self.send_errors += 1;
                        return;
                    }
                }
            }
        };
        self.up
            .handle_packet(Instant::now(), Packet::tagged(data, flow));
    }

    /// A fresh socket connected to the upstream, and the task reading it.
    fn open_flow(&self, id: u64) -> Result<(std::net::UdpSocket, JoinHandle<()>)> {
        let bind: SocketAddr = if self.upstream.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let (recv, send) = bind_pair(bind, Some(self.upstream))?;
        let reader = tokio::spawn(read_upstream(recv, id, self.down_tx.clone()));
        Ok((send, reader))
    }

    async fn rebind(&mut self) -> Result<usize> {
        let ids: Vec<u64> = self.flows.keys().copied().collect();
        for id in &ids {
            let (socket, reader) = self.open_flow(*id)?;
            if let Some(flow) = self.flows.get_mut(id) {
                tracing::debug!(client = %flow.client, upstream_local = ?socket.local_addr().ok(), "netsim flow rebound");
                flow.reader.abort();
                flow.socket = socket;
                flow.reader = reader;
            }
        }
        self.rebinds += 1;
        Ok(ids.len())
    }

    /// Sends everything the links release by `now`.
    fn flush(&mut self, now: Instant) {
        while let Some(p) = self.up.poll_transmit(now) {
            let sent = match self.flows.get(&p.tag) {
                Some(f) => f.socket.send(&p.data).map(|_| ()),
                None => Err(std::io::ErrorKind::NotFound.into()),
            };
            if let Err(e) = sent {
                tracing::trace!(error = %e, "netsim uplink send failed");
                self.send_errors += 1;
            }
        }
        while let Some(p) = self.down.poll_transmit(now) {
            let sent = match self.flows.get(&p.tag) {
                Some(f) => self.sender.send_to(&p.data, f.client).map(|_| ()),
                None => Err(std::io::ErrorKind::NotFound.into()),
            };
            if let Err(e) = sent {
                tracing::trace!(error = %e, "netsim downlink send failed");
                self.send_errors += 1;
            }
        }
    }

    fn publish(&self) {
        let mut s = self
            .stats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *s = ProxyStats {
            uplink: self.up.stats(),
            downlink: self.down.stats(),
            flows: self.flows.len(),
            rebinds: self.rebinds,
            send_errors: self.send_errors,
        };
    }
}

async fn read_upstream(socket: UdpSocket, flow: u64, to_loop: mpsc::Sender<(u64, Bytes)>) {
    let mut buf = vec![0u8; RECV_BUF];
    loop {
        match socket.recv(&mut buf).await {
            Ok(n) => {
                if to_loop
                    .send((flow, Bytes::copy_from_slice(&buf[..n])))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            // A connected UDP socket reports ICMP errors (upstream not listening yet):
            // not fatal, keep reading.
            Err(e) => tracing::trace!(error = %e, "netsim upstream recv failed"),
        }
    }
}

/// A non-blocking UDP socket bound to `bind` (and connected to `peer`), as a tokio socket
/// for receiving and a std clone of it for sending. Sending straight through the std
/// socket never waits on tokio's readiness tracking, which on a fresh socket would
/// report `WouldBlock` for the first packet (the QUIC Initial) until the reactor has
/// seen it writable; a full kernel buffer still drops the packet, as a router would.
fn bind_pair(
    bind: SocketAddr,
    peer: Option<SocketAddr>,
) -> Result<(UdpSocket, std::net::UdpSocket)> {
    let io = |context: String| move |source| NetsimError::Io { context, source };
    let std = std::net::UdpSocket::bind(bind).map_err(io(format!("binding UDP socket {bind}")))?;
    if let Some(peer) = peer {
        std.connect(peer)
            .map_err(io(format!("connecting UDP socket to {peer}")))?;
    }
    std.set_nonblocking(true)
        .map_err(io("making UDP socket non-blocking".into()))?;
    let sender = std.try_clone().map_err(io("cloning UDP socket".into()))?;
    let tokio = UdpSocket::from_std(std).map_err(io("registering UDP socket".into()))?;
    Ok((tokio, sender))
}
