#!/usr/bin/env python3
"""Known-answer vectors for wzp-crypto, computed independently of the Rust code.

Uses Python's `cryptography` package (HKDF, Ed25519, X25519, ChaCha20-Poly1305)
and the `mnemonic` package (BIP39 word list). Run:

    pip install cryptography mnemonic
    python3 crates/wzp-crypto/testdata/gen_vectors.py > crates/wzp-crypto/testdata/vectors.json

CI does not run this; the Rust tests read the checked-in vectors.json.
"""
import hashlib
import json
import struct

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand
from mnemonic import Mnemonic

RAW = serialization.Encoding.Raw
RAWPUB = serialization.PublicFormat.Raw


def hkdf(ikm, info, length=32, salt=None):
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def hkdf_extract(salt, ikm):
    import hmac
    return hmac.new(salt, ikm, hashlib.sha256).digest()


def hkdf_expand(prk, info, length):
    return HKDFExpand(algorithm=hashes.SHA256(), length=length, info=info).derive(prk)


def identity(seed):
    ed = Ed25519PrivateKey.from_private_bytes(hkdf(seed, b"warzone-ed25519"))
    x = X25519PrivateKey.from_private_bytes(hkdf(seed, b"warzone-x25519"))
    ed_pub = ed.public_key().public_bytes(RAW, RAWPUB)
    fp = hashlib.sha256(ed_pub).digest()[:16]
    return {
        "seed": seed.hex(),
        "mnemonic": Mnemonic("english").to_mnemonic(seed),
        "ed25519_pub": ed_pub.hex(),
        "x25519_pub": x.public_key().public_bytes(RAW, RAWPUB).hex(),
        "fingerprint": ":".join(fp.hex()[i:i + 4] for i in range(0, 32, 4)),
    }


def safety_half(pub):
    h = hashlib.sha512(b"wzp-safety-number-v1" + pub).digest()
    for _ in range(5200):
        h = hashlib.sha512(h + pub).digest()
    return "".join("%05d" % (int.from_bytes(h[i * 5:i * 5 + 5], "big") % 100000) for i in range(6))


def safety_number(a, b):
    x, y = sorted([safety_half(a), safety_half(b)])
    return x + y


def media_vector(secret, sender_fp, sender_pid, epoch, header, plaintext):
    ctx = sender_fp + struct.pack(">HI", sender_pid, epoch)
    prk = hkdf_extract(b"wzp-v2 media", secret)
    key = hkdf_expand(prk, b"wzp-v2 media key" + ctx, 32)
    salt = hkdf_expand(prk, b"wzp-v2 media nonce" + ctx, 12)
    ratchet = hkdf_expand(prk, b"wzp-v2 media ratchet" + ctx, 32)
    epoch_byte = epoch & 0xFF
    stream = header[4]
    seq = header[6:10]
    counter = struct.pack(">HBB", sender_pid, stream, epoch_byte) + b"\0\0\0\0" + seq
    nonce = bytes(a ^ b for a, b in zip(salt, counter))
    aad = header + bytes([epoch_byte])
    ct = ChaCha20Poly1305(key).encrypt(nonce, plaintext, aad)
    return {
        "secret": secret.hex(),
        "sender_fingerprint": sender_fp.hex(),
        "sender_pid": sender_pid,
        "epoch": epoch,
        "header": header.hex(),
        "plaintext": plaintext.hex(),
        "key": key.hex(),
        "nonce": nonce.hex(),
        "next_secret": ratchet.hex(),
        "datagram": (aad + ct).hex(),
    }


def short_code(ikm_hex):
    # The per-pair short code takes the channel's code key material (see
    # docs/PROTOCOL.md section 5.3); here we check only the final expansion step.
    okm = hkdf_expand(bytes.fromhex(ikm_hex), b"wzp-v2 short code", 4)
    return "%06d" % (int.from_bytes(okm, "big") % 1000000)


def main():
    seeds = [bytes(32), bytes(range(32)), bytes([0xFF] * 32),
             hashlib.sha256(b"wzp test seed").digest()]
    ids = [identity(s) for s in seeds]
    pubs = [bytes.fromhex(i["ed25519_pub"]) for i in ids]
    safety = [{"a": pubs[i].hex(), "b": pubs[j].hex(), "number": safety_number(pubs[i], pubs[j])}
              for i, j in [(0, 1), (1, 2), (3, 1)]]
    audio_hdr = bytes([0x02, 0x40, 0x00, 0x00, 0x00, 0x00, 0, 0, 0, 7, 0, 0, 0x03, 0xE8, 0, 0])
    video_hdr = bytes([0x02, 0x30, 0x01, 0x09, 0x02, 0x32, 1, 2, 3, 4, 0xDE, 0xAD, 0xBE, 0xEF, 0x12, 0x34])
    fp = bytes.fromhex(ids[1]["fingerprint"].replace(":", ""))
    media = [
        media_vector(bytes([0x11] * 32), fp, 3, 0, audio_hdr, bytes(range(60)) + b"\x05\x10\x02\x20"),
        media_vector(hashlib.sha256(b"media").digest(), fp, 65535, 0x1_0001, video_hdr, bytes(i % 251 for i in range(1200))),
    ]
    print(json.dumps({
        "identities": ids,
        "safety_numbers": safety,
        "media": media,
        "short_codes": [{"prk": "42" * 32, "code": short_code("42" * 32)}],
    }, indent=1))


if __name__ == "__main__":
    main()
