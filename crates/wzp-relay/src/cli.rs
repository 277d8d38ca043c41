//! `wzp relay` / `wzp-relay`: run a relay until Ctrl-C or SIGTERM.

use crate::config::{RelayArgs, Settings};
use crate::error::{RelayError, Result};

/// The runtime a relay runs on: `threads` workers (all CPUs when `None`), for both
/// `wzp relay` and `wzp-relay`. (Tokio's single-threaded scheduler for one thread was
/// tried and measured no better: docs/BENCHMARKS.md, "Relay".)
pub fn runtime(threads: Option<usize>) -> Result<tokio::runtime::Runtime> {
    let mut b = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = threads {
        b.worker_threads(n.max(1));
    }
    b.enable_all().build().map_err(|source| RelayError::Io {
        what: "starting the relay's async runtime".into(),
        source,
    })
}

/// Runs the relay described by `args` until a shutdown signal, then shuts down
/// gracefully (clients are told). Prints where it listens and its fingerprint.
pub async fn run(args: RelayArgs) -> Result<()> {
    let settings = Settings::resolve(&args)?;
    let relay = crate::server::start(settings).await?;
    // The operator's view of the relay goes to stdout. A closed stdout (the
    // parent stopped reading) must not take the relay down, so errors are ignored.
    {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "wzp relay listening on {} (QUIC, ALPN wzp)",
            relay.local_addr()
        );
        let _ = writeln!(out, "relay fingerprint: {}", relay.fingerprint());
        let _ = match relay.metrics_addr() {
            Some(a) => writeln!(
                out,
                "metrics: http://{a}/metrics  health: http://{a}/healthz"
            ),
            None => writeln!(out, "metrics: off"),
        };
        let _ = out.flush();
    }
    wait_for_shutdown().await?;
    tracing::info!("shutting down");
    relay.shutdown().await;
    Ok(())
}

async fn wait_for_shutdown() -> Result<()> {
    let io = |source| RelayError::Io {
        what: "installing signal handler".into(),
        source,
    };
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(io)?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.map_err(io)?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await.map_err(io)?;
    Ok(())
}
