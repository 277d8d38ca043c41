//! In-process, seeded UDP network impairment for tests and benchmarks.
//!
//! Real calls meet lossy Wi-Fi, cellular hand-overs, bufferbloat and NAT rebinding.
//! This crate puts such a network between a QUIC client and the relay, all on
//! loopback, reproducibly: the same seed and traffic give the same random choices.
//!
//! It has the shape of the rest of the project (and of str0m and quinn-proto):
//!
//! - [`Link`] is the **sans-IO core**: one direction of a path. Feed it packets with
//!   [`Link::handle_packet`], collect what the network delivers with
//!   [`Link::poll_transmit`], and ask [`Link::poll_timeout`] when to come back. Time is
//!   an argument, never read from a clock, so unit tests run a minute of traffic in
//!   microseconds with an exact, fake clock.
//! - [`Proxy`] is the **thin tokio shell**: a UDP proxy with an uplink and a downlink
//!   [`Link`], one upstream socket per client address (a flow, like a NAT), runtime
//!   control through [`ProxyHandle`], and [`ProxyHandle::rebind_flows`] to make the
//!   relay see every client move to a new address.
//!
//! What a link does is an [`Impairment`]: independent and bursty ([`GilbertElliott`])
//! loss, delay, jitter, reordering, duplication, a rate-limited bottleneck with a
//! drop-tail queue ([`RateLimit`]), and outages ([`Outage`] or a manual switch).
//!
//! # A lossy proxy in a test
//!
//! ```no_run
//! use std::time::Duration;
//! use wzp_netsim::{Impairment, Proxy};
//!
//! # async fn demo(relay: std::net::SocketAddr) -> Result<(), wzp_netsim::NetsimError> {
//! let bad = Impairment { loss: 0.2, delay: Duration::from_millis(40), ..Impairment::none() };
//! let proxy = Proxy::start("127.0.0.1:0".parse().unwrap(), relay, bad.clone(), bad, 7).await?;
//! // Connect the client to proxy.local_addr() instead of the relay, then:
//! proxy.set_outage(true)?;                 // the tunnel
//! tokio::time::sleep(Duration::from_secs(1)).await;
//! proxy.set_outage(false)?;
//! proxy.rebind_flows().await?;             // the relay sees a new client address
//! let stats = proxy.shutdown().await;
//! assert!(stats.uplink.dropped_outage > 0);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

pub mod error;
pub mod impairment;
pub mod link;
pub mod proxy;

pub use error::{NetsimError, Result};
pub use impairment::{GilbertElliott, Impairment, MAX_DURATION, Outage, RateLimit};
pub use link::{Link, LinkStats, MAX_IN_FLIGHT, Packet};
pub use proxy::{FlowInfo, MAX_FLOWS, Proxy, ProxyHandle, ProxyStats};
