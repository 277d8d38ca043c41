//! Proof that a connection belongs to an identity.
//!
//! When a client joins a room or registers for direct calls, the relay must
//! know which identity it is talking to, and an eavesdropper must not be able to
//! replay that proof on another connection. The client signs, with its identity
//! key, a value exported from the QUIC connection's TLS session (RFC 5705/8446
//! exporter): both ends compute the same 32 bytes, and no other connection has
//! them. So the proof needs no challenge round trip and cannot be replayed.

use wzp_proto::RoomId;

use crate::error::{CryptoError, Result};
use crate::identity::{Identity, PublicIdentity};

/// TLS exporter label both ends use to derive the value the proof signs.
pub const EXPORTER_LABEL: &[u8] = b"EXPORTER-wzp-identity-proof";
/// Length of the exported value.
pub const EXPORTER_LEN: usize = 32;
const DOMAIN: &[u8] = b"wzp-connection-proof-v2\0";

/// What the identity is being proven for; part of the signed message, so a
/// proof for one purpose or room cannot be used for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofPurpose {
    /// Joining this room.
    Join(RoomId),
    /// Registering presence for direct calls.
    Presence,
}

fn message(purpose: ProofPurpose, identity: &[u8; 32], exporter: &[u8; EXPORTER_LEN]) -> Vec<u8> {
    let mut m = Vec::with_capacity(DOMAIN.len() + 1 + 16 + 32 + EXPORTER_LEN);
    m.extend_from_slice(DOMAIN);
    match purpose {
        ProofPurpose::Join(room) => {
            m.push(1);
            m.extend_from_slice(&room.0);
        }
        ProofPurpose::Presence => {
            m.push(2);
            m.extend_from_slice(&[0; 16]);
        }
    }
    m.extend_from_slice(identity);
    m.extend_from_slice(exporter);
    m
}

/// Signs the proof for `purpose` on the connection whose exporter value is `exporter`.
#[must_use]
pub fn prove(
    identity: &Identity,
    purpose: ProofPurpose,
    exporter: &[u8; EXPORTER_LEN],
) -> [u8; 64] {
    identity.sign(&message(purpose, &identity.public().to_bytes(), exporter))
}

/// Checks a proof; returns [`CryptoError::BadConnectionProof`] if it is not a
/// signature by `identity` over this purpose and exporter value.
pub fn verify(
    identity: &PublicIdentity,
    purpose: ProofPurpose,
    exporter: &[u8; EXPORTER_LEN],
    proof: &[u8],
) -> Result<()> {
    let sig: &[u8; 64] = proof
        .try_into()
        .map_err(|_| CryptoError::BadConnectionProof)?;
    if identity.verify(&message(purpose, &identity.to_bytes(), exporter), sig) {
        Ok(())
    } else {
        Err(CryptoError::BadConnectionProof)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Seed;

    #[test]
    fn binds_purpose_room_and_connection() {
        let id = Identity::from_seed(Seed::from_bytes([7; 32]));
        let other = Identity::from_seed(Seed::from_bytes([8; 32]));
        let room = RoomId([1; 16]);
        let exp = [9u8; 32];
        let p = prove(&id, ProofPurpose::Join(room), &exp);
        assert!(verify(&id.public(), ProofPurpose::Join(room), &exp, &p).is_ok());
        let bad = |r: Result<()>| matches!(r, Err(CryptoError::BadConnectionProof));
        assert!(bad(verify(
            &id.public(),
            ProofPurpose::Join(RoomId([2; 16])),
            &exp,
            &p
        )));
        assert!(bad(verify(&id.public(), ProofPurpose::Presence, &exp, &p)));
        assert!(bad(verify(
            &id.public(),
            ProofPurpose::Join(room),
            &[0; 32],
            &p
        )));
        assert!(bad(verify(
            &other.public(),
            ProofPurpose::Join(room),
            &exp,
            &p
        )));
        assert!(bad(verify(
            &id.public(),
            ProofPurpose::Join(room),
            &exp,
            &p[..63]
        )));
    }
}
