//! End-to-end encryption for WZP: keys the relay never sees, verifiable by people.
//!
//! Sans-IO: nothing here touches a socket, a clock or the OS random source on
//! its own (the one exception is [`identity::store`], which reads and writes
//! the identity file). Time comes in as an [`Instant`](std::time::Instant)
//! argument and randomness as a `&mut impl CryptoRngCore`, so tests replay any
//! call from a seed.
//!
//! * [`identity`]: seed, 24 words, Ed25519/X25519 keys, fingerprint, file storage.
//! * [`Session`]: one participant's key state in a room or call: signed
//!   pairwise channels, per-sender media keys and their rotation.
//! * [`media`]: per-packet sealing and opening (also usable without a session).
//! * [`replay`]: the per-(sender, stream) anti-replay window.
//! * [`verify`]: safety numbers and short codes for people to compare.
//! * [`envelope`]: byte layout of the key-envelope payloads.
#![forbid(unsafe_code)]

mod aead;
pub mod envelope;
pub mod error;
pub mod identity;
pub mod media;
pub mod proof;
pub mod replay;
pub mod session;
pub mod verify;

pub use envelope::Context;
pub use error::{CryptoError, Result};
pub use identity::{Identity, PublicIdentity, Seed};
pub use session::{Event, OutgoingEnvelope, Session, SessionConfig};
pub use verify::{SafetyNumber, ShortCode, safety_number};
