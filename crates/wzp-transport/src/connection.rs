//! A WZP connection: media datagrams, the signal stream, path statistics, and
//! the exporter value identity proofs sign.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use wzp_crypto::proof::{EXPORTER_LABEL, EXPORTER_LEN};

use crate::error::{Result, TransportError};
use crate::signal::{SignalReceiver, SignalSender};

/// Path statistics for adaptive quality.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PathStats {
    /// Smoothed round-trip time.
    pub rtt: Duration,
    /// Congestion window in bytes.
    pub cwnd: u64,
    /// UDP datagrams sent on the path.
    pub sent_packets: u64,
    /// Packets declared lost.
    pub lost_packets: u64,
    /// UDP payload bytes sent (all packets, with QUIC headers). With `lost_bytes`
    /// over an interval it gives the delivery rate, the capacity a saturated path
    /// really has.
    pub sent_bytes: u64,
    /// Bytes in packets declared lost.
    pub lost_bytes: u64,
    /// Current path MTU.
    pub mtu: u16,
    /// Largest media datagram that fits now, if the peer accepts datagrams.
    pub max_datagram: Option<usize>,
    /// Congestion-window-based send rate estimate in bits per second.
    pub cwnd_bps: u64,
}

/// A QUIC connection speaking WZP.
#[derive(Debug, Clone)]
pub struct WzpConnection {
    inner: quinn::Connection,
}

impl WzpConnection {
    pub(crate) fn new(inner: quinn::Connection) -> Self {
        Self { inner }
    }

    /// Wraps a connection accepted by a server endpoint.
    #[must_use]
    pub fn from_quinn(inner: quinn::Connection) -> Self {
        Self { inner }
    }

    /// The underlying quinn connection.
    #[must_use]
    pub fn quinn(&self) -> &quinn::Connection {
        &self.inner
    }

    /// Sends one media datagram. If the send buffer is full quinn drops the oldest
    /// queued datagram, which is the right thing for real-time media.
    pub fn send_media(&self, datagram: Bytes) -> Result<()> {
        self.inner.send_datagram(datagram).map_err(Into::into)
    }

    /// Receives the next media datagram.
    pub async fn recv_media(&self) -> Result<Bytes> {
        self.inner.read_datagram().await.map_err(closed_or)
    }

    /// Free bytes in the outgoing datagram buffer: low means the path is congested.
    #[must_use]
    pub fn send_buffer_space(&self) -> usize {
        self.inner.datagram_send_buffer_space()
    }

    /// Opens the signal stream (client side). The relay sees it once something is sent.
    pub async fn open_signal(&self) -> Result<(SignalSender, SignalReceiver)> {
        let (send, recv) = self.inner.open_bi().await.map_err(closed_or)?;
        Ok((SignalSender::new(send), SignalReceiver::new(recv)))
    }

    /// Accepts the peer's signal stream (relay side).
    pub async fn accept_signal(&self) -> Result<(SignalSender, SignalReceiver)> {
        let (send, recv) = self.inner.accept_bi().await.map_err(closed_or)?;
        Ok((SignalSender::new(send), SignalReceiver::new(recv)))
    }

    /// The TLS exporter value identity proofs are bound to (the same on both ends).
    pub fn proof_exporter(&self) -> Result<[u8; EXPORTER_LEN]> {
        let mut out = [0u8; EXPORTER_LEN];
        self.inner
            .export_keying_material(&mut out, EXPORTER_LABEL, b"")
            .map_err(|_| TransportError::Tls("TLS exporter unavailable".into()))?;
        Ok(out)
    }

    /// Current path statistics.
    #[must_use]
    pub fn path_stats(&self) -> PathStats {
        let s = self.inner.stats();
        let rtt = s.path.rtt;
        let rtt_s = rtt.as_secs_f64().max(0.001);
        PathStats {
            rtt,
            cwnd: s.path.cwnd,
            sent_packets: s.path.sent_packets,
            lost_packets: s.path.lost_packets,
            sent_bytes: s.udp_tx.bytes,
            lost_bytes: s.path.lost_bytes,
            mtu: s.path.current_mtu,
            max_datagram: self.inner.max_datagram_size(),
            cwnd_bps: ((s.path.cwnd as f64 * 8.0) / rtt_s) as u64,
        }
    }

    /// The peer's current address (changes when it migrates).
    #[must_use]
    pub fn remote_address(&self) -> SocketAddr {
        self.inner.remote_address()
    }

    /// Closes the connection, telling the peer why.
    pub fn close(&self, code: u32, reason: &str) {
        self.inner
            .close(quinn::VarInt::from_u32(code), reason.as_bytes());
    }

    /// Waits until the connection is closed and returns why.
    pub async fn closed(&self) -> TransportError {
        closed_or(self.inner.closed().await)
    }
}

/// Maps an application close by the peer to [`TransportError::ClosedByPeer`].
pub(crate) fn closed_or(e: quinn::ConnectionError) -> TransportError {
    match e {
        quinn::ConnectionError::ApplicationClosed(c) => TransportError::ClosedByPeer {
            code: c.error_code.into_inner(),
            reason: String::from_utf8_lossy(&c.reason).into_owned(),
        },
        other => TransportError::Connection(other),
    }
}
