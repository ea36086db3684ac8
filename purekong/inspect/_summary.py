"""Small readings of a Recording that the terminal and HTML views share."""

from __future__ import annotations

from cryptography import x509

from ._recording import HandshakeMessage, Recording

#: ServerHello.random of a HelloRetryRequest (RFC 8446 §4.1.3).
HRR_RANDOM = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")


def is_hello_retry_request(message: HandshakeMessage) -> bool:
    return message.msg_type == 2 and message.raw[6:38] == HRR_RANDOM


def message_title(message: HandshakeMessage) -> str:
    """``client_hello`` -> ``ClientHello``; a ServerHello with the HRR random -> ``HelloRetryRequest``."""
    if is_hello_retry_request(message):
        return "HelloRetryRequest"
    name = message.name
    if name.startswith("unknown"):
        return name
    return "".join(part.capitalize() for part in name.split("_"))


def byte_count(n: int) -> str:
    return f"{n:,} B" if n < 10_000 else f"{n / 1024:,.1f} KiB" if n < 10_000_000 else f"{n / 1048576:,.1f} MiB"


def application_preview(data: bytes, limit: int = 64) -> str:
    """The first bytes (and for long data the last ones) as a Python bytes literal."""
    if len(data) <= limit:
        return repr(data)
    tail = limit // 4
    return f"{data[:limit - tail]!r} ... {len(data) - limit:,} bytes ... {data[-tail:]!r}"


def describe_ca_names(names: tuple[bytes, ...]) -> list[str]:
    """DER distinguished names as RFC 4514 strings (or hex when they do not parse)."""
    out = []
    for der in names:
        try:
            out.append(_name_from_der(der))
        except Exception:  # a DN we cannot read is shown, not dropped
            out.append(f"(unparsed DN, {len(der)} B) {der.hex()}")
    return out


def _name_from_der(der: bytes) -> str:
    # cryptography has no public parser for a bare Name; a CRL's issuer is a
    # bare Name, so wrap the DN in the smallest CRL that parses.
    return x509.load_der_x509_crl(_crl_with_issuer(der)).issuer.rfc4514_string()


def _crl_with_issuer(name: bytes) -> bytes:
    """A syntactically valid, unsigned-looking CRL whose issuer is ``name`` (parsing only)."""
    algorithm = bytes.fromhex("300a06082a8648ce3d040302")  # ecdsa-with-SHA256
    this_update = b"\x17\x0d" + b"250101000000Z"
    tbs = _der(0x30, algorithm + name + this_update)
    return _der(0x30, tbs + algorithm + _der(0x03, b"\x00"))


def _der(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        length = bytes([n])
    else:
        size = (n.bit_length() + 7) // 8
        length = bytes([0x80 | size]) + n.to_bytes(size, "big")
    return bytes([tag]) + length + body


def unique_secrets(recording: Recording) -> dict[tuple[str, bytes], list[str]]:
    """Each (label, value) once, with every source that reported it (engine, keylog, inspector)."""
    out: dict[tuple[str, bytes], list[str]] = {}
    for secret in recording.secrets:
        sources = out.setdefault((secret.label, secret.value), [])
        if secret.source not in sources:
            sources.append(secret.source)
    return out


def detail_text(value: object) -> str:
    """A ``Decision.details`` value in words: lists as ``[a, b]``."""
    if isinstance(value, list):
        return "[" + ", ".join(detail_text(v) for v in value) + "]"
    return str(value)
