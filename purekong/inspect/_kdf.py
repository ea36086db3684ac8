"""The key-derivation primitives of TLS 1.3 and 1.2, on ``cryptography``.

Independent of the engine: HKDF-Extract and HKDF-Expand (RFC 5869),
HKDF-Expand-Label and Derive-Secret (RFC 8446 §7.1), the TLS 1.2 PRF
(RFC 5246 §5) and the traffic keys of a secret (RFC 8446 §7.3).

>>> hkdf_extract("sha256", b"", bytes(32)).hex()[:16]
'33ad0a1c607ec03b'
"""

from __future__ import annotations

import hashlib
import hmac

HASH_LENGTHS = {"sha256": 32, "sha384": 48}


def hmac_digest(hash_name: str, key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hash_name).digest()


def transcript_hash(hash_name: str, data: bytes) -> bytes:
    return hashlib.new(hash_name, data).digest()


def hkdf_extract(hash_name: str, salt: bytes, ikm: bytes) -> bytes:
    """HKDF-Extract(salt, IKM) (RFC 5869 §2.2); an empty salt is HashLen zeros."""
    return hmac_digest(hash_name, salt or bytes(HASH_LENGTHS[hash_name]), ikm)


def hkdf_expand(hash_name: str, prk: bytes, info: bytes, length: int) -> bytes:
    """HKDF-Expand(PRK, info, L) (RFC 5869 §2.3)."""
    out = b""
    block = b""
    counter = 1
    while len(out) < length:
        block = hmac_digest(hash_name, prk, block + info + bytes([counter]))
        out += block
        counter += 1
    return out[:length]


def hkdf_label(label: str, context: bytes, length: int) -> bytes:
    """The HkdfLabel structure of RFC 8446 §7.1 ("tls13 " prefixed).

    >>> hkdf_label("key", b"", 16).hex()
    '001009746c733133206b657900'
    """
    full = b"tls13 " + label.encode("ascii")
    return length.to_bytes(2, "big") + bytes([len(full)]) + full + bytes([len(context)]) + context


def hkdf_expand_label(hash_name: str, secret: bytes, label: str, context: bytes, length: int) -> bytes:
    """HKDF-Expand-Label(Secret, Label, Context, Length) (RFC 8446 §7.1)."""
    return hkdf_expand(hash_name, secret, hkdf_label(label, context, length), length)


def traffic_keys(hash_name: str, secret: bytes, key_length: int, iv_length: int = 12) -> tuple[bytes, bytes]:
    """The write key and IV of a traffic secret (RFC 8446 §7.3)."""
    return (
        hkdf_expand_label(hash_name, secret, "key", b"", key_length),
        hkdf_expand_label(hash_name, secret, "iv", b"", iv_length),
    )


def next_traffic_secret(hash_name: str, secret: bytes) -> bytes:
    """application_traffic_secret_N+1 after a KeyUpdate (RFC 8446 §7.2)."""
    return hkdf_expand_label(hash_name, secret, "traffic upd", b"", HASH_LENGTHS[hash_name])


def p_hash(hash_name: str, secret: bytes, seed: bytes, length: int) -> bytes:
    """P_hash of RFC 5246 §5."""
    out = b""
    a = seed
    while len(out) < length:
        a = hmac_digest(hash_name, secret, a)
        out += hmac_digest(hash_name, secret, a + seed)
    return out[:length]


def prf12(hash_name: str, secret: bytes, label: str, seed: bytes, length: int) -> bytes:
    """PRF(secret, label, seed) of TLS 1.2 (RFC 5246 §5)."""
    return p_hash(hash_name, secret, label.encode("ascii") + seed, length)
