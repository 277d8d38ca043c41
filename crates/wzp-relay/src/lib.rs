//! The WZP relay: an SFU that forwards end-to-end encrypted media it cannot read.
//!
//! - [`core::RelayCore`]: rooms, direct calls, admission and signal routing,
//!   sans-IO (time and events in, actions out).
//! - [`server`]: the quinn/tokio shell, including the lock-free media fast path.
//! - [`config`]: settings from file, environment and flags.
//! - [`metrics`]: Prometheus metrics and `/healthz`.
//! - `outbox`: each receiver's outgoing media and the optional batching clock.
//!
//! The relay never holds a media key: it routes key envelopes between
//! participants without reading them and forwards media datagrams unchanged,
//! prefixed with the sender's participant id.
#![forbid(unsafe_code)]

pub mod cli;
pub mod config;
pub mod core;
pub mod error;
pub mod metrics;
mod outbox;
pub mod rate;
pub mod server;
pub mod tokens;

pub use config::{RelayArgs, Settings};
pub use error::{RelayError, Result};
pub use server::{RelayHandle, start, start_with_identity};
