//! Building QUIC endpoints for relays and clients, and connecting to a relay.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};

use crate::connection::WzpConnection;
use crate::error::{Result, TransportError};
use crate::tls::{FingerprintVerifier, RelayFingerprint, RelayIdentity, Trust, provider};

/// The ALPN protocol id of WZP.
pub const ALPN: &[u8] = b"wzp";

/// QUIC settings shared by relays and clients.
#[derive(Debug, Clone)]
pub struct TransportParams {
    /// A connection with no traffic for this long is closed.
    pub idle_timeout: Duration,
    /// Keep-alive interval, well under the idle timeout (and NAT binding lifetimes).
    pub keep_alive: Duration,
    /// Bytes of received datagrams buffered before the oldest are dropped.
    pub datagram_receive_buffer: usize,
    /// Bytes of outgoing datagrams buffered before the oldest are dropped.
    pub datagram_send_buffer: usize,
    /// Upper bound for path MTU discovery.
    pub max_mtu: u16,
    /// Ask the peer to acknowledge only every this many ack-eliciting packets.
    pub ack_every: u32,
    /// Lowest congestion window, in bytes, for connections this side opens (clients).
    /// See [`crate::congestion`]: it keeps real-time audio flowing through loss and
    /// outages. `None` is plain Cubic. The relay's accepted connections always use
    /// plain Cubic.
    pub media_window_floor: Option<u64>,
}

impl Default for TransportParams {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(30),
            keep_alive: Duration::from_secs(5),
            datagram_receive_buffer: 1 << 20,
            datagram_send_buffer: 1 << 20,
            max_mtu: 1452,
            ack_every: 8,
            media_window_floor: Some(crate::congestion::DEFAULT_WINDOW_FLOOR),
        }
    }
}

impl TransportParams {
    fn quinn(&self) -> Result<quinn::TransportConfig> {
        let mut t = quinn::TransportConfig::default();
        let idle = quinn::IdleTimeout::try_from(self.idle_timeout).map_err(|_| {
            TransportError::Tls(format!("idle timeout {:?} too large", self.idle_timeout))
        })?;
        t.max_idle_timeout(Some(idle));
        t.keep_alive_interval(Some(self.keep_alive));
        t.datagram_receive_buffer_size(Some(self.datagram_receive_buffer));
        t.datagram_send_buffer_size(self.datagram_send_buffer);
        // Media datagrams are never retransmitted, so acknowledging every second
        // packet (QUIC's default) buys little and costs a packet each way: ask the
        // peer to acknowledge every 8th, or after 25 ms (draft-ietf-quic-ack-frequency;
        // ignored by peers that do not support it).
        let mut ack = quinn::AckFrequencyConfig::default();
        ack.ack_eliciting_threshold(quinn::VarInt::from_u32(self.ack_every))
            .max_ack_delay(Some(Duration::from_millis(25)));
        t.ack_frequency_config(Some(ack));
        let mut mtu = quinn::MtuDiscoveryConfig::default();
        mtu.upper_bound(self.max_mtu);
        t.mtu_discovery_config(Some(mtu));
        Ok(t)
    }
}

/// A relay's listening endpoint.
pub fn server_endpoint(
    identity: &RelayIdentity,
    listen: SocketAddr,
    params: &TransportParams,
) -> Result<quinn::Endpoint> {
    let (chain, key) = identity.rustls_chain();
    let mut tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    tls.max_early_data_size = 0;
    let quic = QuicServerConfig::try_from(tls).map_err(|e| TransportError::Tls(e.to_string()))?;
    let mut cfg = quinn::ServerConfig::with_crypto(Arc::new(quic));
    cfg.transport_config(Arc::new(params.quinn()?));
    // Clients that change address (Wi-Fi to cellular) keep their connection.
    cfg.migration(true);
    let socket = bind_udp(listen, RELAY_SOCKET_BUFFER)?;
    let runtime: Arc<dyn quinn::Runtime> = Arc::new(quinn::TokioRuntime);
    quinn::Endpoint::new(quinn::EndpointConfig::default(), Some(cfg), socket, runtime).map_err(
        |source| TransportError::Io {
            path: format!("udp {listen}").into(),
            source,
        },
    )
}

/// Kernel buffer the relay asks for on its UDP socket, each way.
///
/// A relay takes the packets of every client on one socket. Linux's default
/// receive buffer (about 200 KiB, some 270 small packets) fills in a few
/// milliseconds at tens of thousands of packets a second, so a relay thread
/// descheduled that long loses packets before QUIC sees them. 1 MiB (Linux
/// accounts 2 MiB, about 2,000 small packets) rides out such bursts, yet a relay
/// overloaded for good drops rather than queueing stale media: in an overload
/// test it delayed media by p50 0.13 s, against 0.53 s with 4 MiB (see
/// docs/BENCHMARKS.md). Linux caps the request at
/// `net.core.rmem_max` / `net.core.wmem_max`; a smaller result is logged with
/// the setting to raise.
pub const RELAY_SOCKET_BUFFER: usize = 1 << 20;

/// Binds a UDP socket, asking for `buffer` bytes of kernel buffer each way.
fn bind_udp(addr: SocketAddr, want: usize) -> Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let io = |source| TransportError::Io {
        path: format!("udp {addr}").into(),
        source,
    };
    let socket =
        Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP)).map_err(io)?;
    // A refused size is not fatal: the socket works with the default, and the
    // log says what it got. (Linux reports twice the size asked, counting its
    // own bookkeeping, so a granted request reads as at least `want`.)
    let recv = socket
        .set_recv_buffer_size(want)
        .and_then(|()| socket.recv_buffer_size());
    let send = socket
        .set_send_buffer_size(want)
        .and_then(|()| socket.send_buffer_size());
    for (dir, got, sysctl) in [
        ("receive", recv, "net.core.rmem_max"),
        ("send", send, "net.core.wmem_max"),
    ] {
        match got {
            Ok(got) if got >= want => tracing::debug!(dir, got, "UDP socket buffer"),
            Ok(got) => tracing::warn!(
                dir,
                want,
                got,
                "UDP socket buffer smaller than asked; raise {sysctl}"
            ),
            Err(e) => {
                tracing::warn!(dir, want, error = %e, "could not size the UDP socket buffer")
            }
        }
    }
    socket.bind(&addr.into()).map_err(io)?;
    Ok(socket.into())
}

/// A client endpoint bound to `bind` (use port 0 for any).
pub fn client_endpoint(bind: SocketAddr) -> Result<quinn::Endpoint> {
    quinn::Endpoint::client(bind).map_err(|source| TransportError::Io {
        path: format!("udp {bind}").into(),
        source,
    })
}

/// An established connection to a relay, and the fingerprint it presented.
#[derive(Debug)]
pub struct Connected {
    /// The connection.
    pub connection: WzpConnection,
    /// The relay's certificate fingerprint (to pin after first use).
    pub relay: RelayFingerprint,
}

/// Connects to the relay at `addr`, trusting it as `trust` says.
pub async fn connect(
    endpoint: &quinn::Endpoint,
    addr: SocketAddr,
    server_name: &str,
    trust: &Trust,
    params: &TransportParams,
) -> Result<Connected> {
    let seen = Arc::new(Mutex::new(None));
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?;
    let mut tls = match trust {
        Trust::Pinned(fp) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(FingerprintVerifier::new(
                Some(*fp),
                seen.clone(),
            )))
            .with_no_client_auth(),
        Trust::FirstUse => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(FingerprintVerifier::new(
                None,
                seen.clone(),
            )))
            .with_no_client_auth(),
        Trust::Ca(roots) => {
            let mut store = rustls::RootCertStore::empty();
            for der in roots {
                store
                    .add(rustls::pki_types::CertificateDer::from(der.clone()))
                    .map_err(|e| TransportError::Untrusted(format!("bad CA certificate: {e}")))?;
            }
            builder.with_root_certificates(store).with_no_client_auth()
        }
    };
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let quic = QuicClientConfig::try_from(tls).map_err(|e| TransportError::Tls(e.to_string()))?;
    let mut cfg = quinn::ClientConfig::new(Arc::new(quic));
    let mut transport = params.quinn()?;
    if let Some(floor) = params.media_window_floor {
        transport
            .congestion_controller_factory(Arc::new(crate::congestion::FloorConfig::new(floor)));
    }
    cfg.transport_config(Arc::new(transport));
    let connecting = endpoint.connect_with(cfg, addr, server_name)?;
    match connecting.await {
        Ok(conn) => {
            let relay = peer_fingerprint(&conn)
                .ok_or_else(|| TransportError::Tls("relay presented no certificate".into()))?;
            Ok(Connected {
                connection: WzpConnection::new(conn),
                relay,
            })
        }
        Err(e) => {
            let presented = seen.lock().ok().and_then(|s| *s);
            match (trust, presented) {
                (Trust::Pinned(expected), Some(presented)) if *expected != presented => {
                    Err(TransportError::RelayKeyChanged {
                        expected: *expected,
                        presented,
                    })
                }
                (Trust::Ca(_), _) if matches!(e, quinn::ConnectionError::TransportError(_)) => {
                    Err(TransportError::Untrusted(e.to_string()))
                }
                _ => Err(e.into()),
            }
        }
    }
}

fn peer_fingerprint(conn: &quinn::Connection) -> Option<RelayFingerprint> {
    let certs = conn
        .peer_identity()?
        .downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>()
        .ok()?;
    certs.first().map(|c| RelayFingerprint::of_cert(c))
}
