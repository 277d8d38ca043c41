//! `wzp`: the headless command-line tool of WZP Desktop.
//!
//! Each subcommand lives in its own module; this file only parses arguments,
//! sets up logging and maps errors to exit codes (0 ok, 1 failure, 2 usage).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod call;
mod error;
mod floor;
mod identity;
mod load;
mod packet;
mod relay_token;

use error::CliError;

/// WZP: end-to-end encrypted calls over QUIC, from the command line.
#[derive(Debug, Parser)]
#[command(name = "wzp", version, about, long_about = None)]
struct Cli {
    /// Log filter (tracing env-filter syntax), e.g. `debug` or `wzp_proto=trace`.
    #[arg(long, global = true, env = "WZP_LOG", default_value = "warn")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Inspect media datagrams.
    #[command(subcommand)]
    Packet(packet::PacketCommand),
    /// Create, show, restore and verify the long-term identity.
    Identity(identity::IdentityArgs),
    /// Run a relay (an SFU that forwards end-to-end encrypted media it cannot read).
    Relay(wzp_relay::RelayArgs),
    /// Mint a signed access token for a relay with a token secret.
    RelayToken(relay_token::RelayTokenArgs),
    /// Load-test a relay with synthetic participants.
    Load(load::LoadArgs),
    /// Place a call: join a room (--room) or call an identity (--to), with tone, file,
    /// device or test-pattern media.
    Call(call::CallArgs),
    /// Wait for direct calls to our identity and answer (or decline) them.
    Listen(call::ListenArgs),
    /// A relay and two participants in one process, printing live stats.
    Demo(call::DemoArgs),
    /// Check a relay: is it up, which key does it present, what is the round trip.
    Ping(call::PingArgs),
}

/// The async runtime for the network subcommands.
fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| CliError::Io {
            path: "tokio runtime".into(),
            source,
        })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let result: Result<(), CliError> = match cli.command {
        Command::Packet(cmd) => packet::run(cmd),
        Command::Identity(args) => identity::run(args),
        Command::Relay(args) => wzp_relay::cli::runtime(args.threads)
            .map_err(CliError::from)
            .and_then(|rt| {
                rt.block_on(wzp_relay::cli::run(args))
                    .map_err(CliError::from)
            }),
        Command::RelayToken(args) => relay_token::run(args),
        Command::Load(args) => load::main(args),
        Command::Call(args) => runtime().and_then(|rt| rt.block_on(call::run_call(args))),
        Command::Listen(args) => runtime().and_then(|rt| rt.block_on(call::run_listen(args))),
        Command::Demo(args) => runtime().and_then(|rt| rt.block_on(call::run_demo(args))),
        Command::Ping(args) => runtime().and_then(|rt| rt.block_on(call::run_ping(args))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
