//! `wzp relay-token`: mint a signed access token for a relay that has a token secret.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Args;

use crate::error::CliError;

/// Arguments of `wzp relay-token`.
#[derive(Debug, Args)]
pub struct RelayTokenArgs {
    /// The relay's token secret file (its `tokens.secret_file`).
    #[arg(long)]
    secret_file: PathBuf,
    /// Who the token is for (letters, digits, '-' and '_').
    #[arg(long)]
    name: String,
    /// Days the token stays valid.
    #[arg(long, default_value_t = 30)]
    days: u64,
}

/// Prints a token valid for `days` days.
pub fn run(args: RelayTokenArgs) -> Result<(), CliError> {
    if args.name.is_empty()
        || !args
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(CliError::Usage(format!(
            "--name {:?}: use letters, digits, '-' and '_' only",
            args.name
        )));
    }
    let bytes = std::fs::read(&args.secret_file).map_err(|source| CliError::Io {
        path: args.secret_file.clone(),
        source,
    })?;
    let secret = String::from_utf8_lossy(&bytes).trim().as_bytes().to_vec();
    if secret.len() < 16 {
        return Err(CliError::Usage(
            "the secret file holds fewer than 16 bytes".into(),
        ));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    let expires = now.saturating_add(args.days.saturating_mul(86_400));
    let token = wzp_relay::tokens::mint(&secret, &args.name, expires)
        .ok_or_else(|| CliError::Usage("could not mint a token with this name".into()))?;
    println!("{token}");
    Ok(())
}
