"""Record protection and Finished values computed from key-log secrets (RFC 8446 §5.2, §7, §4.4.4; RFC 5246 §6, §7.4.9).

The attacker peer decrypts what one side sends and encrypts what it hands
the other, with each side's own secrets: when an edit makes the two
transcripts differ, the two sides hold different keys, and the attacker
holds both. Independent of the engine and of tlslite: only ``cryptography``.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from ._wire import u8, u16, vec

AEAD = AESGCM | ChaCha20Poly1305


@dataclass(frozen=True)
class SuiteParams:
    hash_name: str  # "sha256" or "sha384"
    key_length: int
    chacha: bool
    tls13: bool

    @property
    def hash_length(self) -> int:
        return 48 if self.hash_name == "sha384" else 32


def suite_params(code: int) -> SuiteParams:
    """What a cipher suite needs for keys and Finished (only purekong's AEAD suites)."""
    tls13 = code in (0x1301, 0x1302, 0x1303)
    chacha = code in (0x1303, 0xCCA8, 0xCCA9)
    sha384 = code in (0x1302, 0xC02C, 0xC030)
    return SuiteParams("sha384" if sha384 else "sha256", 32 if sha384 or chacha else 16, chacha, tls13)


def _hash(name: str) -> hashes.HashAlgorithm:
    return hashes.SHA384() if name == "sha384" else hashes.SHA256()


def hkdf_expand_label(secret: bytes, label: str, context: bytes, length: int, hash_name: str) -> bytes:
    """RFC 8446 §7.1 HKDF-Expand-Label."""
    info = u16(length) + vec(b"tls13 " + label.encode(), 1) + vec(context, 1)
    return HKDFExpand(_hash(hash_name), length, info).derive(secret)


def prf(secret: bytes, label: bytes, seed: bytes, length: int, hash_name: str) -> bytes:
    """RFC 5246 §5 P_hash, the TLS 1.2 PRF."""
    seed = label + seed
    out, a = b"", seed
    while len(out) < length:
        a = hmac.new(secret, a, hash_name).digest()
        out += hmac.new(secret, a + seed, hash_name).digest()
    return out[:length]


def transcript_hash(messages: list[bytes], hash_name: str) -> bytes:
    return hashlib.new(hash_name, b"".join(messages)).digest()


def finished_tls13(base_key: bytes, transcript: list[bytes], params: SuiteParams) -> bytes:
    """The Finished message (header included) for ``base_key`` (a handshake traffic secret)."""
    finished_key = hkdf_expand_label(base_key, "finished", b"", params.hash_length, params.hash_name)
    verify = hmac.new(finished_key, transcript_hash(transcript, params.hash_name), params.hash_name).digest()
    return u8(20) + vec(verify, 3)


def finished_tls12(master_secret: bytes, sender: str, transcript: list[bytes], params: SuiteParams) -> bytes:
    label = b"client finished" if sender == "client" else b"server finished"
    verify = prf(master_secret, label, transcript_hash(transcript, params.hash_name), 12, params.hash_name)
    return u8(20) + vec(verify, 3)


class RecordProtection:
    """One direction's AEAD state: key, IV and sequence number."""

    def __init__(self, key: bytes, iv: bytes, params: SuiteParams, secret: bytes = b"") -> None:
        self.aead: AEAD = ChaCha20Poly1305(key) if params.chacha else AESGCM(key)
        self.iv, self.params, self.secret = iv, params, secret
        self.sequence = 0

    @classmethod
    def tls13(cls, secret: bytes, params: SuiteParams) -> "RecordProtection":
        key = hkdf_expand_label(secret, "key", b"", params.key_length, params.hash_name)
        iv = hkdf_expand_label(secret, "iv", b"", 12, params.hash_name)
        return cls(key, iv, params, secret)

    @classmethod
    def tls12(cls, master_secret: bytes, client_random: bytes, server_random: bytes, params: SuiteParams, writer: str) -> "RecordProtection":
        iv_length = 12 if params.chacha else 4
        block = prf(master_secret, b"key expansion", server_random + client_random, 2 * (params.key_length + iv_length), params.hash_name)
        client_key, server_key = block[: params.key_length], block[params.key_length : 2 * params.key_length]
        ivs = block[2 * params.key_length :]
        client_iv, server_iv = ivs[:iv_length], ivs[iv_length:]
        return cls(client_key if writer == "client" else server_key, client_iv if writer == "client" else server_iv, params)

    def next_generation(self) -> "RecordProtection":
        """The keys after a KeyUpdate (RFC 8446 §7.2)."""
        secret = hkdf_expand_label(self.secret, "traffic upd", b"", self.params.hash_length, self.params.hash_name)
        return RecordProtection.tls13(secret, self.params)

    def _nonce(self) -> bytes:
        padded = self.sequence.to_bytes(len(self.iv), "big")
        return bytes(a ^ b for a, b in zip(self.iv, padded))

    def seal(self, content_type: int, data: bytes, padding: int = 0) -> bytes:
        """One protected record carrying ``data`` of ``content_type`` (padding: TLS 1.3 zero bytes)."""
        seq = self.sequence
        if self.params.tls13:
            inner = data + u8(content_type) + bytes(padding)
            header = b"\x17\x03\x03" + u16(len(inner) + 16)
            sealed = self.aead.encrypt(self._nonce(), inner, header)
            self.sequence += 1
            return header + sealed
        aad = seq.to_bytes(8, "big") + u8(content_type) + b"\x03\x03" + u16(len(data))
        if self.params.chacha:
            payload = self.aead.encrypt(self._nonce(), data, aad)
        else:
            explicit = seq.to_bytes(8, "big")
            payload = explicit + self.aead.encrypt(self.iv + explicit, data, aad)
        self.sequence += 1
        return u8(content_type) + b"\x03\x03" + vec(payload, 2)

    def open(self, content_type: int, payload: bytes) -> tuple[int, bytes]:
        """(inner content type, plaintext) of a protected record; raises ``InvalidTag`` if it does not open."""
        seq = self.sequence
        if self.params.tls13:
            header = b"\x17\x03\x03" + u16(len(payload))
            inner = self.aead.decrypt(self._nonce(), payload, header).rstrip(b"\x00")
            self.sequence += 1
            return inner[-1], inner[:-1]
        if self.params.chacha:
            length = len(payload) - 16
            aad = seq.to_bytes(8, "big") + u8(content_type) + b"\x03\x03" + u16(length)
            data = self.aead.decrypt(self._nonce(), payload, aad)
        else:
            length = len(payload) - 24
            aad = seq.to_bytes(8, "big") + u8(content_type) + b"\x03\x03" + u16(length)
            data = self.aead.decrypt(self.iv + payload[:8], payload[8:], aad)
        self.sequence += 1
        return content_type, data
