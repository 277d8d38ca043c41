//! `wzp-relay`: the relay as its own binary (same as `wzp relay`).

use clap::Parser;

/// WZP relay: forwards end-to-end encrypted calls it cannot read.
#[derive(Debug, Parser)]
#[command(name = "wzp-relay", version, about)]
struct Cli {
    /// Log filter (tracing env-filter syntax).
    #[arg(long, env = "WZP_LOG", default_value = "info")]
    log: String,
    #[command(flatten)]
    relay: wzp_relay::RelayArgs,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let result = wzp_relay::cli::runtime(cli.relay.threads)
        .and_then(|rt| rt.block_on(wzp_relay::cli::run(cli.relay)));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::from(2)
        }
    }
}
