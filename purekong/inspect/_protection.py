"""Opening protected records with keys the inspector computed itself.

TLS 1.3 (RFC 8446 §5.2-5.3): nonce = IV xor sequence number, the additional
data is the record header, the plaintext ends with the inner content type
and zero padding. TLS 1.2 AEAD (RFC 5246 §6.2.3.3, RFC 5288 §3, RFC 7905 §2):
the additional data is seq || type || version || length; AES-GCM carries an
8-byte explicit nonce after the header.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, ChaCha20Poly1305

from ._kdf import prf12
from ._recording import Decryption


@dataclass(frozen=True)
class SuiteParameters:
    """What the inspector needs to know about a cipher suite."""

    hash_name: str
    aead: str  # "AES-GCM", "ChaCha20-Poly1305", "AES-CCM", "AES-CCM-8"
    key_length: int
    tls13: bool

    @property
    def tag_length(self) -> int:
        return 8 if self.aead == "AES-CCM-8" else 16

    @property
    def fixed_iv_length(self) -> int:
        """The IV bytes from the key schedule (TLS 1.2 AES-GCM: 4, else 12)."""
        return 4 if not self.tls13 and self.aead == "AES-GCM" else 12


SUITES = {
    0x1301: SuiteParameters("sha256", "AES-GCM", 16, True),
    0x1302: SuiteParameters("sha384", "AES-GCM", 32, True),
    0x1303: SuiteParameters("sha256", "ChaCha20-Poly1305", 32, True),
    0x1304: SuiteParameters("sha256", "AES-CCM", 16, True),
    0x1305: SuiteParameters("sha256", "AES-CCM-8", 16, True),
    0x009C: SuiteParameters("sha256", "AES-GCM", 16, False),
    0x009D: SuiteParameters("sha384", "AES-GCM", 32, False),
    0x009E: SuiteParameters("sha256", "AES-GCM", 16, False),
    0x009F: SuiteParameters("sha384", "AES-GCM", 32, False),
    0xC02B: SuiteParameters("sha256", "AES-GCM", 16, False),
    0xC02C: SuiteParameters("sha384", "AES-GCM", 32, False),
    0xC02F: SuiteParameters("sha256", "AES-GCM", 16, False),
    0xC030: SuiteParameters("sha384", "AES-GCM", 32, False),
    0xCCA8: SuiteParameters("sha256", "ChaCha20-Poly1305", 32, False),
    0xCCA9: SuiteParameters("sha256", "ChaCha20-Poly1305", 32, False),
    0xCCAA: SuiteParameters("sha256", "ChaCha20-Poly1305", 32, False),
}


@dataclass(frozen=True)
class TrafficKey:
    """One direction's keys for one epoch."""

    epoch: str
    key_label: str  # the secret the keys came from
    key: bytes
    iv: bytes


def tls12_key_block(
    suite: SuiteParameters, master_secret: bytes, client_random: bytes, server_random: bytes
) -> tuple[bytes, dict[str, bytes]]:
    """The TLS 1.2 key block and its parts (RFC 5246 §6.3; AEAD suites have no MAC keys)."""
    k, iv = suite.key_length, suite.fixed_iv_length
    block = prf12(suite.hash_name, master_secret, "key expansion", server_random + client_random, 2 * (k + iv))
    parts = {
        "client_write_key": block[:k],
        "server_write_key": block[k : 2 * k],
        "client_write_iv": block[2 * k : 2 * k + iv],
        "server_write_iv": block[2 * k + iv :],
    }
    return block, parts


def _cipher(suite: SuiteParameters, key: bytes) -> AESGCM | ChaCha20Poly1305 | AESCCM:
    if suite.aead == "AES-GCM":
        return AESGCM(key)
    if suite.aead == "ChaCha20-Poly1305":
        return ChaCha20Poly1305(key)
    return AESCCM(key, tag_length=suite.tag_length)


def _xor_nonce(iv: bytes, seq: int) -> bytes:
    return bytes(a ^ b for a, b in zip(iv, seq.to_bytes(len(iv), "big")))


def open_record(suite: SuiteParameters, key: TrafficKey, seq: int, raw: bytes) -> Decryption | None:
    """Decrypt one record (header included); None when the tag does not verify."""
    header, fragment = raw[:5], raw[5:]
    tag_length = suite.tag_length
    try:
        cipher = _cipher(suite, key.key)
    except ValueError:
        return None
    if suite.tls13:
        if len(fragment) < tag_length:
            return None
        nonce = _xor_nonce(key.iv, seq)
        aad = header
        try:
            inner = cipher.decrypt(nonce, fragment, aad)
        except InvalidTag:
            return None
        stripped = inner.rstrip(b"\x00")
        if not stripped:
            return None  # all padding: RFC 8446 §5.4 makes it unexpected_message
        return Decryption(
            inner_content_type=stripped[-1],
            padding_length=len(inner) - len(stripped),
            sequence_number=seq,
            nonce=nonce,
            additional_data=aad,
            tag=fragment[-tag_length:],
            plaintext=stripped[:-1],
            key_label=key.key_label,
        )
    explicit = 8 if suite.aead.startswith("AES") else 0
    if len(fragment) < explicit + tag_length:
        return None
    nonce = key.iv + fragment[:explicit] if explicit else _xor_nonce(key.iv, seq)
    ciphertext = fragment[explicit:]
    aad = seq.to_bytes(8, "big") + header[:3] + (len(ciphertext) - tag_length).to_bytes(2, "big")
    try:
        plaintext = cipher.decrypt(nonce, ciphertext, aad)
    except InvalidTag:
        return None
    return Decryption(
        inner_content_type=raw[0],
        padding_length=0,
        sequence_number=seq,
        nonce=nonce,
        additional_data=aad,
        tag=ciphertext[-tag_length:],
        plaintext=plaintext,
        key_label=key.key_label,
    )
