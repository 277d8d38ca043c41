//! Binary layout of the `KeyEnvelope` payloads and the signed transcripts.
//!
//! Every payload starts with a format version byte ([`ENVELOPE_VERSION`]) and
//! a message-type byte. All integers are big-endian. `ctx` is 17 bytes: a
//! kind byte (1 = room, 2 = direct call) and the 16-byte room or call id.
//! `pids` is 4 bytes: initiator participant id, responder participant id.
//!
//! | type | message   | layout after version and type                                        | total |
//! |------|-----------|----------------------------------------------------------------------|-------|
//! | 0x01 | Offer     | ctx 17, pids 4, init_id 32, init_eph 32, offer_nonce 16, sig 64       | 167   |
//! | 0x02 | Answer    | ctx 17, pids 4, resp_id 32, resp_eph 32, offer_nonce 16, sig 64       | 167   |
//! | 0x03 | Finish    | ctx 17, pids 4, offer_nonce 16, sig 64                                | 103   |
//! | 0x04 | SenderKey | counter 8, sealed(epoch u32 4, secret 32) 36, tag 16                  | 62    |

use wzp_proto::{CallId, PROTOCOL_VERSION, ParticipantId, RoomId};

use crate::error::{CryptoError, Result};

/// Version of the envelope payload format.
pub const ENVELOPE_VERSION: u8 = 1;
/// Message type: handshake offer.
pub const TYPE_OFFER: u8 = 0x01;
/// Message type: handshake answer.
pub const TYPE_ANSWER: u8 = 0x02;
/// Message type: handshake finish.
pub const TYPE_FINISH: u8 = 0x03;
/// Message type: a media sender key sealed in the pairwise channel.
pub const TYPE_SENDER_KEY: u8 = 0x04;

pub(crate) const OFFER_LEN: usize = 167;
pub(crate) const ANSWER_LEN: usize = 167;
pub(crate) const FINISH_LEN: usize = 103;
pub(crate) const SENDER_KEY_LEN: usize = 62;

const OFFER_LABEL: &[u8] = b"WZP-v2 pairwise offer";
const TRANSCRIPT_LABEL: &[u8] = b"WZP-v2 pairwise transcript";

/// Which room or call a session (and every transcript in it) belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Context {
    /// A room, by its relay-visible id.
    Room(RoomId),
    /// A direct call.
    Call(CallId),
}

impl Context {
    pub(crate) fn encode(&self) -> [u8; 17] {
        let mut b = [0u8; 17];
        let (kind, id) = match self {
            Self::Room(r) => (1, r.0),
            Self::Call(c) => (2, c.0),
        };
        b[0] = kind;
        b[1..].copy_from_slice(&id);
        b
    }
}

/// Role byte in the transcript: which side signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Initiator = 1,
    Responder = 2,
}

/// Everything the two sides agree on; the input to both transcript signatures
/// and to the channel key derivation.
#[derive(Clone)]
pub(crate) struct Transcript {
    pub ctx: [u8; 17],
    pub initiator: ParticipantId,
    pub responder: ParticipantId,
    pub init_id: [u8; 32],
    pub init_eph: [u8; 32],
    pub nonce: [u8; 16],
    pub resp_id: [u8; 32],
    pub resp_eph: [u8; 32],
}

pub(crate) fn pids(initiator: ParticipantId, responder: ParticipantId) -> [u8; 4] {
    let [a, b] = initiator.0.to_be_bytes();
    let [c, d] = responder.0.to_be_bytes();
    [a, b, c, d]
}

/// What the initiator signs in its offer (it does not know the responder's
/// ephemeral yet; it signs the full transcript later in Finish).
pub(crate) fn offer_tbs(
    ctx: &[u8; 17],
    p: [u8; 4],
    init_id: &[u8; 32],
    init_eph: &[u8; 32],
    nonce: &[u8; 16],
) -> Vec<u8> {
    let mut v = Vec::with_capacity(128);
    v.extend_from_slice(OFFER_LABEL);
    v.push(PROTOCOL_VERSION);
    v.extend_from_slice(ctx);
    v.extend_from_slice(&p);
    v.extend_from_slice(init_id);
    v.extend_from_slice(init_eph);
    v.extend_from_slice(nonce);
    v
}

impl Transcript {
    /// The transcript bytes without the role byte (hashed into the key schedule).
    pub(crate) fn body(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(200);
        v.extend_from_slice(TRANSCRIPT_LABEL);
        v.push(PROTOCOL_VERSION);
        v.extend_from_slice(&self.ctx);
        v.extend_from_slice(&pids(self.initiator, self.responder));
        v.extend_from_slice(&self.init_id);
        v.extend_from_slice(&self.init_eph);
        v.extend_from_slice(&self.nonce);
        v.extend_from_slice(&self.resp_id);
        v.extend_from_slice(&self.resp_eph);
        v
    }

    /// What `role` signs: the body followed by the role byte, so an answer's
    /// signature can never be replayed as a finish or the reverse.
    pub(crate) fn tbs(&self, role: Role) -> Vec<u8> {
        let mut v = self.body();
        v.push(role as u8);
        v
    }
}

/// A cursor over a payload that has already been length-checked.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    pub(crate) fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        let n = N.min(self.buf.len());
        out[..n].copy_from_slice(&self.buf[..n]);
        self.buf = &self.buf[n..];
        out
    }
}

/// Checks version and length; returns the message type.
pub(crate) fn check_header(payload: &[u8]) -> Result<u8> {
    let (&version, rest) = payload
        .split_first()
        .ok_or(CryptoError::MalformedEnvelope {
            what: "key envelope",
            expected: 2,
            got: 0,
        })?;
    if version != ENVELOPE_VERSION {
        return Err(CryptoError::UnsupportedEnvelopeVersion(version));
    }
    let &ty = rest.first().ok_or(CryptoError::MalformedEnvelope {
        what: "key envelope",
        expected: 2,
        got: 1,
    })?;
    let (what, expected) = match ty {
        TYPE_OFFER => ("offer", OFFER_LEN),
        TYPE_ANSWER => ("answer", ANSWER_LEN),
        TYPE_FINISH => ("finish", FINISH_LEN),
        TYPE_SENDER_KEY => ("sender key", SENDER_KEY_LEN),
        other => return Err(CryptoError::UnknownMessageType(other)),
    };
    if payload.len() != expected {
        return Err(CryptoError::MalformedEnvelope {
            what,
            expected,
            got: payload.len(),
        });
    }
    Ok(ty)
}
