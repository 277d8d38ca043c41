//! `wzp://` links: a room, a person to call, or a contact to save, shared as a URL.
//!
//! A link never starts anything by itself: the UI fills in the matching form and the user
//! presses the button, so a link clicked by mistake (or planted on a web page) cannot
//! switch the microphone on. Everything in a link comes from outside, so it is parsed
//! strictly here, with a specific error for each way it can be wrong.
//!
//! Forms (values percent-encoded, parameters in any order, unknown ones ignored so a
//! newer app's links still open):
//!
//! - `wzp://join?room=NAME&relay=HOST:PORT&relay_fp=HEX` (room required)
//! - `wzp://call?to=FINGERPRINT&relay=HOST:PORT&relay_fp=HEX` (`to` required)
//! - `wzp://contact?fp=FINGERPRINT&name=NAME` (`fp` required)

use serde::Serialize;

use crate::error::{AppError, Result};

/// The scheme the app registers.
pub const SCHEME: &str = "wzp";
/// Longest link accepted: far more than any real link, small enough that a pasted
/// document is refused before it is parsed.
const MAX_LEN: usize = 2048;
/// Longest room name (the same limit `join_room` applies).
const MAX_ROOM: usize = 128;
/// Longest contact name (the same limit contacts apply).
const MAX_NAME: usize = 64;

/// What a link asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Link {
    /// Join a room.
    Join {
        /// Room name.
        room: String,
        /// Relay HOST:PORT, if the link names one.
        relay: Option<String>,
        /// The relay's certificate fingerprint, if given.
        relay_fingerprint: Option<String>,
    },
    /// Call someone by identity fingerprint.
    Call {
        /// Whom (canonical hex).
        fingerprint: String,
        /// Relay HOST:PORT, if the link names one.
        relay: Option<String>,
        /// The relay's certificate fingerprint, if given.
        relay_fingerprint: Option<String>,
    },
    /// Save a contact.
    Contact {
        /// Whose (canonical hex).
        fingerprint: String,
        /// Suggested name.
        name: Option<String>,
    },
}

fn bad(reason: impl std::fmt::Display) -> AppError {
    AppError::invalid("link", reason)
}

/// Parses a `wzp://` link.
pub fn parse(text: &str) -> Result<Link> {
    let text = text.trim();
    if text.len() > MAX_LEN {
        return Err(bad(format!("longer than {MAX_LEN} characters")));
    }
    let url = url::Url::parse(text).map_err(|e| bad(format!("not a link ({e})")))?;
    if url.scheme() != SCHEME {
        return Err(bad(format!("not a {SCHEME}:// link")));
    }
    let mut q = Query::default();
    for (k, v) in url.query_pairs() {
        q.set(&k, v.trim())?;
    }
    let action = url.host_str().unwrap_or_default();
    if !matches!(url.path(), "" | "/") {
        return Err(bad(format!("unexpected path {:?}", url.path())));
    }
    match action {
        "join" => {
            let room = q.room.ok_or_else(|| bad("no room named"))?;
            if room.chars().count() > MAX_ROOM {
                return Err(bad(format!("room name longer than {MAX_ROOM} characters")));
            }
            Ok(Link::Join {
                room,
                relay: q.relay,
                relay_fingerprint: q.relay_fp,
            })
        }
        "call" => Ok(Link::Call {
            fingerprint: q.to.ok_or_else(|| bad("no one to call (to=)"))?,
            relay: q.relay,
            relay_fingerprint: q.relay_fp,
        }),
        "contact" => {
            let name = q.name;
            if name.as_ref().is_some_and(|n| n.chars().count() > MAX_NAME) {
                return Err(bad(format!("name longer than {MAX_NAME} characters")));
            }
            Ok(Link::Contact {
                fingerprint: q.fp.ok_or_else(|| bad("no fingerprint (fp=)"))?,
                name,
            })
        }
        "" => Err(bad("no action (join, call or contact)")),
        other => Err(bad(format!(
            "unknown action {other:?} (join, call or contact)"
        ))),
    }
}

/// The parameters, each checked as it is read.
#[derive(Default)]
struct Query {
    room: Option<String>,
    relay: Option<String>,
    relay_fp: Option<String>,
    to: Option<String>,
    fp: Option<String>,
    name: Option<String>,
}

impl Query {
    fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let slot = match key {
            "room" => &mut self.room,
            "name" => &mut self.name,
            "relay" => {
                check_relay(value)?;
                &mut self.relay
            }
            "relay_fp" => {
                wzp_transport::RelayFingerprint::parse(value)
                    .map_err(|e| bad(format!("relay fingerprint: {e}")))?;
                &mut self.relay_fp
            }
            "to" | "fp" => {
                let fp = wzp_proto::Fingerprint::parse(value)
                    .map_err(|e| bad(format!("fingerprint: {e}")))?;
                let canonical = hex::encode(fp.0);
                let slot = if key == "to" {
                    &mut self.to
                } else {
                    &mut self.fp
                };
                return put(slot, key, canonical);
            }
            other => {
                tracing::debug!(parameter = other, "unknown link parameter ignored");
                return Ok(());
            }
        };
        if value.is_empty() {
            return Err(bad(format!("{key} is empty")));
        }
        put(slot, key, value.to_string())
    }
}

fn put(slot: &mut Option<String>, key: &str, value: String) -> Result<()> {
    if slot.replace(value).is_some() {
        return Err(bad(format!("{key} given twice")));
    }
    Ok(())
}

/// HOST:PORT by syntax only (no name lookup for a link nobody has acted on yet).
fn check_relay(v: &str) -> Result<()> {
    let (host, port) = v
        .rsplit_once(':')
        .ok_or_else(|| bad(format!("relay {v:?} is not HOST:PORT")))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port_ok = port.parse::<u16>().is_ok_and(|p| p != 0);
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'));
    if port_ok && host_ok {
        Ok(())
    } else {
        Err(bad(format!("relay {v:?} is not HOST:PORT")))
    }
}

/// What the UI is told about an opened link: the request, or why it was refused.
#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Opened {
    /// A valid link.
    Link(Link),
    /// A link that could not be used, and why.
    Refused(AppError),
}

impl Opened {
    /// Parses `text`, keeping a refusal as a value for the UI.
    #[must_use]
    pub fn from_text(text: &str) -> Self {
        match parse(text) {
            Ok(l) => Self::Link(l),
            Err(e) => {
                tracing::warn!(error = %e, "a wzp:// link was refused");
                Self::Refused(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP: &str = "00112233445566778899aabbccddeeff";

    #[test]
    fn the_three_forms() {
        assert_eq!(
            parse("wzp://join?room=team%20sync&relay=relay.example:4433").ok(),
            Some(Link::Join {
                room: "team sync".into(),
                relay: Some("relay.example:4433".into()),
                relay_fingerprint: None,
            })
        );
        let with_colons = "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF";
        assert_eq!(
            parse(&format!("wzp://call?to={with_colons}&relay=[::1]:4433")).ok(),
            Some(Link::Call {
                fingerprint: FP.into(),
                relay: Some("[::1]:4433".into()),
                relay_fingerprint: None,
            })
        );
        assert_eq!(
            parse(&format!("wzp://contact?name=Zo%C3%AB&fp={FP}&future=1")).ok(),
            Some(Link::Contact {
                fingerprint: FP.into(),
                name: Some("Zoë".into()),
            })
        );
    }

    #[test]
    fn each_mistake_is_named() {
        let why = |l: &str| match parse(l) {
            Err(AppError::InvalidInput { reason, .. }) => reason,
            other => panic!("{l}: {other:?}"),
        };
        assert!(why("https://join?room=a").contains("not a wzp://"));
        assert!(why("wzp://join").contains("no room"));
        assert!(why("wzp://join?room=").contains("room is empty"));
        assert!(why("wzp://join?room=a&room=b").contains("twice"));
        assert!(why("wzp://dance?room=a").contains("unknown action"));
        assert!(why("wzp://join/x?room=a").contains("unexpected path"));
        assert!(why("wzp://join?room=a&relay=nohost").contains("HOST:PORT"));
        assert!(why("wzp://join?room=a&relay=h:0").contains("HOST:PORT"));
        assert!(why("wzp://join?room=a&relay=h%20x:1").contains("HOST:PORT"));
        assert!(why("wzp://call?to=xyz").contains("fingerprint"));
        assert!(why("wzp://call").contains("no one to call"));
        assert!(why("wzp://contact?fp=00").contains("fingerprint"));
        assert!(why(&format!("wzp://join?room={}", "r".repeat(129))).contains("longer"));
        assert!(why(&format!("wzp://join?room={}", "r".repeat(3000))).contains("2048"));
        assert!(why("not a url").contains("not a link"));
    }

    proptest::proptest! {
        #[test]
        fn anything_parses_or_is_refused_without_panicking(s in "\\PC{0,300}") {
            let _ = parse(&s);
            let _ = parse(&format!("wzp://join?{s}"));
        }
    }
}
