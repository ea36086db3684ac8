"""Every handshake signature checked against the certificate it claims.

TLS 1.3 CertificateVerify (RFC 8446 §4.4.3): 64 spaces, the context string,
a zero byte and the transcript hash up to the Certificate, signed with the
scheme named. TLS 1.2 ServerKeyExchange (RFC 8422 §5.4): the randoms and
the ECDHE parameters; TLS 1.2 CertificateVerify (RFC 5246 §7.4.8): every
handshake message before it. A signature that does not verify is a
``bad_signature`` finding: an error when nobody objected, a warning when
the peer answered with a fatal alert (the engine caught it).
"""

from __future__ import annotations

import hashlib
from typing import Callable

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa

from ._dissect import Field, dissect_handshake
from ._recording import CLIENT_TO_SERVER, SERVER_TO_CLIENT, Finding, HandshakeMessage, Recording
from ._registry import signature_scheme_name

_HASHES: dict[int, Callable[[], hashes.HashAlgorithm]] = {2: hashes.SHA1, 4: hashes.SHA256, 5: hashes.SHA384, 6: hashes.SHA512}
_PSS_HASHES: dict[int, Callable[[], hashes.HashAlgorithm]] = {4: hashes.SHA256, 5: hashes.SHA384, 6: hashes.SHA512, 9: hashes.SHA256, 10: hashes.SHA384, 11: hashes.SHA512}
_CONTEXT = {SERVER_TO_CLIENT: b"TLS 1.3, server CertificateVerify", CLIENT_TO_SERVER: b"TLS 1.3, client CertificateVerify"}


def verify(public_key: object, scheme: int, signature: bytes, data: bytes) -> bool:
    """Whether ``signature`` over ``data`` verifies with ``scheme`` (IANA code point)."""
    try:
        if isinstance(public_key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            public_key.verify(signature, data)
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, data, ec.ECDSA(_HASHES[scheme >> 8]()))
        elif isinstance(public_key, rsa.RSAPublicKey):
            if scheme >> 8 == 8:  # rsa_pss_rsae_* / rsa_pss_pss_*
                algorithm = _PSS_HASHES[scheme & 0xFF]()
                public_key.verify(signature, data, padding.PSS(padding.MGF1(algorithm), algorithm.digest_size), algorithm)
            else:
                public_key.verify(signature, data, padding.PKCS1v15(), _HASHES[scheme >> 8]())
        else:
            return False
    except (InvalidSignature, KeyError, ValueError, UnsupportedAlgorithm):
        return False
    return True


def _leaf(message: HandshakeMessage | None, tls13: bool) -> x509.Certificate | None:
    if message is None:
        return None
    tree = dissect_handshake(message.raw, tls13=tls13)
    der = next((f.value for f in tree.walk() if f.name == "der" and isinstance(f.value, bytes)), None)
    try:
        return x509.load_der_x509_certificate(der) if der else None
    except ValueError:
        return None


def _value(tree: Field, name: str) -> int | bytes | None:
    return next((f.value for f in tree.walk() if f.name == name and not f.children), None)


def check_signatures(recording: Recording, transcript: list[tuple[HandshakeMessage, bytes]], hash_name: str) -> list[Finding]:
    """Findings for every signature that does not verify (``transcript``: TLS 1.3's, HRR-adjusted)."""
    tls13 = recording.tls_version == 0x0304
    messages = list(recording.handshake_messages)
    alerted = {a.direction for a in recording.alerts if a.level == 2}
    findings = []

    def bad(direction: str, what: str, scheme: int) -> None:
        peer = CLIENT_TO_SERVER if direction == SERVER_TO_CLIENT else SERVER_TO_CLIENT
        side = "server" if direction == SERVER_TO_CLIENT else "client"
        noticed = peer in alerted
        findings.append(Finding(
            "bad_signature",
            f"the {side}'s {what} signature ({signature_scheme_name(scheme)}) does not verify with its certificate"
            + (" (the peer answered with a fatal alert)" if noticed else " (and nobody objected)"),
            f"{side} {what}",
            "warning" if noticed else "error",
        ))

    for direction in (SERVER_TO_CLIENT, CLIENT_TO_SERVER):
        certificate = next((m for m in messages if m.msg_type == 11 and m.direction == direction), None)
        leaf = _leaf(certificate, tls13)
        if leaf is None:
            continue
        key = leaf.public_key()
        if tls13:
            index = next((i for i, (m, _) in enumerate(transcript) if m.msg_type == 15 and m.direction == direction), None)
            if index is None:
                continue
            cv = dissect_handshake(transcript[index][0].raw)
            scheme, signature = _value(cv, "algorithm"), _value(cv, "signature")
            context = hashlib.new(hash_name, b"".join(raw for _, raw in transcript[:index])).digest()
            data = b" " * 64 + _CONTEXT[direction] + b"\x00" + context
            if isinstance(scheme, int) and isinstance(signature, bytes) and not verify(key, scheme, signature, data):
                bad(direction, "CertificateVerify", scheme)
            continue
        if direction == SERVER_TO_CLIENT:
            ske_message = next((m for m in messages if m.msg_type == 12 and m.direction == direction), None)
            hellos = [next((m for m in messages if m.msg_type == t), None) for t in (1, 2)]
            if ske_message is None or None in hellos:
                continue
            ske = dissect_handshake(ske_message.raw, tls13=False)
            scheme, signature = _value(ske, "signature_algorithm"), _value(ske, "signature")
            params_end = next((f.offset for f in ske.walk() if f.name == "signature_algorithm"), 4)
            randoms = b"".join(m.raw[6:38] for m in hellos if m is not None)
            if isinstance(scheme, int) and isinstance(signature, bytes) and not verify(key, scheme, signature, randoms + ske_message.raw[4:params_end]):
                bad(direction, "ServerKeyExchange", scheme)
        else:
            index = next((i for i, m in enumerate(messages) if m.msg_type == 15 and m.direction == direction), None)
            if index is None:
                continue
            cv = dissect_handshake(messages[index].raw, tls13=False)
            scheme, signature = _value(cv, "algorithm"), _value(cv, "signature")
            data = b"".join(m.raw for m in messages[:index])
            if isinstance(scheme, int) and isinstance(signature, bytes) and not verify(key, scheme, signature, data):
                bad(direction, "CertificateVerify", scheme)
    return findings
