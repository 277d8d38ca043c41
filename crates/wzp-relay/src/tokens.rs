//! Access tokens: who may use a relay.
//!
//! A relay for friends can require a token. Two kinds are accepted:
//! - static tokens listed in the config (simple; revoke by removing);
//! - signed tokens `v1.<subject>.<expires_unix>.<hmac>` where `hmac` is the hex
//!   HMAC-SHA256 of `v1.<subject>.<expires_unix>` under a secret only the relay
//!   operator has. They expire by themselves, and the relay keeps no list.

use std::collections::HashSet;

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The relay requires a token and none was given.
    #[error("this relay requires an access token")]
    Missing,
    /// Not a static token, and not a well-formed signed one.
    #[error("unknown or malformed access token")]
    Unknown,
    /// A signed token whose signature does not verify.
    #[error("access token signature invalid")]
    BadSignature,
    /// A signed token past its expiry.
    #[error("access token expired at {0} (unix time)")]
    Expired(u64),
}

/// Which tokens the relay accepts.
#[derive(Debug, Clone, Default)]
pub struct TokenPolicy {
    /// Tokens accepted as they are.
    pub static_tokens: HashSet<String>,
    /// Secret for signed tokens.
    pub hmac_secret: Option<Vec<u8>>,
}

impl TokenPolicy {
    /// True when clients must present a token.
    #[must_use]
    pub fn required(&self) -> bool {
        !self.static_tokens.is_empty() || self.hmac_secret.is_some()
    }

    /// Checks a token at `now_unix`; returns the subject it names (the token
    /// itself for static tokens, never logged).
    pub fn check(&self, token: Option<&str>, now_unix: u64) -> Result<Option<String>, TokenError> {
        if !self.required() {
            return Ok(None);
        }
        let token = token.ok_or(TokenError::Missing)?;
        if self.static_tokens.contains(token) {
            return Ok(Some("static".into()));
        }
        let secret = self.hmac_secret.as_deref().ok_or(TokenError::Unknown)?;
        let mut parts = token.split('.');
        let (Some("v1"), Some(subject), Some(expires), Some(mac_hex), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(TokenError::Unknown);
        };
        let expires: u64 = expires.parse().map_err(|_| TokenError::Unknown)?;
        let mac_bytes = hex::decode(mac_hex).map_err(|_| TokenError::Unknown)?;
        let mut mac = HmacSha256::new_from_slice(secret).map_err(|_| TokenError::Unknown)?;
        mac.update(format!("v1.{subject}.{expires}").as_bytes());
        mac.verify_slice(&mac_bytes)
            .map_err(|_| TokenError::BadSignature)?;
        if now_unix >= expires {
            return Err(TokenError::Expired(expires));
        }
        Ok(Some(subject.to_string()))
    }
}

/// Makes a signed token for `subject` valid until `expires_unix`. The subject
/// must not contain '.'.
#[must_use]
pub fn mint(secret: &[u8], subject: &str, expires_unix: u64) -> Option<String> {
    if subject.is_empty() || subject.contains('.') {
        return None;
    }
    let mut mac = HmacSha256::new_from_slice(secret).ok()?;
    let body = format!("v1.{subject}.{expires_unix}");
    mac.update(body.as_bytes());
    Some(format!(
        "{body}.{}",
        hex::encode(mac.finalize().into_bytes())
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn open_relay_needs_nothing() {
        assert_eq!(TokenPolicy::default().check(None, 0), Ok(None));
    }

    #[test]
    fn static_and_signed() {
        let p = TokenPolicy {
            static_tokens: ["friends-2026".to_string()].into(),
            hmac_secret: Some(b"s3cret".to_vec()),
        };
        assert_eq!(p.check(None, 0), Err(TokenError::Missing));
        assert!(p.check(Some("friends-2026"), 0).is_ok());
        let t = mint(b"s3cret", "alice", 1000).unwrap();
        assert_eq!(p.check(Some(&t), 999), Ok(Some("alice".into())));
        assert_eq!(p.check(Some(&t), 1000), Err(TokenError::Expired(1000)));
        let forged = mint(b"other", "alice", 5000).unwrap();
        assert_eq!(p.check(Some(&forged), 0), Err(TokenError::BadSignature));
        let stretched = t.replace(".1000.", ".9999.");
        assert_eq!(p.check(Some(&stretched), 0), Err(TokenError::BadSignature));
        assert_eq!(p.check(Some("v1.x"), 0), Err(TokenError::Unknown));
        assert_eq!(p.check(Some("nope"), 0), Err(TokenError::Unknown));
        assert!(mint(b"k", "a.b", 1).is_none());
    }
}
