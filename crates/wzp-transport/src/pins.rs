//! Pinned relay fingerprints, kept in a small JSON file: `{"host:port": "aa:bb:..."}`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Result, TransportError};
use crate::fsutil::write_atomic;
use crate::tls::{RelayFingerprint, Trust};

/// Relays the user has trusted, by address.
#[derive(Debug, Clone, Default)]
pub struct PinStore {
    path: PathBuf,
    pins: BTreeMap<String, String>,
}

impl PinStore {
    /// Loads the store at `path`; a missing file is an empty store. A corrupt
    /// file is an error, never silently emptied (that would undo every pin).
    pub fn load(path: &Path) -> Result<Self> {
        let pins = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| TransportError::BadFile {
                path: path.to_path_buf(),
                reason: format!("not a pin store: {e}"),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(source) => {
                return Err(TransportError::Io {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        Ok(Self {
            path: path.to_path_buf(),
            pins,
        })
    }

    /// The pinned fingerprint for `relay`, if any.
    pub fn get(&self, relay: &str) -> Result<Option<RelayFingerprint>> {
        self.pins
            .get(relay)
            .map(|s| RelayFingerprint::parse(s))
            .transpose()
    }

    /// How to trust `relay`: pinned if known, first use otherwise.
    pub fn trust_for(&self, relay: &str) -> Result<Trust> {
        Ok(match self.get(relay)? {
            Some(fp) => Trust::Pinned(fp),
            None => Trust::FirstUse,
        })
    }

    /// Pins `relay` to `fp` and saves the store atomically.
    pub fn pin(&mut self, relay: &str, fp: RelayFingerprint) -> Result<()> {
        self.pins.insert(relay.to_string(), fp.to_string());
        self.save()
    }

    /// Forgets `relay` (after the user accepted a key change) and saves.
    pub fn forget(&mut self, relay: &str) -> Result<()> {
        self.pins.remove(relay);
        self.save()
    }

    fn save(&self) -> Result<()> {
        let json = serde_json::to_vec_pretty(&self.pins).map_err(|e| TransportError::BadFile {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        write_atomic(&self.path, &json)
    }
}
