//! What a call tells its owner (the UI or the CLI), and the stats it keeps.

use std::time::Duration;

use serde::Serialize;
use wzp_proto::{CallId, Fingerprint, ParticipantId};

use crate::state::CallState;

/// Network quality of one participant as a user would judge it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NetworkQuality {
    /// Under 2% loss and steady.
    Good,
    /// Some loss or jitter; speech still clear thanks to FEC and concealment.
    Fair,
    /// Heavy loss, or nothing heard lately.
    Poor,
}

impl NetworkQuality {
    /// Classifies one stats interval: `loss` is the fraction of expected packets lost
    /// (0..=1), `heard` whether anything arrived at all.
    #[must_use]
    pub fn classify(loss: f64, jitter_ms: u32, heard: bool) -> Self {
        if !heard || loss >= 0.10 || jitter_ms >= 200 {
            Self::Poor
        } else if loss >= 0.02 || jitter_ms >= 60 {
            Self::Fair
        } else {
            Self::Good
        }
    }
}

/// One participant as the UI shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParticipantInfo {
    /// Relay-assigned id, stable while it stays in the room.
    pub id: ParticipantId,
    /// Identity fingerprint (as the relay announced it; verified by the key exchange).
    pub fingerprint: Fingerprint,
    /// Self-chosen display name.
    pub alias: Option<String>,
}

/// Per-participant counters and rates over the last stats interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParticipantStats {
    /// Who.
    pub id: ParticipantId,
    /// Round-trip time to the relay (the part of the path we can measure).
    pub rtt_ms: u32,
    /// Audio packets lost in the network, fraction 0..=1 over the interval.
    pub loss: f64,
    /// Playout delay the jitter buffer holds now, in ms.
    pub jitter_ms: u32,
    /// Bits per second received from this participant (audio + video).
    pub bitrate_in_bps: u64,
    /// Audio codec of its last packet.
    pub audio_codec: Option<String>,
    /// Decoded video resolution, if it sends video.
    pub resolution: Option<(u32, u32)>,
    /// Decoded video frames per second over the interval.
    pub fps: f64,
    /// Audio frames concealed (PLC) since it joined.
    pub concealed: u64,
    /// Audio frames rebuilt from FEC/DRED since it joined.
    pub recovered: u64,
    /// Its audio frames rebuilt from RaptorQ repair symbols (while it protects
    /// its audio because someone reported loss).
    pub fec_recovered: u64,
    /// Video NACKs sent and keyframes requested for it since it joined.
    pub video_nacks: u64,
    /// Keyframe requests sent for its video.
    pub keyframe_requests: u64,
    /// Pictures decoded but not handed to the video sink because it fell behind
    /// (only the newest waiting picture is shown) since it joined.
    pub frames_not_shown: u64,
    /// Whether it is muted (from its heartbeats).
    pub muted: bool,
    /// Quality class for the UI.
    pub quality: NetworkQuality,
}

/// A snapshot of the whole call.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CallStats {
    /// Time since the call became active.
    pub active_for: Duration,
    /// Bits per second we sent (all media, sealed sizes).
    pub bitrate_out_bps: u64,
    /// Video bitrate the rate ladder allows now (0: video paused for lack of bandwidth).
    pub video_target_bps: u32,
    /// Bandwidth estimate to the relay (QUIC congestion window over RTT).
    pub bandwidth_estimate_bps: u64,
    /// Round-trip time to the relay.
    pub path_rtt_ms: u32,
    /// Packets QUIC declared lost on the path to the relay, fraction over the interval.
    pub path_loss: f32,
    /// Media bytes waiting in QUIC's send queue.
    pub queued_bytes: usize,
    /// Audio packets sent in total.
    pub audio_packets_sent: u64,
    /// RaptorQ repair ratio our audio is sent with (0: protection off; it turns
    /// on when another participant reports loss, see `wzp_engine::protection`).
    pub audio_fec_ratio: f32,
    /// Audio repair symbols sent.
    pub audio_repair_sent: u64,
    /// Echo return loss enhancement the echo canceller estimates, dB (`None`: echo
    /// cancellation off, or no estimate yet).
    pub echo_erle_db: Option<f64>,
    /// Echo path delay the echo canceller found, ms.
    pub echo_delay_ms: Option<i32>,
    /// Video packets sent in total (retransmissions included).
    pub video_packets_sent: u64,
    /// Datagrams QUIC refused to send (too large for the path, or the peer does not
    /// take datagrams) in total.
    pub send_errors: u64,
    /// Datagrams that failed to open (replay, forged, unknown epoch) in total.
    pub rejected_datagrams: u64,
    /// Datagrams that arrived before their sender's key (right after a join or
    /// key rotation); dropped, and expected in small numbers.
    pub awaiting_key_datagrams: u64,
    /// Relay address in use (the path).
    pub relay: String,
    /// Reconnects so far.
    pub reconnects: u32,
    /// Per participant.
    pub participants: Vec<ParticipantStats>,
}

/// What the engine reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The call moved to a new state.
    State(CallState),
    /// Someone joined (also sent for everyone present when we join).
    ParticipantJoined(ParticipantInfo),
    /// Someone left.
    ParticipantLeft {
        /// Who.
        id: ParticipantId,
    },
    /// Speaking levels, about ten times a second, for everyone heard.
    Speaking {
        /// Ours (after mute: zero when muted).
        local: f32,
        /// (participant, level 0..=1, speaking).
        remote: Vec<(ParticipantId, f32, bool)>,
    },
    /// The key exchange with a participant completed: the codes to compare.
    Verification {
        /// Who.
        id: ParticipantId,
        /// Its fingerprint, verified by the handshake signature.
        fingerprint: Fingerprint,
        /// Six digits both sides see; the call's verification code in a direct call.
        short_code: String,
        /// The pair's safety number (60 digits in groups of 5).
        safety_number: String,
    },
    /// Periodic statistics.
    Stats(CallStats),
    /// Connected to the relay (also after each reconnect): where, and the certificate
    /// fingerprint it presented (to pin on first use, or show in the relays list).
    RelayConnected {
        /// The relay's address.
        address: String,
        /// Its certificate fingerprint.
        fingerprint: String,
    },
    /// A direct call (caller side) is ringing at the callee.
    Ringing {
        /// The call.
        call_id: CallId,
    },
    /// Our video source stopped (file ended, camera unplugged or failing): the call
    /// goes on without our video until a new source is set (`Command::SetVideoInput`).
    VideoSourceStopped {
        /// Why, in words.
        message: String,
    },
    /// Something went wrong that did not end the call (a device failed and was
    /// replaced by silence, a bad message was dropped).
    Warning {
        /// What, in words.
        message: String,
    },
}
