//! Prometheus metrics and the HTTP endpoint that serves them (`/metrics`,
//! `/healthz`).
//!
//! Hot-path counters (per forwarded packet) are plain atomic counters; counters
//! with a reason label are only touched on rarer events (drops, rejections).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::error::{RelayError, Result};

type Labels = [(&'static str, &'static str); 1];

/// Every metric the relay exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Connected sessions.
    pub sessions: Gauge,
    /// Rooms with at least one participant.
    pub rooms: Gauge,
    /// Participants in rooms.
    pub participants: Gauge,
    /// Media datagrams received from clients.
    pub packets_in: Counter,
    /// Bytes of media datagrams received.
    pub bytes_in: Counter,
    /// Media datagrams sent to receivers (one per receiver).
    pub packets_forwarded: Counter,
    /// Bytes sent to receivers.
    pub bytes_forwarded: Counter,
    /// Media datagrams dropped, by reason.
    pub drops: Family<Labels, Counter>,
    /// Signal messages received, by type.
    pub signals: Family<Labels, Counter>,
    /// Joins, presence registrations or connections refused, by reason.
    pub rejections: Family<Labels, Counter>,
    /// Direct calls, by outcome.
    pub calls: Family<Labels, Counter>,
    /// Keyframe requests forwarded to senders or suppressed as duplicates.
    pub keyframe_requests: Family<Labels, Counter>,
    /// QUIC handshake duration on the relay side.
    pub handshake_seconds: Histogram,
    /// UDP packets the kernel dropped before the relay read them (its socket
    /// buffer was full). Brought up to date from the kernel on each render.
    pub udp_receive_drops: Counter,
    /// The relay's UDP socket, once bound.
    socket: OnceLock<SocketAddr>,
    /// Serialises bringing `udp_receive_drops` up to date.
    drops_sync: Mutex<()>,
}

impl Metrics {
    /// A fresh set of metrics, registered under the `wzp_relay_` prefix.
    #[must_use]
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("wzp_relay");
        let m = Self {
            sessions: Gauge::default(),
            rooms: Gauge::default(),
            participants: Gauge::default(),
            packets_in: Counter::default(),
            bytes_in: Counter::default(),
            packets_forwarded: Counter::default(),
            bytes_forwarded: Counter::default(),
            drops: Family::default(),
            signals: Family::default(),
            rejections: Family::default(),
            calls: Family::default(),
            keyframe_requests: Family::default(),
            handshake_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 14)),
            udp_receive_drops: Counter::default(),
            socket: OnceLock::new(),
            drops_sync: Mutex::new(()),
            registry: Registry::default(),
        };
        registry.register("sessions", "Connected sessions", m.sessions.clone());
        registry.register("rooms", "Rooms with participants", m.rooms.clone());
        registry.register(
            "participants",
            "Participants in rooms",
            m.participants.clone(),
        );
        registry.register(
            "packets_in",
            "Media datagrams received",
            m.packets_in.clone(),
        );
        registry.register("bytes_in", "Media bytes received", m.bytes_in.clone());
        registry.register(
            "packets_forwarded",
            "Media datagrams forwarded (one per receiver)",
            m.packets_forwarded.clone(),
        );
        registry.register(
            "bytes_forwarded",
            "Media bytes forwarded",
            m.bytes_forwarded.clone(),
        );
        registry.register(
            "drops",
            "Media datagrams dropped, by reason",
            m.drops.clone(),
        );
        registry.register(
            "signals",
            "Signal messages received, by type",
            m.signals.clone(),
        );
        registry.register(
            "rejections",
            "Refused joins, registrations and connections, by reason",
            m.rejections.clone(),
        );
        registry.register("calls", "Direct calls, by outcome", m.calls.clone());
        registry.register(
            "keyframe_requests",
            "Keyframe requests, forwarded or suppressed",
            m.keyframe_requests.clone(),
        );
        registry.register(
            "handshake_seconds",
            "QUIC handshake time",
            m.handshake_seconds.clone(),
        );
        registry.register(
            "udp_receive_drops",
            "UDP packets the kernel dropped before the relay read them (socket buffer full; Linux only)",
            m.udp_receive_drops.clone(),
        );
        Self { registry, ..m }
    }

    /// Reports the kernel's drops on the relay's UDP socket bound at `addr`.
    pub fn watch_udp_socket(&self, addr: SocketAddr) {
        let _ = self.socket.set(addr);
    }

    /// Counts a dropped datagram.
    pub fn count_drop(&self, reason: &'static str) {
        self.drops.get_or_create(&[("reason", reason)]).inc();
    }

    /// Counts a refusal.
    pub fn reject(&self, reason: &'static str) {
        self.rejections.get_or_create(&[("reason", reason)]).inc();
    }

    /// Counts a call outcome.
    pub fn call(&self, outcome: &'static str) {
        self.calls.get_or_create(&[("outcome", outcome)]).inc();
    }

    /// Counts a signal message by type.
    pub fn signal(&self, kind: &'static str) {
        self.signals.get_or_create(&[("type", kind)]).inc();
    }

    /// The Prometheus text exposition of every metric.
    #[must_use]
    pub fn render(&self) -> String {
        self.sync_udp_receive_drops();
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }

    /// Brings `udp_receive_drops` up to the kernel's count.
    fn sync_udp_receive_drops(&self) {
        let Some(addr) = self.socket.get() else {
            return;
        };
        let Some(kernel) = wzp_transport::udp_receive_drops(None, &[addr.port()]) else {
            return;
        };
        let Ok(_one_at_a_time) = self.drops_sync.lock() else {
            return;
        };
        let counted = self.udp_receive_drops.get();
        if kernel > counted {
            self.udp_receive_drops.inc_by(kernel - counted);
        }
    }

    /// Reads a counter's value by metric family and label, for tests and the load tester.
    #[must_use]
    pub fn drops_for(&self, reason: &'static str) -> u64 {
        self.drops.get_or_create(&[("reason", reason)]).get()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Serves `/metrics` and `/healthz` on `addr` until `shutdown` resolves.
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| RelayError::Io {
            what: format!("binding metrics port {addr}"),
            source,
        })?;
    let local = listener.local_addr().map_err(|source| RelayError::Io {
        what: "metrics socket address".into(),
        source,
    })?;
    let app = axum::Router::new()
        .route(
            "/metrics",
            axum::routing::get(move || {
                let m = metrics.clone();
                async move {
                    (
                        [(
                            "content-type",
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        m.render(),
                    )
                }
            }),
        )
        .route("/healthz", axum::routing::get(|| async { "ok\n" }));
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::warn!(error = %e, "metrics server stopped");
        }
    });
    Ok(local)
}
