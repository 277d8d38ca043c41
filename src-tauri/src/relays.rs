//! The relay list: the relays the user keeps ([`Settings::relays`]), the key each is
//! pinned to, and probes of them (round trip, which key it presents, a changed key).
//!
//! A relay's key is pinned in one of two ways: typed by the user (kept on the entry,
//! from the operator) or trusted on first use (kept in the pin store, `relays.json`, the
//! same file calls use). The typed key wins. A changed key is never accepted silently:
//! the probe reports it, the UI shows both keys, and only [`trust`] (the user's explicit
//! choice after asking the operator) replaces the pin.

use std::time::Duration;

use serde::Serialize;
use wzp_transport::{PinStore, RelayFingerprint, TransportError, TransportParams, Trust};

use crate::error::{AppError, Result};
use crate::store::{RelayEntry, Settings};

/// How long a probe waits for the handshake and for each pong.
pub const PROBE_WAIT: Duration = Duration::from_secs(4);

/// The most relays kept (the oldest used fall off).
pub const MAX_RELAYS: usize = 20;

/// A relay as the list shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RelayView {
    /// Display name.
    pub name: String,
    /// HOST:PORT.
    pub address: String,
    /// The key it is pinned to, if any.
    pub fingerprint: Option<String>,
    /// Where that pin came from.
    pub pin: PinSource,
}

/// Where a relay's pinned key came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PinSource {
    /// The user typed it (from the relay's operator).
    Typed,
    /// Recorded at the first connection (trust on first use).
    FirstUse,
    /// Not contacted yet: the next connection pins what it presents.
    None,
}

/// What a probe found.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum PingResult {
    /// The relay answered with the expected key (or, never seen before, its key is now
    /// pinned: `first_use`).
    Ok {
        /// Median signal round trip, milliseconds.
        rtt_ms: f64,
        /// Handshake time, milliseconds.
        handshake_ms: f64,
        /// The key it presented.
        fingerprint: String,
        /// The key was not pinned before this probe and is now.
        first_use: bool,
    },
    /// The relay presented a different key than the one pinned for it: someone may be
    /// intercepting, or the relay was reinstalled. Nothing was sent to it.
    KeyChanged {
        /// The pinned key.
        pinned: String,
        /// The key it presented.
        presented: String,
    },
    /// No connection: the reason in words.
    Unreachable {
        /// Why.
        reason: String,
    },
}

/// The list with each relay's pin.
pub fn list(settings: &Settings, pins: &PinStore) -> Vec<RelayView> {
    settings
        .relays
        .iter()
        .map(|r| {
            let typed = r
                .fingerprint
                .as_deref()
                .map(str::trim)
                .filter(|f| !f.is_empty());
            let (fingerprint, pin) = match typed {
                Some(f) => (Some(f.to_string()), PinSource::Typed),
                None => match pins.get(&r.address) {
                    Ok(Some(fp)) => (Some(fp.to_string()), PinSource::FirstUse),
                    // An unreadable pin shows as none here; a call or probe reports it.
                    Ok(None) | Err(_) => (None, PinSource::None),
                },
            };
            RelayView {
                name: r.name.clone(),
                address: r.address.clone(),
                fingerprint,
                pin,
            }
        })
        .collect()
}

/// Adds a relay at the top of the list (or updates the one at that address). `name`
/// empty: the address. `fingerprint`: the key the operator gave, if any.
pub fn add(
    settings: &mut Settings,
    name: &str,
    address: &str,
    fingerprint: Option<&str>,
) -> Result<()> {
    let address = address.trim();
    check_address(address)?;
    let name = match name.trim() {
        "" => address,
        n if n.chars().count() > 64 => {
            return Err(AppError::invalid("relay name", "at most 64 characters"));
        }
        n => n,
    };
    let fingerprint = match fingerprint.map(str::trim).filter(|f| !f.is_empty()) {
        Some(f) => Some(
            RelayFingerprint::parse(f)
                .map_err(|e| AppError::invalid("relay fingerprint", e))?
                .to_string(),
        ),
        None => None,
    };
    settings.relays.retain(|r| r.address != address);
    settings.relays.insert(
        0,
        RelayEntry {
            name: name.to_string(),
            address: address.to_string(),
            fingerprint,
        },
    );
    settings.relays.truncate(MAX_RELAYS);
    Ok(())
}

/// Checks that `address` is HOST:PORT (a name, an IPv4 address or a bracketed IPv6
/// address, and a port 1-65535) without looking the name up: a relay whose name does not
/// resolve right now can still be kept (its ping says so).
fn check_address(address: &str) -> Result<()> {
    let bad = |why: &str| AppError::invalid("relay", format!("“{address}”: {why}"));
    let (host, port) = address
        .rsplit_once(':')
        .ok_or_else(|| bad("give it as HOST:PORT"))?;
    match port.parse::<u16>() {
        Ok(p) if p > 0 => {}
        _ => return Err(bad("the port must be a number from 1 to 65535")),
    }
    let host_ok = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
        None => {
            !host.is_empty()
                && host.len() <= 253
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        }
    };
    if host_ok {
        Ok(())
    } else {
        Err(bad(
            "the host must be a name, an IPv4 address or [an IPv6 address]",
        ))
    }
}

/// Removes a relay and forgets its pinned key (added again, it is trusted on first use
/// again, or by the key typed then).
pub fn remove(settings: &mut Settings, pins: &mut PinStore, address: &str) -> Result<()> {
    let before = settings.relays.len();
    settings.relays.retain(|r| r.address != address);
    if settings.relays.len() == before {
        return Err(AppError::invalid(
            "relay",
            format!("{address} is not in the list"),
        ));
    }
    if settings.receive_relay.as_deref() == Some(address) {
        settings.receive_relay = None;
    }
    pins.forget(address).map_err(storage)
}

/// The user accepts `fingerprint` as the relay's key after a change: it replaces the
/// pin (and a typed key on the entry).
pub fn trust(
    settings: &mut Settings,
    pins: &mut PinStore,
    address: &str,
    fingerprint: &str,
) -> Result<()> {
    let fp = RelayFingerprint::parse(fingerprint.trim())
        .map_err(|e| AppError::invalid("relay fingerprint", e))?;
    for r in settings.relays.iter_mut().filter(|r| r.address == address) {
        if r.fingerprint.is_some() {
            r.fingerprint = Some(fp.to_string());
        }
    }
    pins.pin(address, fp).map_err(storage)
}

/// The trust a connection to `entry` uses: its typed key, else the pin store.
pub fn trust_for(entry_fingerprint: Option<&str>, pins: &PinStore, address: &str) -> Result<Trust> {
    match entry_fingerprint.map(str::trim).filter(|f| !f.is_empty()) {
        Some(f) => Ok(Trust::Pinned(
            RelayFingerprint::parse(f).map_err(|e| AppError::invalid("relay fingerprint", e))?,
        )),
        None => pins.trust_for(address).map_err(storage),
    }
}

/// Probes the relay at `address` under `trust`. A relay seen for the first time is
/// pinned in `pins` (trust on first use, as a call would).
pub async fn ping(address: &str, trust: Trust, pins: &mut PinStore) -> Result<PingResult> {
    check_address(address)?;
    // Looked up without blocking the runtime (a slow resolver must not stall other
    // commands); a name that does not resolve is an unreachable relay, not bad input.
    let addr = match tokio::net::lookup_host(address).await.map(|mut a| a.next()) {
        Ok(Some(a)) => a,
        Ok(None) => {
            return Ok(PingResult::Unreachable {
                reason: format!("{address}: no address found"),
            });
        }
        Err(e) => {
            return Ok(PingResult::Unreachable {
                reason: format!("{address}: {e}"),
            });
        }
    };
    let bind = if addr.is_ipv6() {
        std::net::SocketAddr::from(([0u16; 8], 0))
    } else {
        std::net::SocketAddr::from(([0, 0, 0, 0], 0))
    };
    let endpoint = wzp_transport::client_endpoint(bind)
        .map_err(|e| AppError::Internal(format!("cannot open a network socket: {e}")))?;
    let server_name = wzp_engine::RelayConfig::server_name_of(address);
    let first_use = matches!(trust, Trust::FirstUse);
    let probe = wzp_transport::probe(
        &endpoint,
        addr,
        &server_name,
        &trust,
        &TransportParams::default(),
        PROBE_WAIT,
    )
    .await;
    Ok(match probe {
        Ok(report) => {
            if first_use {
                pins.pin(address, report.relay).map_err(storage)?;
                tracing::info!(relay = %address, fingerprint = %report.relay, "relay pinned on first use (probe)");
            }
            PingResult::Ok {
                rtt_ms: report.rtt.as_secs_f64() * 1e3,
                handshake_ms: report.handshake.as_secs_f64() * 1e3,
                fingerprint: report.relay.to_string(),
                first_use,
            }
        }
        Err(TransportError::RelayKeyChanged {
            expected,
            presented,
        }) => {
            tracing::warn!(relay = %address, pinned = %expected, %presented, "relay key changed");
            PingResult::KeyChanged {
                pinned: expected.to_string(),
                presented: presented.to_string(),
            }
        }
        Err(e) => {
            tracing::info!(relay = %address, error = %e, "relay probe failed");
            PingResult::Unreachable {
                reason: e.to_string(),
            }
        }
    })
}

/// A pin store error (its message names the file).
fn storage(e: TransportError) -> AppError {
    AppError::Storage {
        path: "the relay pin store".into(),
        detail: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!(
            "wzp-relays-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn fp(byte: u8) -> RelayFingerprint {
        RelayFingerprint([byte; 32])
    }

    #[test]
    fn add_validates_and_puts_the_relay_first_once() {
        let mut s = Settings::default();
        add(&mut s, "", "127.0.0.1:4433", None).unwrap();
        add(&mut s, " Home ", "127.0.0.1:5000", Some(&fp(7).to_string())).unwrap();
        add(&mut s, "Again", "127.0.0.1:4433", None).unwrap();
        let names: Vec<_> = s.relays.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["Again", "Home"]);
        assert_eq!(s.relays[1].fingerprint, Some(fp(7).to_string()));
        for bad in [
            "no port here",
            "host:0",
            "host:70000",
            "ho st:1",
            ":4433",
            "[::1:4433",
            "[nope]:1",
        ] {
            let e = add(&mut s, "", bad, None).unwrap_err();
            assert_eq!(e.kind(), "invalid_input", "{bad}");
        }
        // Kept without a lookup: a name that does not resolve now can still be added.
        add(&mut s, "", "relay.invalid:4433", None).unwrap();
        add(&mut s, "", "[::1]:4433", None).unwrap();
        s.relays
            .retain(|r| !["relay.invalid:4433", "[::1]:4433"].contains(&r.address.as_str()));
        let bad_fp = add(&mut s, "", "127.0.0.1:1", Some("12:34")).unwrap_err();
        assert!(
            bad_fp.to_string().starts_with("relay fingerprint"),
            "{bad_fp}"
        );
        let long = "x".repeat(65);
        assert!(add(&mut s, &long, "127.0.0.1:1", None).is_err());
        assert_eq!(s.relays.len(), 2, "refused additions leave the list alone");
        for port in 0..30 {
            add(&mut s, "", &format!("127.0.0.1:{}", 6000 + port), None).unwrap();
        }
        assert_eq!(s.relays.len(), MAX_RELAYS);
    }

    #[test]
    fn the_list_shows_typed_keys_over_first_use_pins() {
        let d = scratch("list");
        let mut pins = PinStore::load(&d.join("relays.json")).unwrap();
        let mut s = Settings::default();
        add(&mut s, "", "127.0.0.1:1", None).unwrap();
        add(&mut s, "", "127.0.0.1:2", None).unwrap();
        add(&mut s, "", "127.0.0.1:3", Some(&fp(3).to_string())).unwrap();
        pins.pin("127.0.0.1:2", fp(2)).unwrap();
        pins.pin("127.0.0.1:3", fp(9)).unwrap();
        let v = list(&s, &pins);
        let got: Vec<_> = v
            .iter()
            .map(|r| (r.address.as_str(), r.fingerprint.clone(), r.pin))
            .collect();
        assert_eq!(
            got,
            [
                ("127.0.0.1:3", Some(fp(3).to_string()), PinSource::Typed),
                ("127.0.0.1:2", Some(fp(2).to_string()), PinSource::FirstUse),
                ("127.0.0.1:1", None, PinSource::None),
            ]
        );
        // Removing forgets the pin; trusting replaces both kinds of pin.
        remove(&mut s, &mut pins, "127.0.0.1:2").unwrap();
        assert_eq!(pins.get("127.0.0.1:2").unwrap(), None);
        assert!(remove(&mut s, &mut pins, "127.0.0.1:2").is_err());
        trust(&mut s, &mut pins, "127.0.0.1:3", &fp(4).to_string()).unwrap();
        assert_eq!(s.relays[0].fingerprint, Some(fp(4).to_string()));
        let reloaded = PinStore::load(&d.join("relays.json")).unwrap();
        assert_eq!(reloaded.get("127.0.0.1:3").unwrap(), Some(fp(4)));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[tokio::test]
    async fn ping_pins_on_first_use_and_reports_a_changed_key() {
        let d = scratch("ping");
        let host = crate::host::Host::start("127.0.0.1:0", &d.join("relay-key"))
            .await
            .unwrap();
        let address = host.info().local_address.clone();
        let real = host.info().fingerprint.clone();
        let mut pins = PinStore::load(&d.join("relays.json")).unwrap();

        let trust_now = |pins: &PinStore| trust_for(None, pins, &address).unwrap();
        let first = ping(&address, trust_now(&pins), &mut pins).await.unwrap();
        match &first {
            PingResult::Ok {
                rtt_ms,
                fingerprint,
                first_use,
                ..
            } => {
                assert_eq!(fingerprint, &real);
                assert!(*first_use);
                assert!(*rtt_ms > 0.0 && *rtt_ms < 4000.0, "{first:?}");
            }
            other => panic!("expected an answer, got {other:?}"),
        }
        assert_eq!(
            pins.get(&address).unwrap().map(|f| f.to_string()),
            Some(real.clone())
        );
        let again = ping(&address, trust_now(&pins), &mut pins).await.unwrap();
        assert!(
            matches!(
                again,
                PingResult::Ok {
                    first_use: false,
                    ..
                }
            ),
            "{again:?}"
        );

        // The pin says another key: the probe reports both and pins nothing.
        pins.pin(&address, fp(1)).unwrap();
        let changed = ping(&address, trust_now(&pins), &mut pins).await.unwrap();
        assert_eq!(
            changed,
            PingResult::KeyChanged {
                pinned: fp(1).to_string(),
                presented: real.clone(),
            }
        );
        assert_eq!(pins.get(&address).unwrap(), Some(fp(1)));
        // A typed key is used over the pin store.
        let typed = trust_for(Some(&real), &pins, &address).unwrap();
        let ok = ping(&address, typed, &mut pins).await.unwrap();
        assert!(
            matches!(
                ok,
                PingResult::Ok {
                    first_use: false,
                    ..
                }
            ),
            "{ok:?}"
        );

        host.stop().await;
        let gone = ping(&address, trust_now(&pins), &mut pins).await.unwrap();
        assert!(matches!(gone, PingResult::Unreachable { .. }), "{gone:?}");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
