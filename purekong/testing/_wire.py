"""TLS wire encoding for the testing kit: vectors, records, handshake messages, ClientHellos.

The kit builds its own bytes rather than asking the engine (or tlslite) to,
so that a test can say exactly what went on the wire, including what no
conforming implementation would send. Everything here is a pure function of
its arguments; nothing reads a socket or keeps state.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterable, Iterator

# -- code points (RFC 8446 §4, §B.3; RFC 5246 §7.4) --------------------------

CONTENT_TYPES = {20: "change_cipher_spec", 21: "alert", 22: "handshake", 23: "application_data", 24: "heartbeat"}

HANDSHAKE_TYPES = {
    0: "HelloRequest", 1: "ClientHello", 2: "ServerHello", 4: "NewSessionTicket", 5: "EndOfEarlyData",
    8: "EncryptedExtensions", 11: "Certificate", 12: "ServerKeyExchange", 13: "CertificateRequest",
    14: "ServerHelloDone", 15: "CertificateVerify", 16: "ClientKeyExchange", 20: "Finished", 24: "KeyUpdate",
}
HANDSHAKE_CODES = {name: code for code, name in HANDSHAKE_TYPES.items()}

EXTENSIONS = {
    0: "server_name", 5: "status_request", 10: "supported_groups", 11: "ec_point_formats",
    13: "signature_algorithms", 15: "heartbeat", 16: "application_layer_protocol_negotiation", 21: "padding",
    22: "encrypt_then_mac", 23: "extended_master_secret", 35: "session_ticket", 41: "pre_shared_key",
    42: "early_data", 43: "supported_versions", 44: "cookie", 45: "psk_key_exchange_modes",
    50: "signature_algorithms_cert", 51: "key_share", 0xFF01: "renegotiation_info",
}
EXTENSION_CODES = {name: code for code, name in EXTENSIONS.items()}

GROUP_CODES = {"x25519": 0x001D, "secp256r1": 0x0017, "secp384r1": 0x0018}
GROUP_NAMES = {code: name for name, code in GROUP_CODES.items()}

#: Signature schemes purekong verifies and signs with (no SHA-1, RFC 8446 §4.2.3).
SIGNATURE_SCHEMES = {
    0x0403: "ecdsa_secp256r1_sha256", 0x0503: "ecdsa_secp384r1_sha384", 0x0603: "ecdsa_secp521r1_sha512",
    0x0804: "rsa_pss_rsae_sha256", 0x0805: "rsa_pss_rsae_sha384", 0x0806: "rsa_pss_rsae_sha512",
    0x0809: "rsa_pss_pss_sha256", 0x0807: "ed25519",
    0x0401: "rsa_pkcs1_sha256", 0x0501: "rsa_pkcs1_sha384", 0x0601: "rsa_pkcs1_sha512",
}
SIGNATURE_CODES = {name: code for code, name in SIGNATURE_SCHEMES.items()}

SUITE_CODES = {
    "TLS_AES_128_GCM_SHA256": 0x1301, "TLS_AES_256_GCM_SHA384": 0x1302, "TLS_CHACHA20_POLY1305_SHA256": 0x1303,
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": 0xC02B, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": 0xC02F,
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": 0xC02C, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": 0xC030,
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": 0xCCA9, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": 0xCCA8,
}
SUITE_NAMES = {code: name for name, code in SUITE_CODES.items()}
TLS13_SUITES = (0x1301, 0x1302, 0x1303)
TLS12_SUITES = (0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8)

VERSION_CODES = {"TLSv1.0": 0x0301, "TLSv1.1": 0x0302, "TLSv1.2": 0x0303, "TLSv1.3": 0x0304}
VERSION_NAMES = {code: name for name, code in VERSION_CODES.items()}

#: RFC 8446 §4.1.3: the ServerHello.random of a HelloRetryRequest.
HRR_RANDOM = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")
#: RFC 8446 §4.1.3: the last 8 bytes of a TLS 1.2 ServerHello.random from a TLS 1.3 server.
DOWNGRADE_TLS12 = b"DOWNGRD\x01"
MAX_RECORD = 2**14


def vec(data: bytes, size: int) -> bytes:
    """``data`` with a ``size``-byte big-endian length in front (RFC 8446 §3.4)."""
    if len(data) >= 1 << (8 * size):
        raise ValueError(f"{len(data)} bytes do not fit a {size}-byte length")
    return len(data).to_bytes(size, "big") + data


def u8(value: int) -> bytes:
    return bytes([value])


def u16(value: int) -> bytes:
    return value.to_bytes(2, "big")


def u16_list(values: Iterable[int], size: int = 2) -> bytes:
    return vec(b"".join(u16(v) for v in values), size)


def handshake(msg_type: int, body: bytes) -> bytes:
    """A handshake message: type, 3-byte length, body (RFC 8446 §4)."""
    return u8(msg_type) + vec(body, 3)


def record(content_type: int, payload: bytes, version: int = 0x0303) -> bytes:
    """One TLSPlaintext record (RFC 8446 §5.1); the payload is not split."""
    return u8(content_type) + u16(version) + vec(payload, 2)


def records(content_type: int, payload: bytes, version: int = 0x0303, size: int = MAX_RECORD) -> bytes:
    """``payload`` cut into records of at most ``size`` bytes."""
    if not payload:
        return record(content_type, b"", version)
    return b"".join(record(content_type, payload[i : i + size], version) for i in range(0, len(payload), size))


def alert(level: int, description: int) -> bytes:
    return record(21, bytes([level, description]))


def change_cipher_spec(version: int = 0x0303) -> bytes:
    return record(20, b"\x01", version)


def split_records(data: bytes) -> Iterator[tuple[int, int, bytes]]:
    """(content type, version, payload) of each whole record; a partial tail is left out."""
    offset = 0
    while offset + 5 <= len(data):
        length = int.from_bytes(data[offset + 3 : offset + 5], "big")
        if offset + 5 + length > len(data):
            return
        yield data[offset], int.from_bytes(data[offset + 1 : offset + 3], "big"), data[offset + 5 : offset + 5 + length]
        offset += 5 + length


def split_handshake(data: bytes) -> tuple[list[bytes], bytes]:
    """Whole handshake messages (header included) in ``data``, and the partial rest."""
    messages = []
    offset = 0
    while offset + 4 <= len(data):
        length = int.from_bytes(data[offset + 1 : offset + 4], "big")
        if offset + 4 + length > len(data):
            break
        messages.append(data[offset : offset + 4 + length])
        offset += 4 + length
    return messages, data[offset:]


def message_name(raw: bytes) -> str:
    return HANDSHAKE_TYPES.get(raw[0], f"handshake type {raw[0]}") if raw else "empty message"


# -- ClientHello ---------------------------------------------------------------

@dataclass(frozen=True)
class ClientHelloFields:
    """A ClientHello as fields (RFC 8446 §4.1.2); ``encode()`` gives the handshake message.

    ``extensions`` are (type, body) pairs sent in this order; nothing is
    checked, so a test can build any ClientHello, valid or not.
    """

    random: bytes = bytes(32)
    session_id: bytes = b""
    cipher_suites: tuple[int, ...] = (0x1301,)
    compression_methods: bytes = b"\x00"
    extensions: tuple[tuple[int, bytes], ...] = ()
    legacy_version: int = 0x0303
    #: Private keys of the key shares, by group code, to continue a handshake.
    key_share_secrets: tuple[tuple[int, bytes], ...] = field(default=(), repr=False, compare=False)

    def encode(self) -> bytes:
        body = (
            u16(self.legacy_version) + self.random + vec(self.session_id, 1) + u16_list(self.cipher_suites)
            + vec(self.compression_methods, 1)
        )
        if self.extensions:
            body += vec(b"".join(u16(t) + vec(b, 2) for t, b in self.extensions), 2)
        return handshake(1, body)

    def record(self) -> bytes:
        """The ClientHello in one record with version 0x0301, as clients send it."""
        return records(22, self.encode(), 0x0301)

    def extension(self, ext_type: int) -> bytes | None:
        return next((body for t, body in self.extensions if t == ext_type), None)

    def with_extension(self, ext_type: int, body: bytes | None) -> "ClientHelloFields":
        """This hello with extension ``ext_type`` replaced (in place), added (last, before a PSK) or dropped (None)."""
        if any(t == ext_type for t, _ in self.extensions):
            items = tuple((t, b if t != ext_type else (body or b"")) for t, b in self.extensions if t != ext_type or body is not None)
        elif body is None:
            return self
        else:
            items = tuple(e for e in self.extensions if e[0] != 41) + ((ext_type, body),) + tuple(e for e in self.extensions if e[0] == 41)
        return replace(self, extensions=items)

    @property
    def offered_versions(self) -> tuple[int, ...]:
        body = self.extension(43)
        if body is None:
            return (self.legacy_version,)
        return tuple(int.from_bytes(body[i : i + 2], "big") for i in range(1, len(body) - 1, 2))

    @property
    def groups(self) -> tuple[int, ...]:
        body = self.extension(10) or b"\x00\x00"
        return tuple(int.from_bytes(body[i : i + 2], "big") for i in range(2, len(body) - 1, 2))

    @property
    def key_share_groups(self) -> tuple[int, ...]:
        body = self.extension(51)
        if body is None:
            return ()
        groups, offset = [], 2
        while offset + 4 <= len(body):
            groups.append(int.from_bytes(body[offset : offset + 2], "big"))
            offset += 4 + int.from_bytes(body[offset + 2 : offset + 4], "big")
        return tuple(groups)

    @property
    def signature_schemes(self) -> tuple[int, ...]:
        body = self.extension(13) or b"\x00\x00"
        return tuple(int.from_bytes(body[i : i + 2], "big") for i in range(2, len(body) - 1, 2))

    @property
    def server_name(self) -> str | None:
        body = self.extension(0)
        if not body or len(body) < 5:
            return None
        return body[5 : 5 + int.from_bytes(body[3:5], "big")].decode("ascii", "replace")

    @property
    def alpn_protocols(self) -> tuple[str, ...]:
        body = self.extension(16)
        if body is None:
            return ()
        names, offset = [], 2
        while offset < len(body):
            size = body[offset]
            names.append(body[offset + 1 : offset + 1 + size].decode("ascii", "replace"))
            offset += 1 + size
        return tuple(names)


def server_name_extension(name: str) -> bytes:
    return vec(u8(0) + vec(name.encode("ascii"), 2), 2)


def alpn_extension(protocols: Iterable[str]) -> bytes:
    return vec(b"".join(vec(p.encode("ascii"), 1) for p in protocols), 2)


def supported_versions_extension(versions: Iterable[int]) -> bytes:
    return u16_list(versions, 1)


def key_share_extension(shares: Iterable[tuple[int, bytes]]) -> bytes:
    return vec(b"".join(u16(g) + vec(k, 2) for g, k in shares), 2)


def parse_server_hello(raw: bytes) -> dict:
    """The fields of a ServerHello message (header included) a test usually looks at."""
    body = raw[4:]
    session_len = body[34]
    offset = 35 + session_len
    suite = int.from_bytes(body[offset : offset + 2], "big")
    offset += 3
    extensions: dict[int, bytes] = {}
    if offset + 2 <= len(body):
        end = offset + 2 + int.from_bytes(body[offset : offset + 2], "big")
        offset += 2
        while offset + 4 <= end:
            ext_type = int.from_bytes(body[offset : offset + 2], "big")
            size = int.from_bytes(body[offset + 2 : offset + 4], "big")
            extensions[ext_type] = body[offset + 4 : offset + 4 + size]
            offset += 4 + size
    version = int.from_bytes(extensions[43], "big") if len(extensions.get(43, b"")) == 2 else int.from_bytes(body[:2], "big")
    return {
        "random": body[2:34],
        "session_id": body[35 : 35 + session_len],
        "cipher_suite": suite,
        "version": version,
        "extensions": extensions,
        "hello_retry_request": body[2:34] == HRR_RANDOM,
    }


def parse_client_hello(raw: bytes) -> ClientHelloFields:
    """A ClientHello message (header included) back into fields; ``ValueError`` if it is not one."""
    body = raw[4:]
    try:
        offset = 34
        session_id = body[offset + 1 : offset + 1 + body[offset]]
        offset += 1 + body[offset]
        suites_len = int.from_bytes(body[offset : offset + 2], "big")
        suites = tuple(int.from_bytes(body[i : i + 2], "big") for i in range(offset + 2, offset + 2 + suites_len, 2))
        offset += 2 + suites_len
        compression = body[offset + 1 : offset + 1 + body[offset]]
        offset += 1 + body[offset]
        extensions = []
        if offset < len(body):
            end = offset + 2 + int.from_bytes(body[offset : offset + 2], "big")
            offset += 2
            while offset + 4 <= end:
                size = int.from_bytes(body[offset + 2 : offset + 4], "big")
                extensions.append((int.from_bytes(body[offset : offset + 2], "big"), body[offset + 4 : offset + 4 + size]))
                offset += 4 + size
    except IndexError:
        raise ValueError("not a ClientHello") from None
    if raw[:1] != b"\x01":
        raise ValueError("not a ClientHello")
    return ClientHelloFields(random=body[2:34], session_id=session_id, cipher_suites=suites, compression_methods=compression,
                             extensions=tuple(extensions), legacy_version=int.from_bytes(body[:2], "big"))
