//! Codes people compare to detect a man in the middle.
//!
//! * [`SafetyNumber`]: per pair of identities, stable across calls, the same on
//!   both sides whoever calls whom (Signal's 60-digit form as the model).
//! * [`ShortCode`]: per pairwise channel (so per call in a direct call),
//!   derived from the channel's key material; if a relay substituted keys,
//!   the two sides see different codes.

use std::fmt;

use sha2::{Digest, Sha512};

use crate::identity::PublicIdentity;

/// Domain label hashed in front of the key, so these hashes can never collide
/// with another use of SHA-512 over a public key.
const SAFETY_LABEL: &[u8] = b"wzp-safety-number-v1";
/// Hash iterations: makes grinding for a key with a chosen half expensive.
const SAFETY_ITERATIONS: usize = 5200;

/// A 60-digit safety number for two identities.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SafetyNumber(String);

impl SafetyNumber {
    /// The 60 digits without spaces.
    #[must_use]
    pub fn digits(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SafetyNumber {
    /// 12 groups of 5 digits separated by spaces, as shown to users.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, chunk) in self.0.as_bytes().chunks(5).enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(std::str::from_utf8(chunk).map_err(|_| fmt::Error)?)?;
        }
        Ok(())
    }
}

impl fmt::Debug for SafetyNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SafetyNumber({self})")
    }
}

/// 30 digits for one identity: iterated SHA-512, first 30 bytes as six 5-byte
/// big-endian numbers mod 100000.
fn half(id: &PublicIdentity) -> String {
    let key = id.to_bytes();
    let mut h = Sha512::new_with_prefix(SAFETY_LABEL)
        .chain_update(key)
        .finalize();
    for _ in 0..SAFETY_ITERATIONS {
        h = Sha512::new_with_prefix(h).chain_update(key).finalize();
    }
    let mut s = String::with_capacity(30);
    for c in h[..30].chunks(5) {
        let n = c.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        s.push_str(&format!("{:05}", n % 100_000));
    }
    s
}

/// The safety number of two identities. Order-independent: the two halves
/// are sorted before joining.
#[must_use]
pub fn safety_number(a: &PublicIdentity, b: &PublicIdentity) -> SafetyNumber {
    let (x, y) = (half(a), half(b));
    if x <= y {
        SafetyNumber(x + &y)
    } else {
        SafetyNumber(y + &x)
    }
}

/// A 6-digit code both ends of a pairwise channel derive from its key
/// material; shown in the UI for a spoken comparison.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ShortCode(u32);

impl ShortCode {
    /// From the channel's HKDF pseudo-random key: `HKDF-Expand(prk,
    /// "wzp-v2 short code", 4)` as a big-endian u32 mod 10^6.
    #[must_use]
    pub fn from_prk(prk: &[u8; 32]) -> Self {
        let mut okm = [0u8; 4];
        if let Ok(hk) = hkdf::Hkdf::<sha2::Sha256>::from_prk(prk) {
            // 4 bytes never exceeds HKDF's output limit.
            let _ = hk.expand(b"wzp-v2 short code", &mut okm);
        }
        Self(u32::from_be_bytes(okm) % 1_000_000)
    }

    /// The code as a number below 1,000,000.
    #[must_use]
    pub fn value(&self) -> u32 {
        self.0
    }
}

impl fmt::Display for ShortCode {
    /// Six digits, zero-padded.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:06}", self.0)
    }
}

impl fmt::Debug for ShortCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ShortCode({self})")
    }
}
