//! End-to-end encryption for WZP: keys the relay never sees, verifiable by people.
//!
//! Sans-IO: nothing here touches a socket, a file (except [`identity::store`]),
//! a clock or the OS random source on its own. Time comes in as an
//! [`Instant`](std::time::Instant) argument and randomness as a
//! `&mut impl CryptoRngCore`, so tests replay any call from a seed.
#![forbid(unsafe_code)]

pub mod error;
pub mod identity;

pub use error::{CryptoError, Result};
pub use identity::{Identity, PublicIdentity, Seed};
pub mod media;
pub mod replay;
pub mod verify;
