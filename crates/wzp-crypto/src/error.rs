//! The crate's one error type.
//!
//! Every way input from outside can be wrong has its own variant, so the
//! engine can count and log rejections by kind, and the UI can tell a user
//! which word of a mnemonic is wrong.

use std::path::PathBuf;

use wzp_proto::{Fingerprint, ParticipantId, Seq, StreamId};

/// Result alias for this crate.
pub type Result<T, E = CryptoError> = std::result::Result<T, E>;

/// Everything that can go wrong in wzp-crypto.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    // ---- identity ----
    /// A mnemonic word is not in the BIP39 English list.
    #[error("word {position} ({word:?}) is not a BIP39 English word")]
    UnknownWord {
        /// 1-based position of the word in the phrase.
        position: usize,
        /// The word as given.
        word: String,
    },
    /// The words are all valid but their checksum does not match: a word was
    /// swapped or mistyped into another valid word.
    #[error("the recovery words' checksum does not match (a word is wrong or out of order)")]
    BadChecksum,
    /// The phrase has the wrong number of words.
    #[error("expected 24 recovery words, got {found}")]
    WrongWordCount {
        /// Number of words found.
        found: usize,
    },
    /// A seed given as hex is not 64 hex digits.
    #[error("seed must be 64 hex digits: {reason}")]
    InvalidSeedHex {
        /// What is wrong with it.
        reason: String,
    },
    /// A public identity key is not a valid Ed25519 point.
    #[error("not a valid Ed25519 public key")]
    InvalidPublicKey,
    /// Reading or writing the identity file failed.
    #[error("identity file {path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The identity file exists but does not hold a seed.
    #[error("identity file {path}: {reason}")]
    BadIdentityFile {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong with its contents.
        reason: String,
    },

    // ---- key envelopes / pairwise channel ----
    /// An envelope payload is shorter or longer than its type requires.
    #[error("malformed {what}: expected {expected} bytes, got {got}")]
    MalformedEnvelope {
        /// Which message.
        what: &'static str,
        /// Expected length.
        expected: usize,
        /// Actual length.
        got: usize,
    },
    /// The envelope's format version is not one this build speaks.
    #[error("unsupported key envelope version {0}")]
    UnsupportedEnvelopeVersion(u8),
    /// Unknown envelope message type byte.
    #[error("unknown key envelope message type {0:#04x}")]
    UnknownMessageType(u8),
    /// The transcript names another room or call than this session's.
    #[error("handshake transcript is for another room or call")]
    WrongContext,
    /// The participant ids inside the transcript do not match the envelope's
    /// `from`/`to`, so the message was re-addressed.
    #[error("handshake transcript names participants {initiator}->{responder}, not this pair")]
    WrongParticipants {
        /// Initiator named in the message.
        initiator: ParticipantId,
        /// Responder named in the message.
        responder: ParticipantId,
    },
    /// A connection proof (identity bound to a QUIC connection) does not verify.
    #[error("connection proof does not verify for this identity, purpose and connection")]
    BadConnectionProof,
    /// A signature does not verify: some signed field was altered in transit.
    #[error("handshake signature from {from} does not verify: a field was tampered with")]
    BadSignature {
        /// Who the message claims to be from.
        from: ParticipantId,
    },
    /// The message is validly signed, but by an identity other than the one
    /// expected for this participant.
    #[error("{from} signed with identity {found}, expected {expected}")]
    WrongSigner {
        /// Who sent it.
        from: ParticipantId,
        /// The fingerprint we expected.
        expected: Fingerprint,
        /// The fingerprint that signed.
        found: Fingerprint,
    },
    /// An offer whose ephemeral key was already seen in this session.
    #[error("replayed handshake offer from {from}")]
    ReplayedOffer {
        /// Who it claims to be from.
        from: ParticipantId,
    },
    /// A handshake message that does not fit the channel's state (e.g. an
    /// answer nobody asked for).
    #[error("unexpected {what} from {from}")]
    UnexpectedMessage {
        /// Which message.
        what: &'static str,
        /// From whom.
        from: ParticipantId,
    },
    /// No participant with this id is known to the session.
    #[error("unknown participant {0}")]
    UnknownParticipant(ParticipantId),
    /// A sealed channel message did not authenticate.
    #[error("sealed key message from {from} failed authentication")]
    ChannelAuth {
        /// Who it claims to be from.
        from: ParticipantId,
    },
    /// A sealed channel message's counter is not the next one expected.
    #[error("sealed key message from {from} replayed or out of order (counter {counter})")]
    ChannelReplay {
        /// Who it claims to be from.
        from: ParticipantId,
        /// The counter it carried.
        counter: u64,
    },

    // ---- media ----
    /// A media datagram too short to hold header, epoch and tag.
    #[error("encrypted media datagram too short: {got} bytes")]
    DatagramTooShort {
        /// Its length.
        got: usize,
    },
    /// The media header inside the datagram does not parse.
    #[error("bad media header: {0}")]
    Header(#[from] wzp_proto::ProtoError),
    /// No key from this sender yet (no channel, or its key has not arrived).
    #[error("no media key from sender {0}")]
    NoSenderKey(ParticipantId),
    /// The packet's key epoch is not one we hold for the sender (too old,
    /// already zeroized, or not yet received).
    #[error("no key for epoch {epoch} of sender {sender}")]
    UnknownEpoch {
        /// The sender.
        sender: ParticipantId,
        /// The wire epoch byte.
        epoch: u8,
    },
    /// The AEAD tag did not verify: the packet was forged or altered.
    #[error("media packet from {sender} failed authentication")]
    MediaAuth {
        /// The claimed sender.
        sender: ParticipantId,
    },
    /// The sequence number was already received.
    #[error("replayed packet {seq} on {sender} stream {stream}")]
    Replayed {
        /// The sender.
        sender: ParticipantId,
        /// The stream.
        stream: StreamId,
        /// The sequence number.
        seq: Seq,
    },
    /// The sequence number is behind the anti-replay window.
    #[error("packet {seq} on {sender} stream {stream} is older than the replay window")]
    TooOld {
        /// The sender.
        sender: ParticipantId,
        /// The stream.
        stream: StreamId,
        /// The sequence number.
        seq: Seq,
    },
    /// The sender tried to seal a sequence number not after the last one it
    /// sealed on this stream and epoch, which would reuse a nonce.
    #[error("refusing to seal seq {seq} on stream {stream}: not after the last sealed seq")]
    SeqNotIncreasing {
        /// The stream.
        stream: StreamId,
        /// The sequence number.
        seq: Seq,
    },
    /// Header says a quality trailer follows but the plaintext is shorter than 4 bytes.
    #[error("quality-report flag set but plaintext shorter than 4 bytes")]
    MissingQualityTrailer,
    /// Sealing before any media key exists (session not started).
    #[error("no media key to seal with")]
    NoLocalKey,
}
