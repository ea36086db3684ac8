"""The bodies of handshake messages, field by field (used by ``_dissect``).

Each parser reads one message body in wire order through a :class:`Reader`;
the layouts and section numbers are RFC 8446 §4 for TLS 1.3 and RFC 5246
§7.4 / RFC 8422 §5 for TLS 1.2.
"""

from __future__ import annotations

from typing import Callable

from . import _registry as reg
from ._dissect import RFC5246, RFC8446, Reader
from ._dissect_ext import extensions
from ._registry import HRR_RANDOM


Parser = Callable[[Reader], object]


def parse_body(msg_type: int, tls13: bool) -> Parser:
    """The parser of one message type; unknown types are one opaque leaf."""
    if msg_type == 11:
        return _certificate13 if tls13 else _certificate12
    if msg_type == 13:
        return _certificate_request13 if tls13 else _certificate_request12
    if msg_type == 4:
        return _new_session_ticket13 if tls13 else _new_session_ticket12
    return _PARSERS.get(msg_type, _unknown)


def _unknown(r: Reader) -> None:
    r.rest("body", meaning="a message type purekong does not decode", status="unknown")


def _client_hello(r: Reader) -> None:
    rfc = f"{RFC8446} §4.1.2"
    r.uint("legacy_version", 2, reg.version_name, rfc)
    r.opaque("random", 32, rfc)
    r.vector("legacy_session_id", 1, lambda: r.rest("session_id", rfc), rfc)
    r.vector("cipher_suites", 2, lambda: r.items(lambda: r.uint("cipher_suite", 2, reg.cipher_suite_name, f"{RFC8446} §B.4")), rfc)
    r.vector("legacy_compression_methods", 1, lambda: r.items(lambda: r.uint("compression_method", 1, {0: "null"}, rfc)), rfc)
    if r.remaining:  # TLS 1.2 allows a ClientHello without extensions
        extensions(r, "client_hello")


def _server_hello(r: Reader) -> None:
    rfc = f"{RFC8446} §4.1.3"
    r.uint("legacy_version", 2, reg.version_name, rfc)
    random = r.opaque("random", 32, rfc)
    context = "server_hello"
    if random == HRR_RANDOM:
        context = "hello_retry_request"
        r.annotate('HelloRetryRequest (SHA-256 of "HelloRetryRequest")', f"{RFC8446} §4.1.4")
    r.vector("legacy_session_id_echo", 1, lambda: r.rest("session_id", rfc), rfc)
    r.uint("cipher_suite", 2, reg.cipher_suite_name, rfc)
    r.uint("legacy_compression_method", 1, {0: "null"}, rfc)
    if r.remaining:
        extensions(r, context)


def _encrypted_extensions(r: Reader) -> None:
    extensions(r, "encrypted_extensions")


def _certificate13(r: Reader) -> None:
    rfc = f"{RFC8446} §4.4.2"
    r.vector("certificate_request_context", 1, lambda: r.rest("context", rfc), rfc)

    def entry() -> None:
        r.vector("cert_data", 3, lambda: r.rest("der", rfc, meaning="an X.509 certificate (DER)"), rfc)
        extensions(r, "certificate")

    r.vector("certificate_list", 3, lambda: r.items(lambda: r.group("CertificateEntry", entry, rfc)), rfc)


def _certificate12(r: Reader) -> None:
    rfc = f"{RFC5246} §7.4.2"
    r.vector("certificate_list", 3, lambda: r.items(lambda: r.vector("ASN.1Cert", 3, lambda: r.rest("der", rfc, meaning="an X.509 certificate (DER)"), rfc)), rfc)


def _certificate_request13(r: Reader) -> None:
    rfc = f"{RFC8446} §4.3.2"
    r.vector("certificate_request_context", 1, lambda: r.rest("context", rfc), rfc)
    extensions(r, "certificate_request")


def _certificate_request12(r: Reader) -> None:
    rfc = f"{RFC5246} §7.4.4"
    r.vector("certificate_types", 1, lambda: r.items(lambda: r.uint("certificate_type", 1, reg.CERTIFICATE_TYPES, rfc)), rfc)
    r.vector("supported_signature_algorithms", 2, lambda: r.items(lambda: r.uint("signature_scheme", 2, reg.signature_scheme_name, rfc)), rfc)
    r.vector("certificate_authorities", 2, lambda: r.items(lambda: r.vector("DistinguishedName", 2, lambda: r.rest("der", rfc, meaning="an X.501 Name (DER)"), rfc)), rfc)


def _certificate_verify(r: Reader) -> None:
    rfc = f"{RFC8446} §4.4.3"
    r.uint("algorithm", 2, reg.signature_scheme_name, rfc)
    r.vector("signature", 2, lambda: r.rest("signature", rfc), rfc)


def _finished(r: Reader) -> None:
    r.rest("verify_data", f"{RFC8446} §4.4.4", meaning="HMAC(finished_key, Transcript-Hash)")


def _new_session_ticket13(r: Reader) -> None:
    rfc = f"{RFC8446} §4.6.1"
    r.uint("ticket_lifetime", 4, rfc=rfc)
    r.uint("ticket_age_add", 4, rfc=rfc)
    r.vector("ticket_nonce", 1, lambda: r.rest("nonce", rfc), rfc)
    r.vector("ticket", 2, lambda: r.rest("ticket", rfc, meaning="opaque to the client"), rfc)
    extensions(r, "new_session_ticket")


def _new_session_ticket12(r: Reader) -> None:
    rfc = "RFC 5077 §3.3"
    r.uint("ticket_lifetime_hint", 4, rfc=rfc)
    r.vector("ticket", 2, lambda: r.rest("ticket", rfc, meaning="opaque to the client"), rfc)


def _key_update(r: Reader) -> None:
    r.uint("request_update", 1, reg.KEY_UPDATE_REQUEST, f"{RFC8446} §4.6.3")


def _empty(r: Reader) -> None:
    pass


def _server_key_exchange(r: Reader) -> None:
    rfc = "RFC 8422 §5.4"
    curve_type = r.uint("curve_type", 1, {3: "named_curve"}, rfc)
    if curve_type != 3:
        r.rest("params", rfc, meaning="not an ECDHE named-curve key exchange", status="unknown")
        return
    r.uint("named_curve", 2, reg.group_name, rfc)
    r.vector("public", 1, lambda: r.rest("point", rfc), rfc)
    r.uint("signature_algorithm", 2, reg.signature_scheme_name, f"{RFC5246} §7.4.1.4.1")
    r.vector("signature", 2, lambda: r.rest("signature", rfc), rfc)


def _client_key_exchange(r: Reader) -> None:
    rfc = "RFC 8422 §5.7"
    if r.remaining and r.data[r.pos] == r.remaining - 1:
        r.vector("ecdh_Yc", 1, lambda: r.rest("point", rfc), rfc)
    else:
        r.rest("exchange_keys", f"{RFC5246} §7.4.7", meaning="not an ECDHE public value", status="unknown")


def _message_hash(r: Reader) -> None:
    r.rest("hash", f"{RFC8446} §4.4.1", meaning="Hash(ClientHello1), replacing it after a HelloRetryRequest")


_PARSERS: dict[int, Parser] = {
    1: _client_hello,
    2: _server_hello,
    5: _empty,
    8: _encrypted_extensions,
    12: _server_key_exchange,
    14: _empty,
    15: _certificate_verify,
    16: _client_key_exchange,
    20: _finished,
    24: _key_update,
    254: _message_hash,
}
