//! The relay's I/O shell: quinn accept loop, one task per connection for its
//! signal stream and one for its media, and one task that owns [`RelayCore`].
//!
//! Media takes a short path that never touches the core: each connection's
//! media task reads a datagram, checks its rate and header, prefixes the
//! sender's participant id and hands the same bytes to every other member's
//! connection. Room membership reaches those tasks as an atomically swapped
//! list ([`arc_swap`]), so forwarding takes no lock.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use bytes::{BufMut, Bytes, BytesMut};
use tokio::sync::{mpsc, oneshot, watch};
use wzp_proto::{CloseCode, Datagram, Decoded, MediaType, ParticipantId, RoomId, SignalMessage};
use wzp_transport::{RelayFingerprint, RelayIdentity, TransportParams, WzpConnection};

use crate::config::{IdentitySource, Settings};
use crate::core::{Now, Output, RelayCore, SessionId};
use crate::error::Result;
use crate::metrics::Metrics;
use crate::outbox::{BatchClock, Outbox};
use crate::rate::{RateLimiter, RateLimits, Verdict};

/// Below this many free bytes in a receiver's datagram send buffer, video to it
/// is dropped so audio still gets through.
const VIDEO_LOW_WATER: usize = 256 * 1024;
/// Signals queued for one client before it counts as not reading.
const SIGNAL_QUEUE: usize = 512;
/// Time a client has to open its signal stream after connecting.
const SIGNAL_OPEN_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for queued signals to be acknowledged before a close.
const CLOSE_FLUSH: Duration = Duration::from_secs(1);

#[derive(Clone)]
struct RouteMember {
    pid: ParticipantId,
    out: Arc<Outbox>,
}

type Route = Arc<ArcSwap<Vec<RouteMember>>>;

#[derive(Clone)]
struct Joined {
    pid: ParticipantId,
    route: Route,
}

/// What a session's signal writer does next.
enum Outbound {
    Signal(SignalMessage),
    /// Deliver everything queued before this, then close the connection.
    Close(CloseCode, String),
}

struct SessionHandle {
    conn: WzpConnection,
    out: Arc<Outbox>,
    signals: mpsc::Sender<Outbound>,
    joined: watch::Sender<Option<Joined>>,
}

enum CoreIn {
    Connect {
        session: SessionId,
        exporter: [u8; 32],
        handle: SessionHandle,
    },
    Signal {
        session: SessionId,
        msg: SignalMessage,
    },
    Disconnect {
        session: SessionId,
    },
    Shutdown {
        done: oneshot::Sender<()>,
    },
}

fn now() -> Now {
    Now {
        mono: Instant::now(),
        unix_secs: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    }
}

/// A running relay.
pub struct RelayHandle {
    local_addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    fingerprint: RelayFingerprint,
    metrics: Arc<Metrics>,
    core_tx: mpsc::Sender<CoreIn>,
    endpoint: quinn::Endpoint,
    stop_metrics: Option<oneshot::Sender<()>>,
    tap: MediaTap,
}

/// A copy of every media datagram the relay receives, exactly as it arrived, for
/// tests that check the relay only ever sees ciphertext. Empty (one atomic load per
/// datagram) unless a test asks for it with [`RelayHandle::tap_media`].
type MediaTap = Arc<std::sync::OnceLock<mpsc::UnboundedSender<Bytes>>>;

impl RelayHandle {
    /// Where the relay listens for QUIC.
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Where /metrics is served, if enabled.
    #[must_use]
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The relay's certificate fingerprint, for clients to pin.
    #[must_use]
    pub fn fingerprint(&self) -> RelayFingerprint {
        self.fingerprint
    }

    /// The relay's metrics.
    #[must_use]
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Test hook: every media datagram received from now on, as received (before
    /// forwarding). Only one tap per relay; a second call returns `None`.
    pub fn tap_media(&self) -> Option<mpsc::UnboundedReceiver<Bytes>> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.tap.set(tx).ok()?;
        Some(rx)
    }

    /// Tells every client the relay is going away, closes their connections and
    /// waits (at most 3 s) for the goodbyes to be delivered.
    pub async fn shutdown(mut self) {
        let (done, wait) = oneshot::channel();
        if self.core_tx.send(CoreIn::Shutdown { done }).await.is_ok() {
            let _ = wait.await;
        }
        // Let the sessions' writers deliver their goodbyes and close.
        let deadline = Instant::now() + CLOSE_FLUSH;
        while self.metrics.sessions.get() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.endpoint.close(
            quinn::VarInt::from_u32(CloseCode::ShuttingDown as u32),
            b"relay is shutting down",
        );
        let _ = tokio::time::timeout(Duration::from_secs(3), self.endpoint.wait_idle()).await;
        if let Some(stop) = self.stop_metrics.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts a relay with `settings`.
pub async fn start(settings: Settings) -> Result<RelayHandle> {
    let identity = match &settings.identity {
        IdentitySource::KeyFile(path) => RelayIdentity::load_or_create(path)?,
        IdentitySource::Pem { cert, key } => RelayIdentity::from_pem_files(cert, key)?,
    };
    start_with_identity(settings, identity).await
}

/// Starts a relay with a given identity (tests use a fresh one).
pub async fn start_with_identity(
    settings: Settings,
    identity: RelayIdentity,
) -> Result<RelayHandle> {
    let metrics = Arc::new(Metrics::new());
    let endpoint =
        wzp_transport::server_endpoint(&identity, settings.listen, &TransportParams::default())?;
    let local_addr = endpoint
        .local_addr()
        .map_err(|source| crate::error::RelayError::Io {
            what: "relay socket address".into(),
            source,
        })?;
    metrics.watch_udp_socket(local_addr);
    let (stop_metrics, metrics_addr) = match settings.metrics_listen {
        Some(addr) => {
            let (tx, rx) = oneshot::channel::<()>();
            let bound = crate::metrics::serve(addr, metrics.clone(), async move {
                let _ = rx.await;
            })
            .await?;
            (Some(tx), Some(bound))
        }
        None => (None, None),
    };
    let (core_tx, core_rx) = mpsc::channel(4096);
    let core = RelayCore::new(settings.core.clone(), metrics.clone());
    let tap = MediaTap::default();
    tokio::spawn(run_core(core, core_rx));
    let clock = if settings.batch.is_zero() {
        None
    } else {
        Some(
            BatchClock::start(settings.batch, metrics.clone()).map_err(|source| {
                crate::error::RelayError::Io {
                    what: "batching clock thread".into(),
                    source,
                }
            })?,
        )
    };
    tokio::spawn(accept_loop(
        endpoint.clone(),
        core_tx.clone(),
        metrics.clone(),
        settings.rate,
        clock,
        tap.clone(),
    ));
    tracing::info!(%local_addr, fingerprint = %identity.fingerprint(), "relay listening");
    Ok(RelayHandle {
        local_addr,
        metrics_addr,
        fingerprint: identity.fingerprint(),
        metrics,
        core_tx,
        endpoint,
        stop_metrics,
        tap,
    })
}

async fn run_core(mut core: RelayCore, mut rx: mpsc::Receiver<CoreIn>) {
    let mut sessions: HashMap<SessionId, SessionHandle> = HashMap::new();
    let mut routes: HashMap<RoomId, Route> = HashMap::new();
    loop {
        let deadline = core.poll_timeout();
        let input = tokio::select! {
            input = rx.recv() => match input {
                Some(i) => Some(i),
                None => break,
            },
            () = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d.into()).await,
                    None => std::future::pending().await,
                }
            } => None,
        };
        let mut shutdown_done = None;
        let mut refused = None;
        match input {
            None => core.handle_timeout(now()),
            Some(CoreIn::Connect {
                session,
                exporter,
                handle,
            }) => {
                sessions.insert(session, handle);
                if !core.connect(session, exporter) {
                    refused = Some(session);
                }
            }
            Some(CoreIn::Signal { session, msg }) => core.handle_signal(now(), session, msg),
            Some(CoreIn::Disconnect { session }) => {
                core.disconnect(now(), session);
                sessions.remove(&session);
            }
            Some(CoreIn::Shutdown { done }) => {
                core.shutdown();
                shutdown_done = Some(done);
            }
        }
        let mut closes = Vec::new();
        while let Some(out) = core.poll_output() {
            match out {
                Output::Signal { to, msg } => {
                    if let Some(h) = sessions.get(&to) {
                        match h.signals.try_send(Outbound::Signal(msg)) {
                            Ok(()) => {}
                            Err(mpsc::error::TrySendError::Full(_)) => {
                                tracing::warn!(session = ?to, "signal queue full; closing slow client");
                                closes.push((
                                    to,
                                    CloseCode::ProtocolError,
                                    "not reading signals".into(),
                                ));
                            }
                            // The writer is gone: the client stopped its signal stream,
                            // and the session ends as its reader notices.
                            Err(mpsc::error::TrySendError::Closed(_)) => {}
                        }
                    }
                }
                Output::Close {
                    session,
                    code,
                    reason,
                } => closes.push((session, code, reason)),
                Output::RoomMembers { room, members } => {
                    let list: Vec<RouteMember> = members
                        .iter()
                        .filter_map(|(s, pid)| {
                            sessions.get(s).map(|h| RouteMember {
                                pid: *pid,
                                out: h.out.clone(),
                            })
                        })
                        .collect();
                    if list.is_empty() {
                        if let Some(r) = routes.remove(&room) {
                            r.store(Arc::new(Vec::new()));
                        }
                    } else {
                        routes
                            .entry(room)
                            .or_insert_with(|| Arc::new(ArcSwap::from_pointee(Vec::new())))
                            .store(Arc::new(list));
                    }
                }
                Output::SessionRoom { session, joined } => {
                    if let Some(h) = sessions.get(&session) {
                        let j = joined.map(|(room, pid)| Joined {
                            pid,
                            route: routes
                                .entry(room)
                                .or_insert_with(|| Arc::new(ArcSwap::from_pointee(Vec::new())))
                                .clone(),
                        });
                        let _ = h.joined.send(j);
                    }
                }
            }
        }
        for (session, code, reason) in closes {
            if let Some(h) = sessions.get(&session) {
                // An admitted session closes through its writer, so the signals
                // queued before (the error that explains the close) reach the
                // client first. A refused one has no writer yet: close at once.
                if !core.has_session(session)
                    || h.signals
                        .try_send(Outbound::Close(code, reason.clone()))
                        .is_err()
                {
                    h.conn.close(code as u32, &reason);
                }
            }
        }
        if let Some(id) = refused {
            sessions.remove(&id);
        }
        if let Some(done) = shutdown_done {
            let _ = done.send(());
        }
    }
}

async fn accept_loop(
    endpoint: quinn::Endpoint,
    core_tx: mpsc::Sender<CoreIn>,
    metrics: Arc<Metrics>,
    rate: RateLimits,
    clock: Option<Arc<BatchClock>>,
    tap: MediaTap,
) {
    let mut next = 0u64;
    while let Some(incoming) = endpoint.accept().await {
        next += 1;
        let session = SessionId(next);
        tokio::spawn(serve_connection(
            incoming,
            session,
            core_tx.clone(),
            metrics.clone(),
            rate,
            clock.clone(),
            tap.clone(),
        ));
    }
}

async fn serve_connection(
    incoming: quinn::Incoming,
    session: SessionId,
    core_tx: mpsc::Sender<CoreIn>,
    metrics: Arc<Metrics>,
    rate: RateLimits,
    clock: Option<Arc<BatchClock>>,
    tap: MediaTap,
) {
    let started = Instant::now();
    let conn = match incoming.await {
        Ok(c) => WzpConnection::from_quinn(c),
        Err(e) => {
            metrics.reject("handshake");
            tracing::debug!(error = %e, "handshake failed");
            return;
        }
    };
    metrics
        .handshake_seconds
        .observe(started.elapsed().as_secs_f64());
    let Ok(exporter) = conn.proof_exporter() else {
        conn.close(CloseCode::ProtocolError as u32, "no TLS exporter");
        return;
    };
    let (sig_tx, mut sig_rx) = mpsc::channel(SIGNAL_QUEUE);
    let (joined_tx, joined_rx) = watch::channel(None);
    let out = Outbox::new(conn.clone(), clock);
    let handle = SessionHandle {
        conn: conn.clone(),
        out,
        signals: sig_tx,
        joined: joined_tx,
    };
    if core_tx
        .send(CoreIn::Connect {
            session,
            exporter,
            handle,
        })
        .await
        .is_err()
    {
        return;
    }
    let media = tokio::spawn(forward_media(
        conn.clone(),
        joined_rx,
        metrics.clone(),
        rate,
        tap,
    ));
    match tokio::time::timeout(SIGNAL_OPEN_TIMEOUT, conn.accept_signal()).await {
        Ok(Ok((mut sender, mut receiver))) => {
            let writer_conn = conn.clone();
            let writer = tokio::spawn(async move {
                while let Some(out) = sig_rx.recv().await {
                    match out {
                        Outbound::Signal(msg) => {
                            if sender.send(&msg).await.is_err() {
                                break;
                            }
                        }
                        Outbound::Close(code, reason) => {
                            sender.finish();
                            let _ = tokio::time::timeout(CLOSE_FLUSH, sender.stopped()).await;
                            writer_conn.close(code as u32, &reason);
                            break;
                        }
                    }
                }
            });
            loop {
                match receiver.recv().await {
                    Ok(Some(Decoded::Message(msg))) => {
                        if core_tx.send(CoreIn::Signal { session, msg }).await.is_err() {
                            break;
                        }
                    }
                    Ok(Some(Decoded::Unknown { .. })) => metrics.signal("unknown"),
                    Ok(None) => break,
                    Err(e) if !e.is_fatal() => metrics.reject("malformed_signal"),
                    Err(e) => {
                        tracing::debug!(?session, error = %e, "signal stream ended");
                        break;
                    }
                }
            }
            writer.abort();
        }
        Ok(Err(e)) => tracing::debug!(?session, error = %e, "no signal stream"),
        Err(_) if conn.quinn().close_reason().is_some() => {}
        Err(_) => {
            metrics.reject("signal_open_timeout");
            conn.close(
                CloseCode::Timeout as u32,
                "signal stream not opened in time",
            );
        }
    }
    let _ = core_tx.send(CoreIn::Disconnect { session }).await;
    media.abort();
    conn.close(CloseCode::Normal as u32, "session ended");
}

/// Reads one client's media and forwards it to the other members of its room.
async fn forward_media(
    conn: WzpConnection,
    mut joined_rx: watch::Receiver<Option<Joined>>,
    metrics: Arc<Metrics>,
    rate: RateLimits,
    tap: MediaTap,
) {
    let mut limiter = RateLimiter::new(rate);
    let mut joined: Option<Joined> = None;
    let mut buf = BytesMut::with_capacity(64 * 1024);
    while let Ok(datagram) = conn.recv_media().await {
        metrics.packets_in.inc();
        metrics.bytes_in.inc_by(datagram.len() as u64);
        if let Some(t) = tap.get() {
            let _ = t.send(datagram.clone());
        }
        match limiter.check(Instant::now(), datagram.len()) {
            Verdict::Pass => {}
            Verdict::Drop => {
                metrics.count_drop("rate_limited");
                continue;
            }
            Verdict::Disconnect => {
                metrics.reject("rate_limited");
                conn.close(CloseCode::RateLimited as u32, "over the media rate limit");
                break;
            }
        }
        let media_type = match Datagram::parse(&datagram) {
            Ok(Datagram::Plain { header, .. } | Datagram::Full { header, .. }) => header.media_type,
            Ok(Datagram::Mini { .. }) => MediaType::Audio,
            Err(e) => {
                metrics.count_drop(e.kind());
                continue;
            }
        };
        if joined_rx.has_changed().unwrap_or(false) {
            joined = joined_rx.borrow_and_update().clone();
        }
        let Some(j) = &joined else {
            metrics.count_drop("not_in_room");
            continue;
        };
        let fwd = prefixed(&mut buf, j.pid, &datagram);
        let route = j.route.load();
        let mut sent = 0u64;
        for m in route.iter() {
            if m.pid == j.pid {
                continue;
            }
            if media_type == MediaType::Video && m.out.conn().send_buffer_space() < VIDEO_LOW_WATER
            {
                metrics.count_drop("congestion_video");
                continue;
            }
            if m.out.push(fwd.clone(), &metrics) {
                sent += 1;
            }
        }
        metrics.packets_forwarded.inc_by(sent);
        metrics.bytes_forwarded.inc_by(sent * fwd.len() as u64);
    }
}

fn prefixed(buf: &mut BytesMut, pid: ParticipantId, datagram: &Bytes) -> Bytes {
    buf.reserve(wzp_proto::FORWARD_PREFIX_LEN + datagram.len());
    buf.put_u16(pid.0);
    buf.extend_from_slice(datagram);
    buf.split().freeze()
}
