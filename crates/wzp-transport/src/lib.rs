//! QUIC for WZP: the thin I/O shell around wzp-proto's wire format.
//!
//! - [`server_endpoint`] and [`client_endpoint`]/[`connect`] set up quinn with
//!   ALPN `wzp`, TLS 1.3, datagrams, keep-alive, path MTU discovery and (on the
//!   relay) connection migration.
//! - The relay is authenticated: [`Trust`] pins its certificate fingerprint,
//!   records it on first use, or checks it against a CA. There is no "accept any
//!   certificate" mode. [`PinStore`] keeps pins in a file.
//! - [`WzpConnection`] sends and receives media datagrams, opens the signal
//!   stream ([`SignalSender`], [`SignalReceiver`]) and reports [`PathStats`].
//! - [`udp_receive_drops`] reads what the kernel dropped on a full socket
//!   buffer, which QUIC never sees.
//! - Identity proofs sign the connection's TLS exporter value
//!   ([`WzpConnection::proof_exporter`], see `wzp_crypto::proof`).
#![forbid(unsafe_code)]

pub mod client;
pub mod congestion;
pub mod connection;
pub mod endpoint;
pub mod error;
pub mod fsutil;
pub mod kernel_drops;
pub mod pins;
pub mod probe;
pub mod signal;
pub mod tls;

pub use client::RelayClient;
pub use connection::{PathStats, WzpConnection};
pub use endpoint::{ALPN, Connected, TransportParams, client_endpoint, connect, server_endpoint};
pub use error::{Result, TransportError};
pub use kernel_drops::udp_receive_drops;
pub use pins::PinStore;
pub use probe::{ProbeReport, probe};
pub use signal::{SignalReceiver, SignalSender};
pub use tls::{RelayFingerprint, RelayIdentity, Trust};
