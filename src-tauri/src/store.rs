//! Settings and call history as JSON files in the app data folder.
//!
//! Writes are atomic (temp file, fsync, rename: `wzp_transport::fsutil::write_atomic`),
//! so a crash leaves the old file or the new one. A file that does not parse is never
//! silently replaced by defaults: it is renamed to `<name>.corrupt-<unix time>` and the
//! load reports that, so the UI can tell the user where the old data went.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{AppError, Result};

/// What happened to a file that could not be read at start-up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CorruptFile {
    /// The file that did not parse.
    pub path: String,
    /// Where it was moved, untouched, for the user (or a bug report) to look at.
    pub moved_to: String,
    /// The parse error.
    pub error: String,
}

/// Loads `path`, or the default when it does not exist. A file that exists but does not
/// parse is moved aside and reported; the default is then used.
pub fn load_or_default<T: DeserializeOwned + Default>(
    path: &Path,
) -> Result<(T, Option<CorruptFile>)> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((T::default(), None)),
        Err(e) => return Err(storage(path, e)),
    };
    match serde_json::from_slice::<T>(&bytes) {
        Ok(v) => Ok((v, None)),
        Err(parse) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let aside = path.with_file_name(format!("{name}.corrupt-{now}"));
            std::fs::rename(path, &aside).map_err(|e| storage(path, e))?;
            tracing::warn!(path = %path.display(), moved_to = %aside.display(), error = %parse,
                "a data file did not parse; it was moved aside and defaults are used");
            Ok((
                T::default(),
                Some(CorruptFile {
                    path: path.display().to_string(),
                    moved_to: aside.display().to_string(),
                    error: parse.to_string(),
                }),
            ))
        }
    }
}

/// Writes `value` to `path` atomically, as pretty JSON.
pub fn save<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let data = serde_json::to_vec_pretty(value).map_err(|e| storage(path, e))?;
    wzp_transport::fsutil::write_atomic(path, &data).map_err(|e| storage(path, e))
}

fn storage(path: &Path, e: impl std::fmt::Display) -> AppError {
    AppError::Storage {
        path: path.display().to_string(),
        detail: e.to_string(),
    }
}

/// A relay the user has used or added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayEntry {
    /// Display name.
    pub name: String,
    /// HOST:PORT.
    pub address: String,
    /// Pinned certificate fingerprint (set on first use or typed by the user).
    #[serde(default)]
    pub fingerprint: Option<String>,
}

/// User preferences. Unknown fields are ignored and missing ones take defaults, so a
/// file from an older or newer version still loads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Name shown to others in calls.
    pub alias: Option<String>,
    /// Relays, most recently used first.
    pub relays: Vec<RelayEntry>,
    /// Last room joined (prefills the form).
    pub last_room: Option<String>,
    /// Microphone id (`wzp_audio::DeviceInfo::id`); `None` is the system default.
    pub audio_input: Option<String>,
    /// Speaker id; `None` is the system default.
    pub audio_output: Option<String>,
    /// Camera id; `None` is the first camera.
    pub camera: Option<String>,
    /// "light", "dark" or "system".
    pub theme: String,
    /// Whether the app stays reachable for direct calls (a listener on a relay).
    pub receive_calls: bool,
    /// HOST:PORT of the relay to receive calls on; `None` is automatic: the relay on
    /// this computer when hosting, else the last relay used.
    pub receive_relay: Option<String>,
    /// Microphone processing.
    pub voice: VoiceSettings,
    /// Whether an incoming call also shows a desktop notification (with Accept and
    /// Decline) besides the in-app ringing screen.
    pub call_notifications: bool,
    /// Push-to-talk key (`KeyboardEvent.code`, e.g. "Space"); `None`: the microphone is
    /// open unless muted.
    pub push_to_talk: Option<String>,
    /// Whether the push-to-talk key also works while another application has the focus
    /// (read system-wide, see `globalkey`). Off by default: it means reading the key's
    /// state outside the app, which some people would not expect.
    pub push_to_talk_background: bool,
    /// Calls start with the camera closed; the camera button in the call opens it.
    pub camera_off_at_start: bool,
}

/// Which microphone processing stages run (see `wzp_audio::voice`). All on by default:
/// without echo cancellation everyone else hears themselves through our speakers.
/// Turning them off is for a headset in a quiet room, or a musician who wants the raw
/// signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct VoiceSettings {
    /// Echo cancellation.
    pub echo_cancellation: bool,
    /// Noise suppression.
    pub noise_suppression: bool,
    /// Automatic gain control.
    pub gain_control: bool,
}

impl Default for VoiceSettings {
    fn default() -> Self {
        Self {
            echo_cancellation: true,
            noise_suppression: true,
            gain_control: true,
        }
    }
}

impl VoiceSettings {
    /// The engine's configuration for these choices.
    #[must_use]
    pub fn config(self) -> wzp_engine::VoiceConfig {
        wzp_engine::VoiceConfig {
            echo_cancellation: self.echo_cancellation,
            noise_suppression: self.noise_suppression,
            gain_control: self.gain_control,
            ..wzp_engine::VoiceConfig::off()
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            alias: None,
            relays: Vec::new(),
            last_room: None,
            audio_input: None,
            audio_output: None,
            camera: None,
            theme: "system".into(),
            receive_calls: true,
            receive_relay: None,
            voice: VoiceSettings::default(),
            call_notifications: true,
            push_to_talk: None,
            push_to_talk_background: false,
            camera_off_at_start: false,
        }
    }
}

impl Settings {
    /// Records a relay as the most recently used, keeping a pinned fingerprint.
    pub fn remember_relay(&mut self, address: &str, fingerprint: Option<String>) {
        let old = self.relays.iter().position(|r| r.address == address);
        let mut entry = old.map_or_else(
            || RelayEntry {
                name: address.to_string(),
                address: address.to_string(),
                fingerprint: None,
            },
            |i| self.relays.remove(i),
        );
        if fingerprint.is_some() {
            entry.fingerprint = fingerprint;
        }
        self.relays.insert(0, entry);
        self.relays.truncate(20);
    }
}

/// How a call came about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// We joined a room.
    Room,
    /// We called someone.
    Placed,
    /// Someone called us and we answered.
    Received,
    /// Someone called and nobody answered.
    Missed,
}

/// One finished call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Room name or the called fingerprint.
    pub target: String,
    /// Room call or direct call.
    pub direction: Direction,
    /// Relay address.
    pub relay: String,
    /// Start, seconds since the Unix epoch.
    pub started_unix: u64,
    /// How long it was active, in seconds (0 if it never connected).
    pub duration_secs: u64,
    /// Fingerprints (and names) of everyone who was in it.
    pub participants: Vec<HistoryPeer>,
    /// Why it ended, as the engine's `EndReason` tag (`local_hangup`, ...).
    pub end_reason: String,
}

/// Someone who was in a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryPeer {
    /// Identity fingerprint.
    pub fingerprint: String,
    /// Self-chosen name, if any.
    pub alias: Option<String>,
}

/// Call history, newest first, at most [`History::MAX`] entries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// The entries.
    pub entries: Vec<HistoryEntry>,
}

impl History {
    /// Oldest entries beyond this are dropped.
    pub const MAX: usize = 200;

    /// Adds a call at the front.
    pub fn push(&mut self, e: HistoryEntry) {
        self.entries.insert(0, e);
        self.entries.truncate(Self::MAX);
    }
}

/// Someone the user saved: a name for a fingerprint, and whether the user has checked
/// (by comparing safety numbers) that the fingerprint really is theirs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// The name the user gave.
    pub name: String,
    /// Identity fingerprint, in its display form (8 groups of 4 hex digits).
    pub fingerprint: String,
    /// The user compared the safety number with this person.
    #[serde(default)]
    pub verified: bool,
    /// When it was added, seconds since the Unix epoch.
    #[serde(default)]
    pub added_unix: u64,
}

/// The contact list, sorted by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Contacts {
    /// The contacts.
    pub contacts: Vec<Contact>,
}

impl Contacts {
    /// Longest name accepted.
    pub const MAX_NAME: usize = 64;
    /// Most contacts kept (a bound on the file, not a limit anyone should meet).
    pub const MAX: usize = 1000;

    /// The contact with this fingerprint.
    #[must_use]
    pub fn find(&self, fp: &wzp_proto::Fingerprint) -> Option<&Contact> {
        let key = fp.to_string();
        self.contacts.iter().find(|c| c.fingerprint == key)
    }

    /// Adds a contact, or renames an existing one (its verified mark is kept).
    /// `verified: Some(_)` also sets the mark.
    pub fn upsert(
        &mut self,
        name: &str,
        fp: &wzp_proto::Fingerprint,
        verified: Option<bool>,
        now_unix: u64,
    ) -> Result<Contact> {
        let name = name.trim();
        if name.is_empty() {
            return Err(AppError::invalid("name", "enter a name for the contact"));
        }
        if name.chars().count() > Self::MAX_NAME {
            return Err(AppError::invalid("name", "at most 64 characters"));
        }
        let key = fp.to_string();
        let contact = match self.contacts.iter_mut().find(|c| c.fingerprint == key) {
            Some(c) => {
                c.name = name.to_string();
                if let Some(v) = verified {
                    c.verified = v;
                }
                c.clone()
            }
            None => {
                if self.contacts.len() >= Self::MAX {
                    return Err(AppError::invalid("contacts", "the contact list is full"));
                }
                let c = Contact {
                    name: name.to_string(),
                    fingerprint: key,
                    verified: verified.unwrap_or(false),
                    added_unix: now_unix,
                };
                self.contacts.push(c.clone());
                c
            }
        };
        self.contacts.sort_by_key(|c| c.name.to_lowercase());
        Ok(contact)
    }

    /// Sets or clears the verified mark of an existing contact.
    pub fn set_verified(&mut self, fp: &wzp_proto::Fingerprint, verified: bool) -> Result<Contact> {
        let key = fp.to_string();
        let c = self
            .contacts
            .iter_mut()
            .find(|c| c.fingerprint == key)
            .ok_or_else(|| AppError::invalid("fingerprint", "not in your contacts"))?;
        c.verified = verified;
        Ok(c.clone())
    }

    /// Removes a contact; whether it was there.
    pub fn remove(&mut self, fp: &wzp_proto::Fingerprint) -> bool {
        let key = fp.to_string();
        let before = self.contacts.len();
        self.contacts.retain(|c| c.fingerprint != key);
        self.contacts.len() != before
    }
}

/// Where the app keeps its files.
#[derive(Debug, Clone)]
pub struct Paths {
    /// `settings.json`.
    pub settings: PathBuf,
    /// `history.json`.
    pub history: PathBuf,
    /// `relays.json`, the relay pin store (same format as the CLI's).
    pub pins: PathBuf,
    /// `contacts.json`.
    pub contacts: PathBuf,
}

impl Paths {
    /// The files inside `dir`.
    #[must_use]
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            settings: dir.join("settings.json"),
            history: dir.join("history.json"),
            pins: dir.join("relays.json"),
            contacts: dir.join("contacts.json"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "wzp-desktop-test-{name}-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
        ));
        let _ = std::fs::remove_dir_all(&d);
        assert!(std::fs::create_dir_all(&d).is_ok());
        d
    }

    #[test]
    fn missing_file_gives_defaults() {
        let d = tmp_dir("missing");
        let r = load_or_default::<Settings>(&d.join("settings.json"));
        assert!(matches!(r, Ok((s, None)) if s == Settings::default()));
    }

    #[test]
    fn save_then_load_round_trips() {
        let d = tmp_dir("roundtrip");
        let p = d.join("history.json");
        let mut h = History::default();
        h.push(HistoryEntry {
            target: "friends".into(),
            direction: Direction::Room,
            relay: "127.0.0.1:4433".into(),
            started_unix: 1,
            duration_secs: 2,
            participants: vec![HistoryPeer {
                fingerprint: "ab".into(),
                alias: None,
            }],
            end_reason: "local_hangup".into(),
        });
        assert!(save(&p, &h).is_ok());
        let back = load_or_default::<History>(&p);
        assert!(matches!(back, Ok((b, None)) if b == h));
        // No temp files left behind.
        let names: Vec<_> = std::fs::read_dir(&d)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn corrupt_file_is_moved_aside_and_reported() {
        let d = tmp_dir("corrupt");
        let p = d.join("settings.json");
        assert!(std::fs::write(&p, b"{ not json").is_ok());
        let r = load_or_default::<Settings>(&p);
        let Ok((s, Some(c))) = r else {
            panic!("expected a corrupt-file report, got {r:?}");
        };
        assert_eq!(s, Settings::default());
        assert!(!p.exists(), "the bad file must not stay in place");
        let kept = std::fs::read(&c.moved_to).unwrap_or_default();
        assert_eq!(kept, b"{ not json", "the bad file is kept, unchanged");
    }

    #[test]
    fn voice_settings_default_on_and_keep_what_a_file_says() {
        let old: Settings = serde_json::from_str(r#"{"theme":"dark"}"#).unwrap_or_default();
        assert_eq!(old.theme, "dark");
        assert_eq!(old.voice, VoiceSettings::default());
        assert!(old.voice.config().echo_cancellation);
        let some: Settings =
            serde_json::from_str(r#"{"voice":{"echo_cancellation":false}}"#).unwrap_or_default();
        let v = some.voice.config();
        assert!(!v.echo_cancellation && v.noise_suppression && v.gain_control);
    }

    #[test]
    fn history_is_capped_newest_first() {
        let mut h = History::default();
        for i in 0..(History::MAX as u64 + 5) {
            h.push(HistoryEntry {
                target: format!("r{i}"),
                direction: Direction::Room,
                relay: String::new(),
                started_unix: i,
                duration_secs: 0,
                participants: vec![],
                end_reason: "local_hangup".into(),
            });
        }
        assert_eq!(h.entries.len(), History::MAX);
        assert_eq!(h.entries[0].started_unix, History::MAX as u64 + 4);
    }

    fn fp(n: u8) -> wzp_proto::Fingerprint {
        wzp_proto::Fingerprint([n; 16])
    }

    #[test]
    fn contacts_add_rename_verify_remove() {
        let mut c = Contacts::default();
        let a = c.upsert(" Zoe ", &fp(1), None, 5);
        assert!(matches!(&a, Ok(x) if x.name == "Zoe" && !x.verified && x.added_unix == 5));
        assert!(c.upsert("adam", &fp(2), Some(true), 6).is_ok());
        // Sorted by name, case-insensitively.
        let names: Vec<_> = c.contacts.iter().map(|x| x.name.as_str()).collect();
        assert_eq!(names, ["adam", "Zoe"]);
        // Renaming keeps the mark and the added time; no duplicate.
        assert!(c.set_verified(&fp(1), true).is_ok());
        let r = c.upsert("Zoé", &fp(1), None, 9);
        assert!(matches!(&r, Ok(x) if x.verified && x.added_unix == 5));
        assert_eq!(c.contacts.len(), 2);
        assert_eq!(c.find(&fp(1)).map(|x| x.name.as_str()), Some("Zoé"));
        assert_eq!(
            c.find(&fp(1)).map(|x| x.fingerprint.clone()),
            Some(fp(1).to_string()),
            "stored in display form"
        );
        assert!(c.remove(&fp(1)));
        assert!(!c.remove(&fp(1)));
        assert!(c.find(&fp(1)).is_none());
        assert!(matches!(
            c.set_verified(&fp(1), true),
            Err(AppError::InvalidInput {
                field: "fingerprint",
                ..
            })
        ));
    }

    #[test]
    fn contact_names_are_checked() {
        let mut c = Contacts::default();
        assert!(matches!(
            c.upsert("   ", &fp(1), None, 0),
            Err(AppError::InvalidInput { field: "name", .. })
        ));
        assert!(c.upsert(&"x".repeat(65), &fp(1), None, 0).is_err());
        assert!(c.upsert(&"é".repeat(64), &fp(1), None, 0).is_ok());
    }

    #[test]
    fn contacts_file_round_trips_and_a_corrupt_one_is_kept_aside() {
        let d = tmp_dir("contacts");
        let p = Paths::in_dir(&d).contacts;
        let mut c = Contacts::default();
        assert!(c.upsert("Ana", &fp(3), Some(true), 1).is_ok());
        assert!(save(&p, &c).is_ok());
        assert!(matches!(load_or_default::<Contacts>(&p), Ok((b, None)) if b == c));
        assert!(std::fs::write(&p, b"[1,2").is_ok());
        let r = load_or_default::<Contacts>(&p);
        let Ok((empty, Some(bad))) = r else {
            panic!("expected a corrupt-file report, got {r:?}");
        };
        assert_eq!(empty, Contacts::default());
        assert_eq!(std::fs::read(&bad.moved_to).unwrap_or_default(), b"[1,2");
    }

    #[test]
    fn remember_relay_moves_to_front_and_keeps_pin() {
        let mut s = Settings::default();
        s.remember_relay("a:1", Some("fp".into()));
        s.remember_relay("b:1", None);
        s.remember_relay("a:1", None);
        assert_eq!(s.relays[0].address, "a:1");
        assert_eq!(s.relays[0].fingerprint.as_deref(), Some("fp"));
        assert_eq!(s.relays.len(), 2);
    }
}
