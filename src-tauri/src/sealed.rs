//! The passphrase-sealed identity file: the 32-byte identity seed encrypted under a key
//! derived from a passphrase, for computers with no OS secret store.
//!
//! Sans-IO: [`Sealer::seal`] turns a seed, a passphrase and randomness into bytes, and
//! [`Sealer::open`] turns bytes and a passphrase back into the seed. Reading and writing the
//! file is the caller's job (`identity::SealedFileStore`), so every failure mode of a bad
//! file can be tested with plain byte slices.
//!
//! # Format, version 1 (98 bytes; integers little-endian)
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `WZPSEAL\n` |
//! | 8 | 1 | format version, `1` |
//! | 9 | 1 | key derivation: `1` = Argon2id (version 0x13) |
//! | 10 | 4 | Argon2 memory cost, KiB |
//! | 14 | 4 | Argon2 time cost (passes) |
//! | 18 | 4 | Argon2 lanes (parallelism) |
//! | 22 | 16 | salt (random per write) |
//! | 38 | 12 | ChaCha20-Poly1305 nonce (random per write) |
//! | 50 | 48 | the seed encrypted (32 bytes) and its Poly1305 tag (16 bytes) |
//!
//! The first 50 bytes (the header) are the AEAD's associated data, so the stored cost
//! parameters cannot be changed without the tag failing. The parameters live in the file so
//! a later version can raise them and still open older files.
//!
//! Opening checks, in order: the magic (else "not a sealed identity file"), the version (a
//! newer one is "made by a newer version of the app"), the exact length (truncated or
//! trailing bytes), then the parameters against fixed ceilings before any memory is
//! allocated for them (a hostile file cannot make the app reserve 100 GB) and against a
//! floor (a file that claims cheap parameters is refused rather than trusted). Only then
//! is the key derived; a tag failure means the passphrase is wrong, or the ciphertext was
//! changed: the two cannot be told apart, by design of the AEAD.

use argon2::{Algorithm, Argon2, Version};
use chacha20poly1305::aead::{Aead as _, KeyInit as _, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand_core::CryptoRngCore;
use zeroize::Zeroizing;

/// The file's first bytes.
pub const MAGIC: [u8; 8] = *b"WZPSEAL\n";
/// The format version this code writes (and the only one it reads).
pub const VERSION: u8 = 1;
/// The key derivation id for Argon2id, version 0x13.
const KDF_ARGON2ID: u8 = 1;
const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 12;
/// Bytes of the sealed secret (an identity seed).
pub const SEED_LEN: usize = 32;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = MAGIC.len() + 1 + 1 + 4 + 4 + 4 + SALT_LEN + NONCE_LEN;
/// The length of a version-1 file.
pub const FILE_LEN: usize = HEADER_LEN + SEED_LEN + TAG_LEN;

/// The shortest passphrase a new file accepts, in characters. Opening does not check it:
/// any file this app wrote can be opened.
pub const MIN_PASSPHRASE_CHARS: usize = 8;
/// The longest passphrase accepted, in characters (a pasted book is a mistake).
pub const MAX_PASSPHRASE_CHARS: usize = 1024;

/// Argon2id cost parameters, as stored in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory, in KiB.
    pub memory_kib: u32,
    /// Passes over the memory.
    pub time: u32,
    /// Lanes.
    pub lanes: u32,
}

impl KdfParams {
    /// What new files use: 128 MiB, 3 passes, 1 lane. The aim is 0.3-1 s per derivation
    /// on a desktop; RFC 9106's 64 MiB / 3 passes measured 0.19-0.22 s on the 2-core build
    /// machine, 128 MiB 0.44-0.49 s (benches/sealed.rs, docs/BENCHMARKS.md), so the memory
    /// is doubled: memory is what makes guessing on GPUs expensive. One lane because the argon2 crate (no `parallel`
    /// feature) runs lanes one after another. The parameters are in each file, so raising
    /// them later leaves old files readable.
    pub const DEFAULT: Self = Self {
        memory_kib: 128 * 1024,
        time: 3,
        lanes: 1,
    };

    /// The weakest parameters a file may claim in the app: OWASP's minimum for Argon2id
    /// (19 MiB, 2 passes). Anything cheaper was not written by this app.
    pub const FLOOR: Self = Self {
        memory_kib: 19 * 1024,
        time: 2,
        lanes: 1,
    };

    /// Ceilings checked before the key is derived, whatever the floor: 1 GiB of memory,
    /// 16 passes, 16 lanes, and at most 4 GiB of memory passes in all (a few seconds).
    /// A file beyond them is refused, so a hostile file cannot exhaust memory or time.
    pub const MAX_MEMORY_KIB: u32 = 1024 * 1024;
    /// See [`KdfParams::MAX_MEMORY_KIB`].
    pub const MAX_TIME: u32 = 16;
    /// See [`KdfParams::MAX_MEMORY_KIB`].
    pub const MAX_LANES: u32 = 16;
    /// See [`KdfParams::MAX_MEMORY_KIB`].
    pub const MAX_WORK_KIB: u64 = 4 * 1024 * 1024;

    /// Checks the parameters against the ceilings and against `floor`.
    fn check(&self, floor: &Self) -> Result<(), SealedError> {
        let refuse = |reason: String| Err(SealedError::Params(reason));
        if self.lanes == 0 || self.lanes > Self::MAX_LANES {
            return refuse(format!(
                "{} lanes (1 to {} accepted)",
                self.lanes,
                Self::MAX_LANES
            ));
        }
        if self.time == 0 || self.time > Self::MAX_TIME {
            return refuse(format!(
                "{} passes (1 to {} accepted)",
                self.time,
                Self::MAX_TIME
            ));
        }
        if self.memory_kib > Self::MAX_MEMORY_KIB {
            return refuse(format!(
                "{} KiB of memory (at most {} KiB accepted)",
                self.memory_kib,
                Self::MAX_MEMORY_KIB
            ));
        }
        if u64::from(self.memory_kib) * u64::from(self.time) > Self::MAX_WORK_KIB {
            return refuse(format!(
                "{} KiB x {} passes is too much work",
                self.memory_kib, self.time
            ));
        }
        // Argon2's own minimum: 8 KiB per lane.
        let min_memory = floor.memory_kib.max(8 * self.lanes);
        if self.memory_kib < min_memory || self.time < floor.time {
            return refuse(format!(
                "{} KiB and {} passes are too weak (at least {} KiB and {} passes)",
                self.memory_kib, self.time, min_memory, floor.time
            ));
        }
        Ok(())
    }
}

/// Why sealing or opening failed. Each case is a different thing to tell the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealedError {
    /// The tag did not verify: the passphrase is wrong (or the encrypted part was changed).
    #[error("the passphrase is wrong")]
    WrongPassphrase,
    /// The bytes do not start with the magic: not a sealed identity file at all.
    #[error("this is not a sealed identity file")]
    NotSealed,
    /// The file is shorter or longer than its version's layout.
    #[error("the file is damaged: {len} bytes where {expected} were expected")]
    Length {
        /// Bytes found.
        len: usize,
        /// Bytes the version's layout has.
        expected: usize,
    },
    /// A format version this app does not know (a newer app wrote it).
    #[error("the file has format version {0}, which this version of the app cannot read")]
    UnsupportedVersion(u8),
    /// A key derivation this app does not know.
    #[error("the file uses key derivation {0}, which this version of the app does not know")]
    UnsupportedKdf(u8),
    /// The cost parameters (in the file, or asked for) are refused.
    #[error("the key derivation parameters are refused: {0}")]
    Params(String),
    /// A new passphrase is shorter than [`MIN_PASSPHRASE_CHARS`] or longer than
    /// [`MAX_PASSPHRASE_CHARS`].
    #[error(
        "the passphrase must have {} to {} characters",
        MIN_PASSPHRASE_CHARS,
        MAX_PASSPHRASE_CHARS
    )]
    PassphraseLength,
    /// Argon2 or the cipher failed for a reason other than the above (not expected).
    #[error("encryption failed: {0}")]
    Crypto(String),
}

/// Checks a passphrase for a new file.
pub fn check_new_passphrase(passphrase: &str) -> Result<(), SealedError> {
    let n = passphrase.chars().count();
    if (MIN_PASSPHRASE_CHARS..=MAX_PASSPHRASE_CHARS).contains(&n) {
        Ok(())
    } else {
        Err(SealedError::PassphraseLength)
    }
}

/// Seals and opens identity files with one policy: the parameters new files get, and the
/// floor files must meet.
#[derive(Debug, Clone)]
pub struct Sealer {
    params: KdfParams,
    floor: KdfParams,
}

impl Default for Sealer {
    fn default() -> Self {
        Self::new()
    }
}

impl Sealer {
    /// The app's policy: new files get [`KdfParams::DEFAULT`], files must meet
    /// [`KdfParams::FLOOR`].
    #[must_use]
    pub fn new() -> Self {
        Self {
            params: KdfParams::DEFAULT,
            floor: KdfParams::FLOOR,
        }
    }

    /// The app's floor with other parameters for new files (a benchmark, or a later policy);
    /// refused below [`KdfParams::FLOOR`] or above the ceilings.
    pub fn with_params(params: KdfParams) -> Result<Self, SealedError> {
        params.check(&KdfParams::FLOOR)?;
        Ok(Self {
            params,
            floor: KdfParams::FLOOR,
        })
    }

    /// Cheap parameters (8 KiB, 1 pass) and no floor, so tests seal and open in
    /// microseconds. Never for real identities: the file would be cheap to brute-force.
    #[doc(hidden)]
    #[must_use]
    pub fn insecure_fast_for_tests() -> Self {
        let p = KdfParams {
            memory_kib: 8,
            time: 1,
            lanes: 1,
        };
        Self {
            params: p,
            floor: p,
        }
    }

    /// The parameters new files get.
    #[must_use]
    pub fn params(&self) -> KdfParams {
        self.params
    }

    /// Encrypts `seed` under `passphrase` with a fresh salt and nonce from `rng`.
    pub fn seal(
        &self,
        seed: &[u8; SEED_LEN],
        passphrase: &str,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Vec<u8>, SealedError> {
        check_new_passphrase(passphrase)?;
        self.params.check(&self.floor)?;
        let mut salt = [0u8; SALT_LEN];
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut salt);
        rng.fill_bytes(&mut nonce);
        let mut out = Vec::with_capacity(FILE_LEN);
        out.extend_from_slice(&MAGIC);
        out.push(VERSION);
        out.push(KDF_ARGON2ID);
        out.extend_from_slice(&self.params.memory_kib.to_le_bytes());
        out.extend_from_slice(&self.params.time.to_le_bytes());
        out.extend_from_slice(&self.params.lanes.to_le_bytes());
        out.extend_from_slice(&salt);
        out.extend_from_slice(&nonce);
        let key = derive_key(&self.params, passphrase, &salt)?;
        let cipher = ChaCha20Poly1305::new(Key::from_slice(key.as_slice()));
        let ct = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: seed,
                    aad: &out,
                },
            )
            .map_err(|_| SealedError::Crypto("encryption refused".into()))?;
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Decrypts a file's bytes with `passphrase`. See the module doc for the order of the
    /// checks; nothing in `bytes` can make this panic or allocate beyond the ceilings.
    pub fn open(
        &self,
        bytes: &[u8],
        passphrase: &str,
    ) -> Result<Zeroizing<[u8; SEED_LEN]>, SealedError> {
        let header = parse_header(bytes)?;
        header.params.check(&self.floor)?;
        let key = derive_key(&header.params, passphrase, &header.salt)?;
        let cipher = ChaCha20Poly1305::new(Key::from_slice(key.as_slice()));
        let (aad, ct) = bytes.split_at(HEADER_LEN);
        let plain = Zeroizing::new(
            cipher
                .decrypt(Nonce::from_slice(&header.nonce), Payload { msg: ct, aad })
                .map_err(|_| SealedError::WrongPassphrase)?,
        );
        let mut seed = Zeroizing::new([0u8; SEED_LEN]);
        if plain.len() != SEED_LEN {
            // Unreachable with an exact-length file and a verified tag; kept as an error.
            return Err(SealedError::Length {
                len: bytes.len(),
                expected: FILE_LEN,
            });
        }
        seed.copy_from_slice(&plain);
        Ok(seed)
    }
}

/// The parsed header of a version-1 file.
struct Header {
    params: KdfParams,
    salt: [u8; SALT_LEN],
    nonce: [u8; NONCE_LEN],
}

/// Magic, version, length, KDF id, in that order, so each failure gets its own error.
fn parse_header(bytes: &[u8]) -> Result<Header, SealedError> {
    let magic_len = MAGIC.len();
    if bytes.len() < magic_len {
        // A prefix of the magic is a truncated file; anything else is not ours.
        return if MAGIC.starts_with(bytes) && !bytes.is_empty() {
            Err(SealedError::Length {
                len: bytes.len(),
                expected: FILE_LEN,
            })
        } else {
            Err(SealedError::NotSealed)
        };
    }
    if bytes[..magic_len] != MAGIC {
        return Err(SealedError::NotSealed);
    }
    let Some(&version) = bytes.get(magic_len) else {
        return Err(SealedError::Length {
            len: bytes.len(),
            expected: FILE_LEN,
        });
    };
    if version != VERSION {
        return Err(SealedError::UnsupportedVersion(version));
    }
    if bytes.len() != FILE_LEN {
        return Err(SealedError::Length {
            len: bytes.len(),
            expected: FILE_LEN,
        });
    }
    let kdf = bytes[magic_len + 1];
    if kdf != KDF_ARGON2ID {
        return Err(SealedError::UnsupportedKdf(kdf));
    }
    let mut r = Reader {
        bytes,
        at: magic_len + 2,
    };
    let params = KdfParams {
        memory_kib: r.u32()?,
        time: r.u32()?,
        lanes: r.u32()?,
    };
    Ok(Header {
        params,
        salt: r.array()?,
        nonce: r.array()?,
    })
}

/// Reads fixed-size fields; a short read is a length error, never a panic.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn array<const N: usize>(&mut self) -> Result<[u8; N], SealedError> {
        let end = self.at.checked_add(N).ok_or(SealedError::NotSealed)?;
        let s = self.bytes.get(self.at..end).ok_or(SealedError::Length {
            len: self.bytes.len(),
            expected: FILE_LEN,
        })?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        self.at = end;
        Ok(a)
    }

    fn u32(&mut self) -> Result<u32, SealedError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
}

/// Argon2id over the passphrase. The key is wiped when dropped, and so is Argon2's working
/// memory: `hash_password_into` would free its blocks unwiped (the crate's `zeroize`
/// feature only wipes the small intermediate hashes), so the blocks are ours, in a
/// `Zeroizing` vector. `params` were checked against the ceilings before this allocates.
fn derive_key(
    params: &KdfParams,
    passphrase: &str,
    salt: &[u8],
) -> Result<Zeroizing<[u8; 32]>, SealedError> {
    let p = argon2::Params::new(params.memory_kib, params.time, params.lanes, Some(32))
        .map_err(|e| SealedError::Params(e.to_string()))?;
    let mut blocks = Zeroizing::new(vec![argon2::Block::default(); p.block_count()]);
    let mut key = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, p)
        .hash_password_into_with_memory(
            passphrase.as_bytes(),
            salt,
            key.as_mut_slice(),
            blocks.as_mut_slice(),
        )
        .map_err(|e| SealedError::Crypto(e.to_string()))?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand_core::OsRng;

    const SEED: [u8; 32] = [7; 32];
    const PASS: &str = "correct horse battery";

    fn fast() -> Sealer {
        Sealer::insecure_fast_for_tests()
    }

    fn sealed() -> Vec<u8> {
        fast().seal(&SEED, PASS, &mut OsRng).unwrap_or_default()
    }

    #[test]
    fn round_trip() {
        let file = sealed();
        assert_eq!(file.len(), FILE_LEN);
        assert_eq!(fast().open(&file, PASS).map(|s| *s), Ok(SEED));
    }

    #[test]
    fn every_write_has_a_fresh_salt_and_nonce() {
        let (a, b) = (sealed(), sealed());
        assert_ne!(a[22..50], b[22..50]);
        assert_ne!(a[50..], b[50..]);
    }

    #[test]
    fn wrong_passphrase_is_its_own_error() {
        assert_eq!(
            fast().open(&sealed(), "correct horse battery!").err(),
            Some(SealedError::WrongPassphrase)
        );
    }

    #[test]
    fn short_or_huge_passphrases_are_refused_for_new_files() {
        let s = fast();
        assert_eq!(
            s.seal(&SEED, "seven77", &mut OsRng).err(),
            Some(SealedError::PassphraseLength)
        );
        // Characters, not bytes: eight accented letters are enough.
        assert!(s.seal(&SEED, "éééééééé", &mut OsRng).is_ok());
        let huge = "a".repeat(MAX_PASSPHRASE_CHARS + 1);
        assert_eq!(
            s.seal(&SEED, &huge, &mut OsRng).err(),
            Some(SealedError::PassphraseLength)
        );
    }

    #[test]
    fn a_flipped_bit_anywhere_is_an_error_never_the_seed() {
        let file = sealed();
        for i in 0..file.len() {
            for bit in [0x01u8, 0x80] {
                let mut bad = file.clone();
                bad[i] ^= bit;
                let r = fast().open(&bad, PASS);
                assert!(r.is_err(), "byte {i} bit {bit:#x} was accepted");
            }
        }
    }

    #[test]
    fn damage_gets_the_specific_error() {
        let file = sealed();
        let mut magic = file.clone();
        magic[0] ^= 1;
        assert_eq!(
            fast().open(&magic, PASS).err(),
            Some(SealedError::NotSealed)
        );
        let mut version = file.clone();
        version[8] = 2;
        assert_eq!(
            fast().open(&version, PASS).err(),
            Some(SealedError::UnsupportedVersion(2))
        );
        let mut kdf = file.clone();
        kdf[9] = 9;
        assert_eq!(
            fast().open(&kdf, PASS).err(),
            Some(SealedError::UnsupportedKdf(9))
        );
        let mut salt = file.clone();
        salt[30] ^= 1;
        assert_eq!(
            fast().open(&salt, PASS).err(),
            Some(SealedError::WrongPassphrase)
        );
        assert_eq!(fast().open(&[], PASS).err(), Some(SealedError::NotSealed));
        assert_eq!(
            fast().open(b"{\"seed\":1}", PASS).err(),
            Some(SealedError::NotSealed)
        );
    }

    #[test]
    fn truncated_and_padded_files_are_length_errors() {
        let file = sealed();
        for n in 1..file.len() {
            let r = fast().open(&file[..n], PASS).err();
            assert_eq!(
                r,
                Some(SealedError::Length {
                    len: n,
                    expected: FILE_LEN
                }),
                "{n} bytes"
            );
        }
        let mut long = file;
        long.push(0);
        assert!(matches!(
            fast().open(&long, PASS),
            Err(SealedError::Length { .. })
        ));
    }

    fn with_params(file: &[u8], m: u32, t: u32, p: u32) -> Vec<u8> {
        let mut f = file.to_vec();
        f[10..14].copy_from_slice(&m.to_le_bytes());
        f[14..18].copy_from_slice(&t.to_le_bytes());
        f[18..22].copy_from_slice(&p.to_le_bytes());
        f
    }

    #[test]
    fn hostile_parameters_are_refused_before_any_work() {
        let file = sealed();
        // 100 GiB, or 4 billion passes, or absurd lanes: refused at once, no allocation.
        for (m, t, p) in [
            (100 * 1024 * 1024, 3, 1),
            (u32::MAX, 1, 1),
            (65536, u32::MAX, 1),
            (65536, 3, 0),
            (65536, 3, 1 << 20),
            (1024 * 1024, 16, 1),
            (65536, 0, 1),
        ] {
            let r = fast().open(&with_params(&file, m, t, p), PASS);
            assert!(
                matches!(r, Err(SealedError::Params(_))),
                "m={m} t={t} p={p}: {r:?}"
            );
        }
    }

    #[test]
    fn the_app_refuses_files_that_claim_weak_parameters() {
        // A file claiming 8 KiB and one pass (what the tests write) is refused by the
        // app's policy before its tag is even checked.
        let r = Sealer::new().open(&sealed(), PASS);
        assert!(matches!(r, Err(SealedError::Params(_))), "{r:?}");
    }

    #[test]
    fn other_parameters_must_meet_the_floor() {
        let weak = KdfParams {
            memory_kib: 1024,
            time: 1,
            lanes: 1,
        };
        assert!(matches!(
            Sealer::with_params(weak),
            Err(SealedError::Params(_))
        ));
        assert!(Sealer::with_params(KdfParams::FLOOR).is_ok());
    }

    #[test]
    fn the_default_parameters_pass_their_own_policy() {
        assert!(KdfParams::DEFAULT.check(&KdfParams::FLOOR).is_ok());
        assert!(KdfParams::FLOOR.check(&KdfParams::FLOOR).is_ok());
        assert_eq!(Sealer::new().params(), KdfParams::DEFAULT);
    }

    /// The real parameters end to end (128 MiB, 3 passes). argon2 is built optimised in
    /// debug builds (Cargo.toml), so this takes about as long as in the app (two
    /// derivations; the figures are in benches/sealed.rs).
    #[test]
    fn round_trip_with_the_real_parameters() {
        let s = Sealer::new();
        let file = s.seal(&SEED, PASS, &mut OsRng);
        assert!(file.is_ok(), "{file:?}");
        let file = file.unwrap_or_default();
        assert_eq!(
            u32::from_le_bytes([file[10], file[11], file[12], file[13]]),
            128 * 1024
        );
        assert_eq!(s.open(&file, PASS).map(|s| *s), Ok(SEED));
    }

    proptest! {
        #[test]
        fn open_never_panics_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = fast().open(&bytes, PASS);
        }

        #[test]
        fn open_never_panics_on_mutated_files(
            edits in proptest::collection::vec((0usize..FILE_LEN, any::<u8>()), 1..8),
            cut in 0usize..=FILE_LEN,
        ) {
            let mut f = sealed();
            let params: Vec<u8> = f[10..22].to_vec();
            for (i, b) in edits {
                f[i] = b;
            }
            // The cost fields keep their cheap values: a mutation could otherwise ask for
            // up to the ceilings (1 GiB, seconds of work) on every case. Their checks are
            // covered by the bit-flip and hostile-parameter tests.
            f[10..22].copy_from_slice(&params);
            f.truncate(cut);
            // The result is the seed only if nothing that matters changed.
            if let Ok(seed) = fast().open(&f, PASS) {
                prop_assert_eq!(*seed, SEED);
            }
        }
    }
}
