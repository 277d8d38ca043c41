//! Long-term identity: a 32-byte seed, its 24-word form, and the keys derived from it.
//!
//! The derivation matches the reference WZP exactly, so one seed gives the same
//! fingerprint in both: the seed is the BIP39 *entropy* (not the PBKDF2 seed
//! BIP39 wallets use), and both key pairs come from
//! `HKDF-SHA256(salt = none, ikm = seed)` with the info strings
//! `"warzone-ed25519"` and `"warzone-x25519"`.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use hkdf::Hkdf;
use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256};
use wzp_proto::Fingerprint;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{CryptoError, Result};

/// HKDF info string for the Ed25519 signing key (reference-compatible).
pub const INFO_ED25519: &[u8] = b"warzone-ed25519";
/// HKDF info string for the X25519 static key (reference-compatible).
pub const INFO_X25519: &[u8] = b"warzone-x25519";
/// Number of words in a recovery phrase.
pub const MNEMONIC_WORDS: usize = 24;

/// The 32 secret bytes everything else is derived from. Zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Seed([u8; 32]);

impl Seed {
    /// Wraps raw seed bytes.
    #[must_use]
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A fresh random seed.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        let mut b = [0u8; 32];
        rng.fill_bytes(&mut b);
        Self(b)
    }

    /// The raw bytes. Handle with care: this is the whole identity.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses 64 hex digits (surrounding whitespace allowed), the reference's
    /// storage form and the CLI's `--seed-hex`.
    pub fn from_hex(s: &str) -> Result<Self> {
        let mut b = [0u8; 32];
        hex::decode_to_slice(s.trim(), &mut b).map_err(|e| CryptoError::InvalidSeedHex {
            reason: e.to_string(),
        })?;
        Ok(Self(b))
    }

    /// 64 lower-case hex digits, in a buffer zeroized on drop.
    #[must_use]
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.0))
    }

    /// The 24 BIP39 English words whose entropy is this seed, space-separated.
    #[must_use]
    pub fn to_mnemonic(&self) -> Zeroizing<String> {
        // 32 bytes is always a valid BIP39 entropy length, so this cannot fail;
        // the fallback keeps the function total without a panic path.
        match bip39::Mnemonic::from_entropy(&self.0) {
            Ok(m) => Zeroizing::new(m.words().collect::<Vec<_>>().join(" ")),
            Err(_) => Zeroizing::new(String::new()),
        }
    }

    /// Restores a seed from its 24 words. Case and extra whitespace are
    /// forgiven; a wrong word count, an unknown word (named by position) and a
    /// bad checksum are distinct errors so the UI can say what to fix.
    pub fn from_mnemonic(phrase: &str) -> Result<Self> {
        let lower = Zeroizing::new(phrase.to_lowercase());
        let words: Vec<&str> = lower.split_whitespace().collect();
        if words.len() != MNEMONIC_WORDS {
            return Err(CryptoError::WrongWordCount { found: words.len() });
        }
        let lang = bip39::Language::English;
        for (i, w) in words.iter().enumerate() {
            if lang.find_word(w).is_none() {
                return Err(CryptoError::UnknownWord {
                    position: i + 1,
                    word: (*w).to_string(),
                });
            }
        }
        let normalized = Zeroizing::new(words.join(" "));
        let m = bip39::Mnemonic::parse_in_normalized(lang, &normalized).map_err(|e| match e {
            bip39::Error::BadWordCount(n) => CryptoError::WrongWordCount { found: n },
            bip39::Error::UnknownWord(i) => CryptoError::UnknownWord {
                position: i + 1,
                word: words.get(i).map(|w| (*w).to_string()).unwrap_or_default(),
            },
            _ => CryptoError::BadChecksum,
        })?;
        let (entropy, len) = m.to_entropy_array();
        let mut b = [0u8; 32];
        if len != 32 {
            return Err(CryptoError::WrongWordCount { found: words.len() });
        }
        b.copy_from_slice(&entropy[..32]);
        let mut entropy = entropy;
        entropy.zeroize();
        Ok(Self(b))
    }
}

impl std::fmt::Debug for Seed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Seed(<secret>)")
    }
}

/// Derives 32 bytes with HKDF-SHA256 (no salt) from `ikm`.
fn derive32(ikm: &[u8], info: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    // Expanding 32 bytes is far below HKDF's 255*32-byte limit, so this never fails.
    let _ = Hkdf::<Sha256>::new(None, ikm).expand(info, out.as_mut());
    out
}

/// The public half of an identity: its Ed25519 verifying key. This is what
/// peers learn in the handshake and what safety numbers are computed from.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicIdentity(VerifyingKey);

impl PublicIdentity {
    /// From the 32-byte Ed25519 public key; rejects invalid points.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self> {
        VerifyingKey::from_bytes(bytes)
            .map(Self)
            .map_err(|_| CryptoError::InvalidPublicKey)
    }

    /// Parses 64 hex digits (the CLI's form of another identity's key).
    pub fn from_hex(s: &str) -> Result<Self> {
        let mut b = [0u8; 32];
        hex::decode_to_slice(s.trim(), &mut b).map_err(|_| CryptoError::InvalidPublicKey)?;
        Self::from_bytes(&b)
    }

    /// The 32-byte Ed25519 public key.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// 64 lower-case hex digits.
    #[must_use]
    pub fn to_hex(&self) -> String {
        hex::encode(self.0.to_bytes())
    }

    /// SHA-256 of the public key, first 16 bytes (reference-compatible).
    #[must_use]
    pub fn fingerprint(&self) -> Fingerprint {
        let d = Sha256::digest(self.0.as_bytes());
        let mut fp = [0u8; 16];
        fp.copy_from_slice(&d[..16]);
        Fingerprint(fp)
    }

    /// Verifies an Ed25519 signature by this identity (strict verification,
    /// rejecting malleable and small-order forms).
    pub(crate) fn verify(&self, msg: &[u8], sig: &[u8; 64]) -> bool {
        self.0
            .verify_strict(msg, &Signature::from_bytes(sig))
            .is_ok()
    }
}

impl std::fmt::Debug for PublicIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicIdentity({})", self.fingerprint())
    }
}

/// A full identity: seed plus derived key pairs. All secrets zeroize on drop.
#[derive(Clone)]
pub struct Identity {
    seed: Seed,
    signing: SigningKey,
    x25519: x25519_dalek::StaticSecret,
}

impl Identity {
    /// Derives the identity of a seed.
    #[must_use]
    pub fn from_seed(seed: Seed) -> Self {
        let ed = derive32(seed.as_bytes(), INFO_ED25519);
        let x = derive32(seed.as_bytes(), INFO_X25519);
        Self {
            signing: SigningKey::from_bytes(&ed),
            x25519: x25519_dalek::StaticSecret::from(*x),
            seed,
        }
    }

    /// A fresh random identity.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        Self::from_seed(Seed::generate(rng))
    }

    /// Restores from 24 words (see [`Seed::from_mnemonic`]).
    pub fn from_mnemonic(phrase: &str) -> Result<Self> {
        Seed::from_mnemonic(phrase).map(Self::from_seed)
    }

    /// The seed.
    #[must_use]
    pub fn seed(&self) -> &Seed {
        &self.seed
    }

    /// The 24 recovery words.
    #[must_use]
    pub fn mnemonic(&self) -> Zeroizing<String> {
        self.seed.to_mnemonic()
    }

    /// The public identity.
    #[must_use]
    pub fn public(&self) -> PublicIdentity {
        PublicIdentity(self.signing.verifying_key())
    }

    /// The fingerprint of the public identity.
    #[must_use]
    pub fn fingerprint(&self) -> Fingerprint {
        self.public().fingerprint()
    }

    /// The X25519 static public key. Derived for reference compatibility;
    /// the pairwise channel uses ephemeral keys only.
    #[must_use]
    pub fn x25519_public(&self) -> [u8; 32] {
        x25519_dalek::PublicKey::from(&self.x25519).to_bytes()
    }

    /// Signs a message with the identity key.
    pub(crate) fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.signing.sign(msg).to_bytes()
    }
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Identity({})", self.fingerprint())
    }
}

/// Loading and saving an identity file.
///
/// The file holds the seed as 64 hex digits and a newline, the reference's
/// format, so an identity moves between the two. It is written atomically
/// (temporary file in the same directory, fsync, rename, fsync of the
/// directory) with mode 0600, so a crash never leaves a half-written identity
/// and other users cannot read it.
pub mod store {
    use std::fs;
    use std::io::Write;
    use std::path::{Path, PathBuf};

    use super::{Identity, Seed};
    use crate::error::{CryptoError, Result};

    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CryptoError + '_ {
        move |source| CryptoError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// Reads the identity stored at `path`.
    pub fn load(path: &Path) -> Result<Identity> {
        let text = zeroize::Zeroizing::new(fs::read_to_string(path).map_err(io(path))?);
        let seed = Seed::from_hex(&text).map_err(|e| CryptoError::BadIdentityFile {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Ok(Identity::from_seed(seed))
    }

    /// Writes `identity` to `path` atomically with mode 0600, replacing any
    /// file there. Creates the parent directory if needed.
    pub fn save(path: &Path, identity: &Identity) -> Result<()> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
        let result =
            write_new(&tmp, identity).and_then(|()| fs::rename(&tmp, path).map_err(io(path)));
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
            return result;
        }
        // Make the rename itself durable.
        if let Ok(d) = fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    fn write_new(tmp: &Path, identity: &Identity) -> Result<()> {
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(tmp).map_err(io(tmp))?;
        let mut line = identity.seed().to_hex();
        line.push('\n');
        f.write_all(line.as_bytes()).map_err(io(tmp))?;
        f.sync_all().map_err(io(tmp))?;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn mnemonic_round_trip() {
        let seed = Seed::from_bytes([7u8; 32]);
        let words = seed.to_mnemonic();
        assert_eq!(words.split(' ').count(), 24);
        let back = Seed::from_mnemonic(&words.to_uppercase()).unwrap();
        assert_eq!(back.as_bytes(), seed.as_bytes());
    }

    #[test]
    fn mnemonic_errors_are_specific() {
        let seed = Seed::from_bytes([9u8; 32]);
        let words = seed.to_mnemonic();
        let mut v: Vec<&str> = words.split(' ').collect();
        assert!(matches!(
            Seed::from_mnemonic(&v[..23].join(" ")),
            Err(CryptoError::WrongWordCount { found: 23 })
        ));
        v[4] = "notaword";
        match Seed::from_mnemonic(&v.join(" ")) {
            Err(CryptoError::UnknownWord { position: 5, word }) => assert_eq!(word, "notaword"),
            other => panic!("{other:?}"),
        }
        let mut v: Vec<&str> = words.split(' ').collect();
        v.swap(0, 1);
        if v[0] != v[1] {
            assert!(matches!(
                Seed::from_mnemonic(&v.join(" ")),
                Err(CryptoError::BadChecksum)
            ));
        }
    }

    #[test]
    fn store_round_trip_with_mode_0600() {
        let dir = std::env::temp_dir().join(format!("wzp-crypto-test-{}", std::process::id()));
        let path = dir.join("identity");
        let id = Identity::from_seed(Seed::from_bytes([3u8; 32]));
        store::save(&path, &id).unwrap();
        store::save(&path, &id).unwrap();
        let back = store::load(&path).unwrap();
        assert_eq!(back.fingerprint(), id.fingerprint());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "zz").unwrap();
        assert!(matches!(
            store::load(&path),
            Err(CryptoError::BadIdentityFile { .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
