//! "Host on this computer": a relay running inside the app, so two people on one network
//! can call with no server. It listens on every interface on a fixed-per-run UDP port and
//! keeps its TLS key in the app data folder, so its fingerprint (what the other person
//! pins) stays the same across restarts.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::Path;

use serde::Serialize;

use crate::error::{AppError, Result};

/// What the UI shows to share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostInfo {
    /// Address for this computer itself (loopback).
    pub local_address: String,
    /// Addresses others on the network use (one per usable interface we can find).
    pub share_addresses: Vec<String>,
    /// The relay's certificate fingerprint, to pin.
    pub fingerprint: String,
}

/// A running embedded relay.
pub struct Host {
    handle: wzp_relay::RelayHandle,
    info: HostInfo,
}

impl Host {
    /// Starts a relay on `listen` (e.g. `0.0.0.0:0`), its key in `key_file`.
    pub async fn start(listen: &str, key_file: &Path) -> Result<Self> {
        let settings = wzp_relay::Settings::resolve(&wzp_relay::RelayArgs {
            listen: Some(listen.to_string()),
            metrics_listen: Some("off".into()),
            ..Default::default()
        })
        .map_err(|e| AppError::Relay(e.to_string()))?;
        let identity = wzp_transport::RelayIdentity::load_or_create(key_file)
            .map_err(|e| AppError::Relay(e.to_string()))?;
        let handle = wzp_relay::start_with_identity(settings, identity)
            .await
            .map_err(|e| AppError::Relay(e.to_string()))?;
        let addr = handle.local_addr();
        let port = addr.port();
        let mut share = Vec::new();
        if addr.ip().is_unspecified() {
            if let Some(ip) = outward_ip() {
                share.push(SocketAddr::new(ip, port).to_string());
            }
        } else if !addr.ip().is_loopback() {
            share.push(addr.to_string());
        }
        let info = HostInfo {
            local_address: format!("127.0.0.1:{port}"),
            share_addresses: share,
            fingerprint: handle.fingerprint().to_string(),
        };
        tracing::info!(port, fingerprint = %info.fingerprint, "embedded relay started");
        Ok(Self { handle, info })
    }

    /// What to share.
    #[must_use]
    pub fn info(&self) -> &HostInfo {
        &self.info
    }

    /// Stops the relay (calls through it end).
    pub async fn stop(self) {
        self.handle.shutdown().await;
        tracing::info!("embedded relay stopped");
    }
}

/// The address this machine uses to reach other networks: a UDP socket "connected" to
/// a documentation address picks the route without sending anything.
fn outward_ip() -> Option<IpAddr> {
    let s = UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.0.2.1:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_unspecified() && !ip.is_loopback()).then_some(ip)
}
