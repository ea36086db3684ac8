"""Extensions, field by field, for each message they may appear in.

Several extensions have one layout in the ClientHello and another in the
ServerHello, HelloRetryRequest or EncryptedExtensions (key_share,
supported_versions, pre_shared_key, server_name, early_data): ``context``
says which. An extension purekong does not decode keeps its bytes as one
leaf with ``status="unknown"``.
"""

from __future__ import annotations

from typing import Callable

from . import _registry as reg
from ._dissect import RFC8446, Reader

EXTENSION_RFCS = {
    0: "RFC 6066 §3", 1: "RFC 6066 §4", 5: "RFC 6066 §8", 9: "RFC 6091 §3.1", 10: f"{RFC8446} §4.2.7", 11: "RFC 8422 §5.1.2",
    13: f"{RFC8446} §4.2.3", 16: "RFC 7301 §3.1", 18: "RFC 6962 §3.3.1", 21: "RFC 7685 §3", 22: "RFC 7366 §2",
    23: "RFC 7627 §5.1", 27: "RFC 8879 §3", 28: "RFC 8449 §4", 35: "RFC 5077 §3.2", 41: f"{RFC8446} §4.2.11",
    42: f"{RFC8446} §4.2.10", 43: f"{RFC8446} §4.2.1", 44: f"{RFC8446} §4.2.2", 45: f"{RFC8446} §4.2.9",
    47: f"{RFC8446} §4.2.4", 48: f"{RFC8446} §4.2.5", 49: f"{RFC8446} §4.2.6", 50: f"{RFC8446} §4.2.3",
    51: f"{RFC8446} §4.2.8", 65281: "RFC 5746 §3.2",
}  # fmt: skip

Body = Callable[[Reader, str, str], object]


def extensions(r: Reader, context: str) -> None:
    """The ``extensions`` vector of a message (RFC 8446 §4.2)."""

    def one() -> None:
        def body() -> None:
            ext_type = r.uint("extension_type", 2, reg.extension_name, f"{RFC8446} §4.2")
            rfc = EXTENSION_RFCS.get(ext_type, "")
            parse = _BODIES.get(ext_type)
            if parse is None:
                r.vector("extension_data", 2, lambda: r.rest("data", meaning="not decoded by purekong", status="unknown"), f"{RFC8446} §4.2")
            else:
                r.vector("extension_data", 2, lambda: parse(r, context, rfc), rfc)

        r.group("Extension", body, f"{RFC8446} §4.2")

    r.vector("extensions", 2, lambda: r.items(one), f"{RFC8446} §4.2")


def _uint16_list(item: str, names: Callable[[int], str]) -> Body:
    def parse(r: Reader, context: str, rfc: str) -> None:
        r.vector(f"{item}_list", 2, lambda: r.items(lambda: r.uint(item, 2, names, rfc)), rfc)

    return parse


def _server_name(r: Reader, context: str, rfc: str) -> None:
    if context != "client_hello":
        return  # empty in the ServerHello / EncryptedExtensions (RFC 6066 §3)

    def name() -> None:
        def body() -> None:
            kind = r.uint("name_type", 1, {0: "host_name"}, rfc)
            if kind == 0:
                r.vector("host_name", 2, lambda: r.text("name", r.remaining, rfc), rfc)
            else:
                r.vector("name", 2, lambda: r.rest("name", rfc, status="unknown"), rfc)

        r.group("ServerName", body, rfc)

    r.vector("server_name_list", 2, lambda: r.items(name), rfc)


def _supported_versions(r: Reader, context: str, rfc: str) -> None:
    if context == "client_hello":
        r.vector("versions", 1, lambda: r.items(lambda: r.uint("version", 2, reg.version_name, rfc)), rfc)
    else:
        r.uint("selected_version", 2, reg.version_name, rfc)


def _key_share_entry(r: Reader, rfc: str) -> None:
    def body() -> None:
        r.uint("group", 2, reg.group_name, rfc)
        r.vector("key_exchange", 2, lambda: r.rest("public_key", rfc), rfc)

    r.group("KeyShareEntry", body, rfc)


def _key_share(r: Reader, context: str, rfc: str) -> None:
    if context == "client_hello":
        r.vector("client_shares", 2, lambda: r.items(lambda: _key_share_entry(r, rfc)), rfc)
    elif context == "hello_retry_request":
        r.uint("selected_group", 2, reg.group_name, rfc)
    else:
        _key_share_entry(r, rfc)


def _pre_shared_key(r: Reader, context: str, rfc: str) -> None:
    if context != "client_hello":
        r.uint("selected_identity", 2, rfc=rfc)
        return

    def identity() -> None:
        def body() -> None:
            r.vector("identity", 2, lambda: r.rest("ticket", rfc), rfc)
            r.uint("obfuscated_ticket_age", 4, rfc=rfc)

        r.group("PskIdentity", body, rfc)

    r.vector("identities", 2, lambda: r.items(identity), rfc)
    r.vector("binders", 2, lambda: r.items(lambda: r.vector("PskBinderEntry", 1, lambda: r.rest("binder", rfc), rfc)), rfc)


def _early_data(r: Reader, context: str, rfc: str) -> None:
    if context == "new_session_ticket":
        r.uint("max_early_data_size", 4, rfc=rfc)


def _alpn(r: Reader, context: str, rfc: str) -> None:
    r.vector("protocol_name_list", 2, lambda: r.items(lambda: r.vector("ProtocolName", 1, lambda: r.text("name", r.remaining, rfc), rfc)), rfc)


def _status_request(r: Reader, context: str, rfc: str) -> None:
    if context == "client_hello":
        r.uint("status_type", 1, {1: "ocsp"}, rfc)
        r.vector("responder_id_list", 2, lambda: r.rest("responder_ids", rfc), rfc)
        r.vector("request_extensions", 2, lambda: r.rest("extensions", rfc), rfc)
    elif context == "certificate":
        r.uint("status_type", 1, {1: "ocsp"}, rfc)
        r.vector("response", 3, lambda: r.rest("ocsp_response", rfc), rfc)


def _certificate_authorities(r: Reader, context: str, rfc: str) -> None:
    r.vector("authorities", 2, lambda: r.items(lambda: r.vector("DistinguishedName", 2, lambda: r.rest("der", rfc, meaning="an X.501 Name (DER)"), rfc)), rfc)


def _uint8_list(vector: str, item: str, names: dict[int, str]) -> Body:
    def parse(r: Reader, context: str, rfc: str) -> None:
        r.vector(vector, 1, lambda: r.items(lambda: r.uint(item, 1, names, rfc)), rfc)

    return parse


def _opaque(name: str, length_size: int) -> Body:
    def parse(r: Reader, context: str, rfc: str) -> None:
        if length_size:
            r.vector(name, length_size, lambda: r.rest(name, rfc), rfc)
        else:
            r.rest(name, rfc)

    return parse


def _record_size_limit(r: Reader, context: str, rfc: str) -> None:
    r.uint("record_size_limit", 2, rfc=rfc)


def _max_fragment_length(r: Reader, context: str, rfc: str) -> None:
    r.uint("max_fragment_length", 1, {1: "2^9", 2: "2^10", 3: "2^11", 4: "2^12"}, rfc)


def _compress_certificate(r: Reader, context: str, rfc: str) -> None:
    r.vector("algorithms", 1, lambda: r.items(lambda: r.uint("algorithm", 2, reg.CERTIFICATE_COMPRESSION, rfc)), rfc)


def _cert_type(r: Reader, context: str, rfc: str) -> None:
    names = {0: "X.509", 1: "OpenPGP"}
    if context == "client_hello":
        r.vector("certificate_types", 1, lambda: r.items(lambda: r.uint("certificate_type", 1, names, rfc)), rfc)
    else:
        r.uint("certificate_type", 1, names, rfc)


def _padding(r: Reader, context: str, rfc: str) -> None:
    r.rest("padding", rfc, meaning="zero bytes")


def _empty(r: Reader, context: str, rfc: str) -> None:
    pass


def _sct(r: Reader, context: str, rfc: str) -> None:
    if context != "client_hello":
        r.vector("signed_certificate_timestamp_list", 2, lambda: r.rest("scts", rfc), rfc)


_BODIES: dict[int, Body] = {
    0: _server_name,
    1: _max_fragment_length,
    5: _status_request,
    9: _cert_type,
    10: _uint16_list("named_group", reg.group_name),
    11: _uint8_list("ec_point_format_list", "ec_point_format", reg.EC_POINT_FORMATS),
    13: _uint16_list("signature_scheme", reg.signature_scheme_name),
    16: _alpn,
    18: _sct,
    21: _padding,
    22: _empty,
    23: _empty,
    27: _compress_certificate,
    28: _record_size_limit,
    35: _opaque("ticket", 0),
    41: _pre_shared_key,
    42: _early_data,
    43: _supported_versions,
    44: _opaque("cookie", 2),
    45: _uint8_list("ke_modes", "ke_mode", reg.PSK_KEY_EXCHANGE_MODES),
    47: _certificate_authorities,
    49: _empty,
    50: _uint16_list("signature_scheme", reg.signature_scheme_name),
    51: _key_share,
    65281: _opaque("renegotiated_connection", 1),
}
