//! Relay settings from a TOML file, the environment and flags (flags win, then
//! environment, then the file, then defaults). Every setting is checked at
//! start, and a bad one is refused with a message that names it.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use serde::Deserialize;

use crate::core::{CoreConfig, Limits};
use crate::error::{RelayError, Result};
use crate::rate::RateLimits;
use crate::tokens::TokenPolicy;

/// Default QUIC port.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:4433";
/// Default metrics address (loopback only: metrics are for the operator).
pub const DEFAULT_METRICS: &str = "127.0.0.1:9433";

/// Command-line flags of `wzp relay` / `wzp-relay`. Each can also come from the
/// environment variable shown, or from the config file.
#[derive(Debug, Clone, Default, Args)]
pub struct RelayArgs {
    /// TOML config file (keys as the long flags, with `_` for `-`; limits and tokens in [limits] and [tokens]).
    #[arg(long, env = "WZP_RELAY_CONFIG")]
    pub config: Option<PathBuf>,
    /// UDP address for QUIC [default: 0.0.0.0:4433].
    #[arg(long, env = "WZP_RELAY_LISTEN")]
    pub listen: Option<String>,
    /// HTTP address for /metrics and /healthz, or "off" [default: 127.0.0.1:9433].
    #[arg(long, env = "WZP_RELAY_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
    /// File holding the relay's TLS key; created on first start [default: $STATE_DIRECTORY/relay.key or ~/.local/share/wzp/relay.key].
    #[arg(long, env = "WZP_RELAY_IDENTITY_FILE")]
    pub identity_file: Option<PathBuf>,
    /// PEM certificate chain from a CA (instead of the self-signed, pinned identity).
    #[arg(long, env = "WZP_RELAY_TLS_CERT_FILE", requires = "tls_key_file")]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM (PKCS#8) private key for --tls-cert-file.
    #[arg(long, env = "WZP_RELAY_TLS_KEY_FILE", requires = "tls_cert_file")]
    pub tls_key_file: Option<PathBuf>,
    /// Most connected clients at once [default: 1000].
    #[arg(long, env = "WZP_RELAY_MAX_SESSIONS")]
    pub max_sessions: Option<usize>,
    /// Most rooms at once [default: 500].
    #[arg(long, env = "WZP_RELAY_MAX_ROOMS")]
    pub max_rooms: Option<usize>,
    /// Most participants in one room [default: 64].
    #[arg(long, env = "WZP_RELAY_MAX_PARTICIPANTS")]
    pub max_participants: Option<usize>,
    /// Media packets per second one client may send [default: 1500].
    #[arg(long, env = "WZP_RELAY_MAX_PACKETS_PER_SEC")]
    pub max_packets_per_sec: Option<u32>,
    /// Media bytes per second one client may send [default: 1500000].
    #[arg(long, env = "WZP_RELAY_MAX_BYTES_PER_SEC")]
    pub max_bytes_per_sec: Option<u64>,
    /// Seconds a client may stay over its rate limit before it is disconnected [default: 5].
    #[arg(long, env = "WZP_RELAY_RATE_GRACE_SECS")]
    pub rate_grace_secs: Option<u64>,
    /// Seconds a direct call rings before it times out [default: 30].
    #[arg(long, env = "WZP_RELAY_RING_TIMEOUT_SECS")]
    pub ring_timeout_secs: Option<u64>,
    /// Seconds an answered direct call waits for a party whose connection dropped to rejoin before it ends [default: 30].
    #[arg(long, env = "WZP_RELAY_CALL_GRACE_SECS")]
    pub call_grace_secs: Option<u64>,
    /// Keyframe requests for one stream within this many ms become one [default: 200].
    #[arg(long, env = "WZP_RELAY_KEYFRAME_WINDOW_MS")]
    pub keyframe_window_ms: Option<u64>,
    /// Hold media for one receiver up to this many ms so several datagrams share a UDP packet (0 = send at once) [default: 0].
    #[arg(long, env = "WZP_RELAY_BATCH_MS")]
    pub batch_ms: Option<u64>,
    /// Worker threads for the relay's runtime [default: number of CPUs].
    #[arg(long, env = "WZP_RELAY_THREADS")]
    pub threads: Option<usize>,
    /// An access token clients may present (repeat for several). Setting any token makes tokens required.
    #[arg(long = "token", env = "WZP_RELAY_TOKENS", value_delimiter = ',')]
    pub tokens: Vec<String>,
    /// File with the secret for signed (HMAC) access tokens. Makes tokens required.
    #[arg(long, env = "WZP_RELAY_TOKEN_SECRET_FILE")]
    pub token_secret_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct FileConfig {
    listen: Option<String>,
    metrics_listen: Option<String>,
    identity_file: Option<PathBuf>,
    tls_cert_file: Option<PathBuf>,
    tls_key_file: Option<PathBuf>,
    ring_timeout_secs: Option<u64>,
    call_grace_secs: Option<u64>,
    keyframe_window_ms: Option<u64>,
    batch_ms: Option<u64>,
    limits: FileLimits,
    tokens: FileTokens,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct FileLimits {
    max_sessions: Option<usize>,
    max_rooms: Option<usize>,
    max_participants: Option<usize>,
    max_packets_per_sec: Option<u32>,
    max_bytes_per_sec: Option<u64>,
    rate_grace_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct FileTokens {
    #[serde(rename = "static")]
    static_tokens: Vec<String>,
    secret_file: Option<PathBuf>,
}

/// Where the relay's TLS identity comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentitySource {
    /// Self-signed from a key file (created if missing); clients pin it.
    KeyFile(PathBuf),
    /// A CA-issued certificate and key.
    Pem {
        /// Certificate chain.
        cert: PathBuf,
        /// Private key.
        key: PathBuf,
    },
}

/// Every setting, resolved and checked.
#[derive(Debug, Clone)]
pub struct Settings {
    /// QUIC address.
    pub listen: SocketAddr,
    /// Metrics address, if enabled.
    pub metrics_listen: Option<SocketAddr>,
    /// TLS identity.
    pub identity: IdentitySource,
    /// What the core needs.
    pub core: CoreConfig,
    /// Per-client media rate limits.
    pub rate: RateLimits,
    /// Batching window for forwarded media (zero: none); see `outbox`.
    pub batch: Duration,
}

fn positive<T: PartialOrd + Default + std::fmt::Display>(setting: &'static str, v: T) -> Result<T> {
    if v > T::default() {
        Ok(v)
    } else {
        Err(RelayError::Config {
            setting,
            reason: format!("must be greater than zero, got {v}"),
        })
    }
}

fn addr(setting: &'static str, s: &str) -> Result<SocketAddr> {
    s.parse().map_err(|e| RelayError::Config {
        setting,
        reason: format!("{s:?} is not an address like 0.0.0.0:4433 ({e})"),
    })
}

/// The default identity key path: systemd's state directory if set, else the
/// user's data directory.
#[must_use]
pub fn default_identity_file() -> PathBuf {
    if let Some(d) = std::env::var_os("STATE_DIRECTORY") {
        return Path::new(&d).join("relay.key");
    }
    if let Some(d) = std::env::var_os("XDG_DATA_HOME") {
        return Path::new(&d).join("wzp").join("relay.key");
    }
    if let Some(h) = std::env::var_os("HOME") {
        return Path::new(&h).join(".local/share/wzp/relay.key");
    }
    PathBuf::from("wzp-relay.key")
}

impl Settings {
    /// Resolves flags/environment over the config file over defaults, and checks every value.
    pub fn resolve(args: &RelayArgs) -> Result<Self> {
        let file = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| RelayError::ConfigFile {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
                toml::from_str::<FileConfig>(&text).map_err(|e| RelayError::ConfigFile {
                    path: path.clone(),
                    reason: e.to_string(),
                })?
            }
            None => FileConfig::default(),
        };
        let listen = addr(
            "listen",
            args.listen
                .as_deref()
                .or(file.listen.as_deref())
                .unwrap_or(DEFAULT_LISTEN),
        )?;
        let metrics_text = args
            .metrics_listen
            .as_deref()
            .or(file.metrics_listen.as_deref())
            .unwrap_or(DEFAULT_METRICS);
        let metrics_listen = match metrics_text {
            "off" | "" => None,
            s => Some(addr("metrics_listen", s)?),
        };
        let cert = args.tls_cert_file.clone().or(file.tls_cert_file);
        let key = args.tls_key_file.clone().or(file.tls_key_file);
        let identity = match (cert, key) {
            (Some(cert), Some(key)) => IdentitySource::Pem { cert, key },
            (None, None) => IdentitySource::KeyFile(
                args.identity_file
                    .clone()
                    .or(file.identity_file)
                    .unwrap_or_else(default_identity_file),
            ),
            (Some(_), None) => {
                return Err(RelayError::Config {
                    setting: "tls_key_file",
                    reason: "required with tls_cert_file".into(),
                });
            }
            (None, Some(_)) => {
                return Err(RelayError::Config {
                    setting: "tls_cert_file",
                    reason: "required with tls_key_file".into(),
                });
            }
        };
        let l = &file.limits;
        let limits = Limits {
            max_sessions: positive(
                "max_sessions",
                args.max_sessions.or(l.max_sessions).unwrap_or(1000),
            )?,
            max_rooms: positive("max_rooms", args.max_rooms.or(l.max_rooms).unwrap_or(500))?,
            max_participants: positive(
                "max_participants",
                args.max_participants.or(l.max_participants).unwrap_or(64),
            )?,
        };
        if limits.max_participants > usize::from(u16::MAX - 1) {
            return Err(RelayError::Config {
                setting: "max_participants",
                reason: format!("at most {} (participant ids are 16-bit)", u16::MAX - 1),
            });
        }
        let rate = RateLimits {
            packets_per_sec: positive(
                "max_packets_per_sec",
                args.max_packets_per_sec
                    .or(l.max_packets_per_sec)
                    .unwrap_or(1500),
            )?,
            bytes_per_sec: positive(
                "max_bytes_per_sec",
                args.max_bytes_per_sec
                    .or(l.max_bytes_per_sec)
                    .unwrap_or(1_500_000),
            )?,
            grace: Duration::from_secs(positive(
                "rate_grace_secs",
                args.rate_grace_secs.or(l.rate_grace_secs).unwrap_or(5),
            )?),
        };
        let mut static_tokens: HashSet<String> = file.tokens.static_tokens.into_iter().collect();
        static_tokens.extend(args.tokens.iter().cloned());
        if static_tokens.iter().any(|t| t.trim().is_empty()) {
            return Err(RelayError::Config {
                setting: "tokens",
                reason: "empty token".into(),
            });
        }
        let hmac_secret = match args.token_secret_file.clone().or(file.tokens.secret_file) {
            Some(path) => {
                let bytes = std::fs::read(&path).map_err(|e| RelayError::Config {
                    setting: "token_secret_file",
                    reason: format!("{}: {e}", path.display()),
                })?;
                let trimmed = String::from_utf8_lossy(&bytes).trim().as_bytes().to_vec();
                if trimmed.len() < 16 {
                    return Err(RelayError::Config {
                        setting: "token_secret_file",
                        reason: "secret must be at least 16 bytes".into(),
                    });
                }
                Some(trimmed)
            }
            None => None,
        };
        let core = CoreConfig {
            limits,
            tokens: TokenPolicy {
                static_tokens,
                hmac_secret,
            },
            ring_timeout: Duration::from_secs(positive(
                "ring_timeout_secs",
                args.ring_timeout_secs
                    .or(file.ring_timeout_secs)
                    .unwrap_or(30),
            )?),
            call_grace: Duration::from_secs(positive(
                "call_grace_secs",
                args.call_grace_secs.or(file.call_grace_secs).unwrap_or(30),
            )?),
            keyframe_window: Duration::from_millis(
                args.keyframe_window_ms
                    .or(file.keyframe_window_ms)
                    .unwrap_or(200),
            ),
        };
        let batch_ms = args.batch_ms.or(file.batch_ms).unwrap_or(0);
        if batch_ms > 20 {
            return Err(RelayError::Config {
                setting: "batch_ms",
                reason: format!("{batch_ms} ms would add audible delay; at most 20"),
            });
        }
        Ok(Self {
            listen,
            metrics_listen,
            identity,
            core,
            rate,
            batch: Duration::from_millis(batch_ms),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("wzp-relay-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn defaults_without_anything() {
        let s = Settings::resolve(&RelayArgs::default()).unwrap();
        assert_eq!(s.listen, DEFAULT_LISTEN.parse().unwrap());
        assert_eq!(s.core.limits.max_participants, 64);
        assert!(!s.core.tokens.required());
    }

    #[test]
    fn flags_win_over_file() {
        let p = write(
            "a.toml",
            "listen = \"127.0.0.1:5000\"\n[limits]\nmax_rooms = 7\nmax_sessions = 9\n[tokens]\nstatic = [\"t1\"]\n",
        );
        let args = RelayArgs {
            config: Some(p),
            max_sessions: Some(3),
            ..Default::default()
        };
        let s = Settings::resolve(&args).unwrap();
        assert_eq!(s.listen.port(), 5000);
        assert_eq!(s.core.limits.max_rooms, 7);
        assert_eq!(s.core.limits.max_sessions, 3);
        assert!(s.core.tokens.required());
    }

    #[test]
    fn bad_settings_are_named() {
        let err = |args: RelayArgs| Settings::resolve(&args).unwrap_err().to_string();
        assert!(
            err(RelayArgs {
                listen: Some("nowhere".into()),
                ..Default::default()
            })
            .contains("`listen`")
        );
        assert!(
            err(RelayArgs {
                max_participants: Some(0),
                ..Default::default()
            })
            .contains("`max_participants`")
        );
        let p = write("b.toml", "lisen = \"1.2.3.4:5\"\n");
        let e = err(RelayArgs {
            config: Some(p),
            ..Default::default()
        });
        assert!(e.contains("unknown field `lisen`"), "{e}");
        let p = write("short.secret", "short");
        assert!(
            err(RelayArgs {
                token_secret_file: Some(p),
                ..Default::default()
            })
            .contains("`token_secret_file`")
        );
    }
}
