//! `wzp identity new|show|restore|safety-number`: the long-term identity.
//!
//! The identity is one 32-byte seed, stored as hex in a file only its owner
//! can read (`wzp_crypto::identity::store`, written atomically with mode 0600),
//! and shown to people as 24 recovery words. Where the file lives, first match
//! wins: `--identity PATH`, `$WZP_IDENTITY`, `$XDG_CONFIG_HOME/wzp/identity`,
//! `~/.config/wzp/identity`.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde::Serialize;
use wzp_crypto::identity::store;
use wzp_crypto::{Identity, PublicIdentity, Seed, safety_number};
use zeroize::Zeroizing;

use crate::error::CliError;

/// `wzp identity ...`
#[derive(Debug, Args)]
pub struct IdentityArgs {
    /// The identity file [default: $XDG_CONFIG_HOME/wzp/identity, else ~/.config/wzp/identity].
    #[arg(
        long = "identity",
        global = true,
        env = "WZP_IDENTITY",
        value_name = "PATH"
    )]
    path: Option<PathBuf>,
    #[command(subcommand)]
    command: IdentityCommand,
}

/// The identity subcommands.
#[derive(Debug, Subcommand)]
pub enum IdentityCommand {
    /// Create a new random identity, store it, and show its 24 recovery words.
    New {
        /// Replace an existing identity (it is lost unless its words were written down).
        #[arg(long)]
        force: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Show the fingerprint, public key and 24 recovery words of the stored identity.
    Show {
        /// Show the identity of this seed (64 hex digits) instead; nothing is
        /// read or stored. Note that command lines are visible to other local
        /// users while the command runs.
        #[arg(long, value_name = "HEX")]
        seed_hex: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Restore an identity from its 24 recovery words, read from standard input.
    ///
    /// Words are separated by any whitespace, including line breaks; case does
    /// not matter, and the position numbers `wzp identity new` prints in front
    /// of the words ("1", "1.", "1)") are skipped, so its output can be pasted.
    Restore {
        /// Replace an existing identity.
        #[arg(long)]
        force: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print the safety number of the stored identity and another one, to
    /// compare with that person (same on both sides).
    SafetyNumber {
        /// The other identity's Ed25519 public key, 64 hex digits.
        #[arg(value_name = "PUBKEY_HEX")]
        public_key: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Runs an identity subcommand.
pub fn run(args: IdentityArgs) -> Result<(), CliError> {
    match args.command {
        IdentityCommand::New { force, json } => {
            let path = resolve_path(args.path)?;
            refuse_overwrite(&path, force)?;
            let id = Identity::generate(&mut rand_core::OsRng);
            store::save(&path, &id)?;
            print_identity(&id, Some(&path), Origin::New, json)
        }
        IdentityCommand::Show { seed_hex, json } => match seed_hex {
            Some(hex) => {
                let seed = Seed::from_hex(&Zeroizing::new(hex))?;
                print_identity(&Identity::from_seed(seed), None, Origin::Seed, json)
            }
            None => {
                let path = resolve_path(args.path)?;
                let id = load(&path)?;
                print_identity(&id, Some(&path), Origin::Stored, json)
            }
        },
        IdentityCommand::Restore { force, json } => {
            let path = resolve_path(args.path)?;
            refuse_overwrite(&path, force)?;
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                eprintln!("Type or paste the 24 recovery words, then press Ctrl-D.");
            }
            let mut text = Zeroizing::new(String::new());
            stdin
                .lock()
                .read_to_string(&mut text)
                .map_err(|source| CliError::Io {
                    path: PathBuf::from("<stdin>"),
                    source,
                })?;
            let words = Zeroizing::new(strip_position_numbers(&text));
            let id = Identity::from_mnemonic(&words)?;
            store::save(&path, &id)?;
            print_identity(&id, Some(&path), Origin::Restored, json)
        }
        IdentityCommand::SafetyNumber { public_key, json } => {
            let path = resolve_path(args.path)?;
            let ours = load(&path)?.public();
            let theirs = PublicIdentity::from_hex(&public_key)?;
            let number = safety_number(&ours, &theirs);
            if json {
                let out = SafetyJson {
                    safety_number: number.digits(),
                    grouped: number.to_string(),
                    our_fingerprint: ours.fingerprint().to_string(),
                    their_fingerprint: theirs.fingerprint().to_string(),
                };
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                println!("your fingerprint   {}", ours.fingerprint());
                println!("their fingerprint  {}", theirs.fingerprint());
                println!("safety number      {number}");
            }
            Ok(())
        }
    }
}

/// Where the shown identity came from: decides the heading and warnings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    New,
    Restored,
    Stored,
    Seed,
}

#[derive(Serialize)]
struct IdentityJson<'a> {
    /// The identity file, or null for `show --seed-hex`.
    path: Option<String>,
    fingerprint: String,
    public_key: String,
    words: Vec<&'a str>,
}

#[derive(Serialize)]
struct SafetyJson<'a> {
    safety_number: &'a str,
    grouped: String,
    our_fingerprint: String,
    their_fingerprint: String,
}

fn print_identity(
    id: &Identity,
    path: Option<&Path>,
    origin: Origin,
    json: bool,
) -> Result<(), CliError> {
    let phrase = id.mnemonic();
    let words: Vec<&str> = phrase.split_whitespace().collect();
    if json {
        let out = IdentityJson {
            path: path.map(|p| p.display().to_string()),
            fingerprint: id.fingerprint().to_string(),
            public_key: id.public().to_hex(),
            words,
        };
        let text = Zeroizing::new(serde_json::to_string_pretty(&out)?);
        println!("{}", text.as_str());
        if origin == Origin::New {
            eprintln!(
                "Write the 24 words down and keep them secret: they are the only way to restore this identity."
            );
        }
        return Ok(());
    }
    match (origin, path) {
        (Origin::New, Some(p)) => println!("New identity stored in {}", p.display()),
        (Origin::Restored, Some(p)) => println!("Identity restored to {}", p.display()),
        (_, Some(p)) => println!("identity file  {}", p.display()),
        (_, None) => println!("identity of the given seed (not stored)"),
    }
    println!("fingerprint    {}", id.fingerprint());
    println!("public key     {}", id.public().to_hex());
    if origin == Origin::Restored {
        return Ok(());
    }
    println!();
    if origin == Origin::New {
        println!("WRITE THESE 24 WORDS DOWN and keep them somewhere safe and private.");
        println!("They are the only way to restore this identity, and anyone who has");
        println!("them can impersonate you.");
    } else {
        println!("recovery words (secret: anyone who has them can impersonate you):");
    }
    println!();
    let mut line = Zeroizing::new(String::new());
    for (i, w) in words.iter().enumerate() {
        line.push_str(&format!("{:>3}. {:<10}", i + 1, w));
        if i % 4 == 3 {
            println!("{}", line.trim_end());
            line.clear();
        }
    }
    if !line.is_empty() {
        println!("{}", line.trim_end());
    }
    Ok(())
}

/// The identity file to use: the flag or `$WZP_IDENTITY` (clap merges the
/// two), else the per-user config directory.
pub(crate) fn resolve_path(given: Option<PathBuf>) -> Result<PathBuf, CliError> {
    if let Some(p) = given {
        if p.as_os_str().is_empty() {
            return Err(CliError::Usage(
                "--identity / WZP_IDENTITY must not be empty".into(),
            ));
        }
        return Ok(p);
    }
    default_path(
        std::env::var_os("XDG_CONFIG_HOME").map(PathBuf::from),
        std::env::var_os("HOME").map(PathBuf::from),
    )
    .ok_or_else(|| {
        CliError::Usage(
            "no config directory (neither XDG_CONFIG_HOME nor HOME is set): pass --identity PATH"
                .into(),
        )
    })
}

/// `$XDG_CONFIG_HOME/wzp/identity` when that is an absolute path (the XDG
/// spec says to ignore a relative one), else `$HOME/.config/wzp/identity`.
fn default_path(xdg_config_home: Option<PathBuf>, home: Option<PathBuf>) -> Option<PathBuf> {
    let base = match xdg_config_home {
        Some(x) if x.is_absolute() => x,
        _ => home.filter(|h| !h.as_os_str().is_empty())?.join(".config"),
    };
    Some(base.join("wzp").join("identity"))
}

fn refuse_overwrite(path: &Path, force: bool) -> Result<(), CliError> {
    if !force && std::fs::symlink_metadata(path).is_ok() {
        return Err(CliError::IdentityExists {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

fn load(path: &Path) -> Result<Identity, CliError> {
    if std::fs::symlink_metadata(path).is_err() {
        return Err(CliError::NoIdentity {
            path: path.to_path_buf(),
        });
    }
    Ok(store::load(path)?)
}

/// Drops the position numbers `new` prints ("1", "1.", "12)"): they are never
/// BIP39 words, so skipping them cannot turn a wrong phrase into a valid one.
fn strip_position_numbers(text: &str) -> String {
    text.split_whitespace()
        .filter(|t| {
            let t = t.trim_end_matches(['.', ')', ':']);
            t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit())
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_path_prefers_absolute_xdg() {
        let home = Some(PathBuf::from("/home/a"));
        assert_eq!(
            default_path(Some(PathBuf::from("/cfg")), home.clone()),
            Some(PathBuf::from("/cfg/wzp/identity"))
        );
        assert_eq!(
            default_path(Some(PathBuf::from("rel")), home.clone()),
            Some(PathBuf::from("/home/a/.config/wzp/identity"))
        );
        assert_eq!(
            default_path(None, home),
            Some(PathBuf::from("/home/a/.config/wzp/identity"))
        );
        assert_eq!(default_path(None, None), None);
    }

    #[test]
    fn position_numbers_are_skipped() {
        assert_eq!(
            strip_position_numbers("  1. abandon   2. ability\n 3) able\nabout 12"),
            "abandon ability able about"
        );
        assert_eq!(strip_position_numbers("a1 ."), "a1 .");
    }
}
