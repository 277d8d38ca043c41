//! Signal messages: everything that is not media, sent reliably on a QUIC
//! stream (see [`framing`](crate::framing) for how they are delimited).
//!
//! Each message travels in a versioned envelope, as JSON:
//!
//! ```json
//! {"v":2,"msg":{"type":"ping","ts_ms":1234}}
//! ```
//!
//! JSON because signals are rare (a handful per second at most), easy to debug,
//! and extensible: fields added later are ignored by older readers, optional
//! fields default when absent, and a message type a reader does not know is
//! reported as [`Decoded::Unknown`] and skipped instead of failing the stream.
//!
//! Key material never appears here in the clear: end-to-end key exchange rides
//! in [`SignalMessage::KeyEnvelope`], whose payload the relay cannot read.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::codec::CodecId;
use crate::error::{ProtoError, Result};
use crate::quality::QualityReport;
use crate::types::{CallId, Fingerprint, ParticipantId, RoomId, Seq, StreamId};

/// The protocol version this implementation writes.
pub const PROTOCOL_VERSION: u8 = 2;
/// The protocol versions this implementation reads.
pub const SUPPORTED_VERSIONS: &[u8] = &[2];

/// Opaque bytes, carried as standard base64 in JSON.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Blob(pub Vec<u8>);

impl fmt::Debug for Blob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Blob({} bytes)", self.0.len())
    }
}

impl Serialize for Blob {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        STANDARD
            .decode(s.as_bytes())
            .map(Blob)
            .map_err(|e| serde::de::Error::custom(format!("invalid base64: {e}")))
    }
}

/// A 32-byte public key (Ed25519 or X25519), carried as 64 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(pub [u8; 32]);

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", hex::encode(self.0))
    }
}

impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(self.0))
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(s.as_bytes(), &mut out).map_err(|e| {
            serde::de::Error::custom(format!("invalid public key: {e} (want 64 hex digits)"))
        })?;
        Ok(Self(out))
    }
}

/// One member of a room, as the relay announces it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    /// The relay-assigned number that tags this member's media and envelopes.
    pub id: ParticipantId,
    /// The member's identity fingerprint.
    pub fingerprint: Fingerprint,
    /// The member's Ed25519 identity key, so others can verify its handshake signatures.
    pub identity_pub: PublicKey,
    /// Display name the member chose, if any (unverified).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
}

/// Why a call ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HangupReason {
    /// Someone hung up.
    Normal,
    /// The callee is in another call.
    Busy,
    /// The callee declined.
    Declined,
    /// Nobody answered in time, or the peer went silent.
    Timeout,
    /// The peers share no protocol version.
    VersionMismatch {
        /// Versions the side that refused speaks.
        supported: Vec<u8>,
    },
    /// Something failed; `message` says what.
    Error {
        /// Human-readable cause.
        message: String,
    },
    /// A reason from a newer protocol revision this build does not know.
    #[serde(other)]
    Other,
}

/// Application close codes a relay or client puts on a QUIC connection close,
/// so the other side can tell a policy decision from a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[repr(u32)]
pub enum CloseCode {
    /// Orderly end.
    Normal = 0,
    /// The peer broke the protocol.
    ProtocolError = 1,
    /// Token or identity proof refused.
    Unauthorized = 2,
    /// A limit (sessions, rooms, participants) was reached.
    LimitReached = 3,
    /// The client kept sending over its rate limit.
    RateLimited = 4,
    /// The relay is shutting down.
    ShuttingDown = 5,
    /// No common protocol version.
    VersionMismatch = 6,
    /// The client did not open its signal stream in time.
    Timeout = 7,
    /// A newer connection of the same identity took this one's place in a direct call
    /// (the party reconnected before the relay noticed the old connection was dead).
    Superseded = 8,
}

impl CloseCode {
    /// The code for a wire value; unknown values (from newer peers) are `None`.
    #[must_use]
    pub fn from_u64(v: u64) -> Option<Self> {
        Some(match v {
            0 => Self::Normal,
            1 => Self::ProtocolError,
            2 => Self::Unauthorized,
            3 => Self::LimitReached,
            4 => Self::RateLimited,
            5 => Self::ShuttingDown,
            6 => Self::VersionMismatch,
            7 => Self::Timeout,
            8 => Self::Superseded,
            _ => return None,
        })
    }
}

/// Machine-readable class of a [`SignalMessage::Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request was malformed.
    BadRequest,
    /// Authentication or the identity proof failed.
    Unauthorized,
    /// A limit (rooms, participants, rate) was reached.
    LimitReached,
    /// The addressee is not known.
    NotFound,
    /// Protocol version not supported.
    VersionMismatch,
    /// The server is shutting down.
    ShuttingDown,
    /// Anything else.
    Internal,
    /// A code from a newer revision this build does not know.
    #[serde(other)]
    Other,
}

/// Every signal message this protocol revision knows.
///
/// The JSON form is internally tagged: `{"type":"<snake_case name>", ...fields}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SignalMessage {
    /// Client -> relay: join a room.
    Hello {
        /// Version the client prefers.
        protocol_version: u8,
        /// Every version the client speaks.
        supported_versions: Vec<u8>,
        /// Hash of the room name ([`RoomId::from_name`]).
        room: RoomId,
        /// The client's Ed25519 identity key.
        identity_pub: PublicKey,
        /// Proof of possession of the identity key (format defined by wzp-crypto).
        proof: Blob,
        /// Display name, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        alias: Option<String>,
        /// Access token, if the relay requires one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<String>,
    },
    /// Relay -> client: the join succeeded.
    Welcome {
        /// The version the session will use.
        protocol_version: u8,
        /// The room joined.
        room: RoomId,
        /// The number the relay assigned to this client in the room.
        participant: ParticipantId,
    },
    /// Relay -> everyone in a room: its membership changed.
    RoomUpdate {
        /// The room.
        room: RoomId,
        /// Everyone now in it.
        participants: Vec<Participant>,
    },
    /// Peer -> peer through the relay: end-to-end key material the relay cannot read.
    KeyEnvelope {
        /// Sender (filled in or checked by the relay).
        from: ParticipantId,
        /// Addressee; the relay delivers it to this participant only.
        to: ParticipantId,
        /// Sealed payload (format defined by wzp-crypto).
        payload: Blob,
    },
    /// Client -> relay: make me reachable for direct calls.
    RegisterPresence {
        /// The client's Ed25519 identity key.
        identity_pub: PublicKey,
        /// Proof of possession (format defined by wzp-crypto).
        proof: Blob,
        /// Display name, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        alias: Option<String>,
        /// Access token, if the relay requires one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<String>,
    },
    /// Relay -> client: registration accepted.
    PresenceAck {
        /// The fingerprint under which the client is now reachable.
        fingerprint: Fingerprint,
    },
    /// Caller -> relay -> callee: an incoming direct call.
    CallOffer {
        /// Fresh random id for this call.
        call_id: CallId,
        /// Caller's fingerprint.
        from: Fingerprint,
        /// Callee's fingerprint.
        to: Fingerprint,
        /// Caller's protocol version.
        protocol_version: u8,
        /// Every version the caller speaks.
        supported_versions: Vec<u8>,
        /// Caller's display name, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        alias: Option<String>,
    },
    /// Relay -> caller: the callee is being alerted.
    CallRinging {
        /// The call.
        call_id: CallId,
    },
    /// Callee -> relay -> caller: the callee's answer.
    CallAnswer {
        /// The call.
        call_id: CallId,
        /// True to accept; a decline is also sent as [`HangupReason::Declined`].
        accepted: bool,
    },
    /// Relay -> both parties: where the call's media meets.
    CallSetup {
        /// The call.
        call_id: CallId,
        /// The two-party room to join with [`SignalMessage::Hello`].
        room: RoomId,
    },
    /// Either side: the call (or, without `call_id`, the session) ends.
    Hangup {
        /// The call, if this ends one call rather than the session.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        call_id: Option<CallId>,
        /// Why.
        reason: HangupReason,
    },
    /// A receiver's view of the path, outside media (e.g. while not sending).
    QualityReport {
        /// The report.
        report: QualityReport,
    },
    /// Relay -> participants: cap quality for the whole room (weakest link).
    QualityDirective {
        /// Best audio codec to use.
        max_audio_codec: CodecId,
        /// Cap on video bitrate, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_video_kbps: Option<u32>,
        /// Why, for logs and the stats view.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Receiver -> sender: retransmit these packets.
    Nack {
        /// Whose packets.
        sender: ParticipantId,
        /// Which stream.
        stream: StreamId,
        /// The missing sequence numbers.
        seqs: Vec<Seq>,
    },
    /// Receiver -> sender: a picture is broken beyond NACK; send a keyframe.
    PictureLoss {
        /// Whose video.
        sender: ParticipantId,
        /// Which stream.
        stream: StreamId,
    },
    /// Relay -> sender: one keyframe request standing for several receivers.
    KeyframeRequest {
        /// Which stream of the addressee.
        stream: StreamId,
    },
    /// Liveness and RTT probe.
    Ping {
        /// Sender's clock, echoed back.
        ts_ms: u64,
    },
    /// Answer to [`SignalMessage::Ping`].
    Pong {
        /// The ping's `ts_ms`.
        ts_ms: u64,
    },
    /// Something went wrong with a request.
    Error {
        /// Class of error.
        code: ErrorCode,
        /// Human-readable detail.
        message: String,
    },
}

impl SignalMessage {
    /// Every message type name this build knows, as it appears in `"type"`.
    pub const KINDS: &'static [&'static str] = &[
        "hello",
        "welcome",
        "room_update",
        "key_envelope",
        "register_presence",
        "presence_ack",
        "call_offer",
        "call_ringing",
        "call_answer",
        "call_setup",
        "hangup",
        "quality_report",
        "quality_directive",
        "nack",
        "picture_loss",
        "keyframe_request",
        "ping",
        "pong",
        "error",
    ];

    /// The `"type"` name of this message.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Hello { .. } => "hello",
            Self::Welcome { .. } => "welcome",
            Self::RoomUpdate { .. } => "room_update",
            Self::KeyEnvelope { .. } => "key_envelope",
            Self::RegisterPresence { .. } => "register_presence",
            Self::PresenceAck { .. } => "presence_ack",
            Self::CallOffer { .. } => "call_offer",
            Self::CallRinging { .. } => "call_ringing",
            Self::CallAnswer { .. } => "call_answer",
            Self::CallSetup { .. } => "call_setup",
            Self::Hangup { .. } => "hangup",
            Self::QualityReport { .. } => "quality_report",
            Self::QualityDirective { .. } => "quality_directive",
            Self::Nack { .. } => "nack",
            Self::PictureLoss { .. } => "picture_loss",
            Self::KeyframeRequest { .. } => "keyframe_request",
            Self::Ping { .. } => "ping",
            Self::Pong { .. } => "pong",
            Self::Error { .. } => "error",
        }
    }
}

/// What decoding one signal body gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// A message this build understands.
    Message(SignalMessage),
    /// A well-formed envelope whose message type this build does not know: skip it.
    Unknown {
        /// The unknown `"type"`.
        kind: String,
    },
}

#[derive(Serialize)]
struct EnvelopeOut<'a> {
    v: u8,
    msg: &'a SignalMessage,
}

#[derive(Deserialize)]
struct EnvelopeIn<'a> {
    v: u8,
    #[serde(borrow)]
    msg: &'a serde_json::value::RawValue,
}

#[derive(Deserialize)]
struct KindOnly<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
}

/// Appends the JSON envelope of `msg` to `out`.
pub fn write_body(msg: &SignalMessage, out: &mut Vec<u8>) -> Result<()> {
    serde_json::to_writer(
        out,
        &EnvelopeOut {
            v: PROTOCOL_VERSION,
            msg,
        },
    )
    .map_err(|e| ProtoError::MalformedSignal(e.to_string()))
}

/// Decodes one JSON envelope.
///
/// A version outside [`SUPPORTED_VERSIONS`] is [`ProtoError::UnsupportedVersion`];
/// a message type this build does not know is [`Decoded::Unknown`] (logged);
/// anything else that does not parse is [`ProtoError::MalformedSignal`].
pub fn decode_body(body: &[u8]) -> Result<Decoded> {
    let env: EnvelopeIn<'_> = serde_json::from_slice(body)
        .map_err(|e| ProtoError::MalformedSignal(format!("envelope: {e}")))?;
    if !SUPPORTED_VERSIONS.contains(&env.v) {
        return Err(ProtoError::UnsupportedVersion {
            found: env.v,
            supported: SUPPORTED_VERSIONS,
        });
    }
    match serde_json::from_str::<SignalMessage>(env.msg.get()) {
        Ok(m) => Ok(Decoded::Message(m)),
        Err(e) => {
            let kind: KindOnly<'_> = serde_json::from_str(env.msg.get())
                .map_err(|_| ProtoError::MalformedSignal(format!("message without a type: {e}")))?;
            if SignalMessage::KINDS.contains(&kind.kind.as_ref()) {
                Err(ProtoError::MalformedSignal(format!("{}: {e}", kind.kind)))
            } else {
                tracing::warn!(kind = %kind.kind, "skipping signal message of unknown type");
                Ok(Decoded::Unknown {
                    kind: kind.kind.into_owned(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(msg: &SignalMessage) -> String {
        let mut out = Vec::new();
        write_body(msg, &mut out).unwrap_or_else(|e| panic!("{e}"));
        String::from_utf8(out).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn ping_vector() {
        let m = SignalMessage::Ping { ts_ms: 1234 };
        assert_eq!(body(&m), r#"{"v":2,"msg":{"type":"ping","ts_ms":1234}}"#);
        assert_eq!(decode_body(body(&m).as_bytes()), Ok(Decoded::Message(m)));
    }

    #[test]
    fn hangup_vector_and_unknown_reason() {
        let m = SignalMessage::Hangup {
            call_id: None,
            reason: HangupReason::VersionMismatch { supported: vec![2] },
        };
        assert_eq!(
            body(&m),
            r#"{"v":2,"msg":{"type":"hangup","reason":{"kind":"version_mismatch","supported":[2]}}}"#
        );
        let future = br#"{"v":2,"msg":{"type":"hangup","reason":{"kind":"alien_abduction"}}}"#;
        assert_eq!(
            decode_body(future),
            Ok(Decoded::Message(SignalMessage::Hangup {
                call_id: None,
                reason: HangupReason::Other
            }))
        );
    }

    #[test]
    fn key_envelope_is_base64() {
        let m = SignalMessage::KeyEnvelope {
            from: ParticipantId(1),
            to: ParticipantId(2),
            payload: Blob(vec![0xff, 0x00, 0x10]),
        };
        assert_eq!(
            body(&m),
            r#"{"v":2,"msg":{"type":"key_envelope","from":1,"to":2,"payload":"/wAQ"}}"#
        );
    }

    #[test]
    fn unknown_type_is_skipped_not_fatal() {
        let b = br#"{"v":2,"msg":{"type":"teleport","to":"mars"}}"#;
        assert_eq!(
            decode_body(b),
            Ok(Decoded::Unknown {
                kind: "teleport".into()
            })
        );
    }

    #[test]
    fn added_fields_are_ignored() {
        let b = br#"{"v":2,"future":true,"msg":{"type":"pong","ts_ms":7,"extra":[1,2]}}"#;
        assert_eq!(
            decode_body(b),
            Ok(Decoded::Message(SignalMessage::Pong { ts_ms: 7 }))
        );
    }

    #[test]
    fn typed_errors() {
        assert_eq!(
            decode_body(br#"{"v":1,"msg":{"type":"ping","ts_ms":1}}"#),
            Err(ProtoError::UnsupportedVersion {
                found: 1,
                supported: SUPPORTED_VERSIONS
            })
        );
        assert!(matches!(
            decode_body(br#"{"v":2,"msg":{"type":"ping","ts_ms":"soon"}}"#),
            Err(ProtoError::MalformedSignal(m)) if m.starts_with("ping:")
        ));
        assert!(matches!(
            decode_body(b"not json"),
            Err(ProtoError::MalformedSignal(_))
        ));
        assert!(matches!(
            decode_body(br#"{"v":2,"msg":{"no_type":1}}"#),
            Err(ProtoError::MalformedSignal(_))
        ));
        assert!(matches!(
            decode_body(br#"{"v":2,"msg":{"type":"key_envelope","from":1,"to":2,"payload":"!!"}}"#),
            Err(ProtoError::MalformedSignal(_))
        ));
    }
}
