//! ChaCha20-Poly1305 (RFC 8439), the one AEAD this crate uses, for media
//! packets and channel envelopes alike.
//!
//! Why `ring` and not the RustCrypto `chacha20poly1305` crate: the bytes are the
//! same (RFC 8439; the known-answer vectors in `testdata` prove it), but on a
//! 60-byte audio packet RustCrypto's AVX2 backends spend most of their time
//! outside the cipher. Built with current rustc, their helper functions call
//! the AVX2 intrinsics out of line (each one a function call with its vectors
//! passed through memory), and the Poly1305 backend precomputes four powers of
//! its key for every packet, which only pays off on long messages. Measured
//! seal+open of 64 bytes: about 6 µs with RustCrypto, about 0.6 µs with ring's
//! assembly, on the same core. Details in `docs/BENCHMARKS.md`.
//!
//! `ring` keeps no secret it can be asked to erase, so [`PacketKey`] stores the
//! 32 key bytes itself, zeroized on drop, and builds ring's key on the stack
//! for each call (a copy of 32 bytes; ring's CPU feature detection is done
//! once per process). No long-lived copy of a key exists outside `Zeroizing`.

use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, Tag, UnboundKey};
use zeroize::Zeroizing;

/// AEAD tag length in bytes.
pub(crate) const TAG_LEN: usize = 16;
/// AEAD nonce length in bytes.
pub(crate) const NONCE_LEN: usize = 12;

/// The AEAD rejected its input: wrong key, nonce, associated data or tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AeadError;

/// A ChaCha20-Poly1305 key, zeroized on drop.
pub(crate) struct PacketKey {
    key: Zeroizing<[u8; 32]>,
}

impl PacketKey {
    /// Wraps 32 key bytes (copied; the caller zeroizes its own copy).
    pub(crate) fn new(key: &[u8; 32]) -> Self {
        Self {
            key: Zeroizing::new(*key),
        }
    }

    fn ring_key(&self) -> Result<LessSafeKey, AeadError> {
        // Fails only for a key of the wrong length, which the type rules out.
        UnboundKey::new(&CHACHA20_POLY1305, self.key.as_ref())
            .map(LessSafeKey::new)
            .map_err(|_| AeadError)
    }

    /// Encrypts `in_out` in place and returns the tag.
    pub(crate) fn seal(
        &self,
        nonce: [u8; NONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Result<[u8; TAG_LEN], AeadError> {
        let tag = self
            .ring_key()?
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), in_out)
            .map_err(|_| AeadError)?;
        let mut out = [0u8; TAG_LEN];
        out.copy_from_slice(tag.as_ref());
        Ok(out)
    }

    /// Decrypts `in_out` in place if `tag` verifies. On failure `in_out`
    /// must be discarded (it may hold neither plaintext nor ciphertext).
    pub(crate) fn open(
        &self,
        nonce: [u8; NONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &[u8],
    ) -> Result<(), AeadError> {
        let tag = Tag::try_from(tag).map_err(|_| AeadError)?;
        self.ring_key()?
            .open_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                tag,
                in_out,
                0..,
            )
            .map(|_| ())
            .map_err(|_| AeadError)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// RFC 8439 section 2.8.2 test vector.
    #[test]
    fn rfc8439_vector() {
        let key: [u8; 32] = core::array::from_fn(|i| 0x80 + i as u8);
        let nonce = [
            0x07, 0, 0, 0, 0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47,
        ];
        let aad = hex::decode("50515253c0c1c2c3c4c5c6c7").unwrap();
        let pt = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
        let k = PacketKey::new(&key);
        let mut buf = pt.to_vec();
        let tag = k.seal(nonce, &aad, &mut buf).unwrap();
        assert_eq!(hex::encode(tag), "1ae10b594f09e26a7e902ecbd0600691");
        assert_eq!(hex::encode(&buf[..16]), "d31a8d34648e60db7b86afbc53ef7ec2");
        k.open(nonce, &aad, &mut buf, &tag).unwrap();
        assert_eq!(&buf[..], &pt[..]);

        let mut bad = tag;
        bad[0] ^= 1;
        let mut buf2 = buf.clone();
        k.seal(nonce, &aad, &mut buf2).unwrap();
        assert_eq!(k.open(nonce, &aad, &mut buf2, &bad), Err(AeadError));
        assert_eq!(k.open(nonce, &aad, &mut buf2, &tag[..15]), Err(AeadError));
    }
}
