//! What a call needs to start: where the relay is, who we are, what to call, and limits.

use std::net::SocketAddr;
use std::time::Duration;

use wzp_audio::VoiceConfig;
use wzp_crypto::Identity;
use wzp_proto::{CodecId, Fingerprint};
use wzp_transport::Trust;

use crate::error::{EngineError, Result};

/// How to reach and trust a relay.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// UDP address.
    pub addr: SocketAddr,
    /// TLS server name (only checked with CA trust; pinned relays are checked by key).
    pub server_name: String,
    /// Pinned fingerprint, first use, or CA.
    pub trust: Trust,
    /// Access token, if the relay wants one.
    pub token: Option<String>,
}

impl RelayConfig {
    /// The TLS server name for a relay given as `HOST:PORT` (`[v6]:PORT` too): the host
    /// part, or `localhost` when there is none. Only CA trust checks it.
    #[must_use]
    pub fn server_name_of(relay: &str) -> String {
        relay
            .rsplit_once(':')
            .map_or("localhost", |(h, _)| h)
            .trim_matches(|c| c == '[' || c == ']')
            .to_string()
    }
}

/// Outgoing video settings (used when the call has a video source).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VideoConfig {
    /// Target bitrate in bits per second.
    pub bitrate_bps: u32,
    /// Encoder threads (0 lets OpenH264 choose).
    pub threads: u16,
}

impl Default for VideoConfig {
    fn default() -> Self {
        Self {
            bitrate_bps: 1_200_000,
            threads: 1,
        }
    }
}

/// What the UI lets a user prefer for outgoing video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VideoQuality {
    /// Spend as little as possible (about a quarter of the configured bitrate).
    DataSaver,
    /// The configured bitrate.
    Balanced,
    /// Half again the configured bitrate.
    High,
}

impl VideoQuality {
    /// The bitrate this preference gives for a configured `base` bitrate.
    #[must_use]
    pub fn bitrate(self, base: u32) -> u32 {
        match self {
            Self::DataSaver => base / 4,
            Self::Balanced => base,
            Self::High => base.saturating_add(base / 2),
        }
    }
}

/// One call's settings.
#[derive(Clone)]
pub struct CallConfig {
    /// The relay.
    pub relay: RelayConfig,
    /// Our identity (proofs, key exchange).
    pub identity: Identity,
    /// The name others see (not authenticated; the fingerprint is).
    pub alias: Option<String>,
    /// Audio tier (an Opus codec id). The default is Opus 32k: the quality bench
    /// scores it 4.04 (PESQ-WB) on a clean link against 3.72 for 24k, for 8 kbit/s more.
    pub audio_codec: CodecId,
    /// Outgoing video.
    pub video: VideoConfig,
    /// Echo cancellation, noise suppression and gain control on the microphone signal
    /// (see `wzp_audio::voice`). Off by default: the engine cannot tell a microphone
    /// from a test tone or a file, and noise suppression would treat a steady tone as
    /// noise. An app that captures a microphone switches it on (the desktop app does,
    /// from its settings; the CLI does with `--audio-in mic`).
    pub voice: VoiceConfig,
    /// How long to keep trying to reconnect after the connection is lost.
    pub reconnect_for: Duration,
    /// "Connected but no media": with peers present and none of them heard from
    /// (audio or mute heartbeats) for this long, the engine reconnects.
    pub media_timeout: Duration,
    /// How long a caller waits for an answer (the relay has its own limit too).
    pub ring_timeout: Duration,
    /// How often stats and network quality are reported.
    pub stats_interval: Duration,
}

impl std::fmt::Debug for CallConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallConfig")
            .field("relay", &self.relay)
            .field("identity", &self.identity.fingerprint())
            .field("alias", &self.alias)
            .field("audio_codec", &self.audio_codec)
            .field("video", &self.video)
            .field("voice", &self.voice)
            .finish_non_exhaustive()
    }
}

impl CallConfig {
    /// Defaults for everything but the relay and identity.
    #[must_use]
    pub fn new(relay: RelayConfig, identity: Identity) -> Self {
        Self {
            relay,
            identity,
            alias: None,
            audio_codec: CodecId::Opus32k,
            video: VideoConfig::default(),
            voice: VoiceConfig::off(),
            reconnect_for: Duration::from_secs(30),
            media_timeout: Duration::from_secs(6),
            ring_timeout: Duration::from_secs(45),
            stats_interval: Duration::from_secs(1),
        }
    }

    /// Refuses settings the engine cannot run with, naming the setting.
    pub fn validate(&self) -> Result<()> {
        if !wzp_audio::codec::is_opus(self.audio_codec) {
            return Err(EngineError::Config {
                name: "audio_codec",
                reason: format!("{:?} is not an Opus tier", self.audio_codec),
            });
        }
        if !(50_000..=20_000_000).contains(&self.video.bitrate_bps) {
            return Err(EngineError::Config {
                name: "video.bitrate_bps",
                reason: format!("{} is outside 50000..=20000000", self.video.bitrate_bps),
            });
        }
        for (name, d) in [
            ("stats_interval", self.stats_interval),
            ("media_timeout", self.media_timeout),
            ("ring_timeout", self.ring_timeout),
        ] {
            if d < Duration::from_millis(100) {
                return Err(EngineError::Config {
                    name,
                    reason: format!("{d:?} is shorter than 100 ms"),
                });
            }
        }
        Ok(())
    }
}

/// What a call connects to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallTarget {
    /// A group room by name; the relay only sees a hash of it.
    Room(String),
    /// A direct call to this identity, which must be registered at the relay.
    Direct(Fingerprint),
}

#[cfg(test)]
mod tests {
    use super::RelayConfig;

    #[test]
    fn server_name_from_relay_address() {
        assert_eq!(
            RelayConfig::server_name_of("relay.example:4433"),
            "relay.example"
        );
        assert_eq!(RelayConfig::server_name_of("[::1]:4433"), "::1");
        assert_eq!(RelayConfig::server_name_of("nohost"), "localhost");
    }
}
