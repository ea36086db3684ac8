"""Reading the first ClientHello before tlslite sees it.

The server pauses at the ClientHello (Kong's certificate phase), so the
application can choose this connection's settings; tlslite then replays the
same bytes, which keeps the transcript intact. Parsing builds tlslite's own
message objects (``_hello_codec``, with tlslite's codec as the fallback);
this module only frames records.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tlslite.constants import ContentType, ExtensionType
from tlslite.extensions import SNIExtension, TLSExtension
from tlslite.messages import ClientHello
from tlslite.utils.codec import Parser

from .._alerts import AlertDescription
from ._hello_codec import parse_client_hello
from ._speedups import _is_valid_hostname as is_valid_hostname

RECORD_HEADER = 5
MAX_RECORD = 2**14 + 2048  # the largest TLSCiphertext RFC 5246 allows


class TooLarge(Exception):
    """The ClientHello announces more bytes than the configured limit."""


@dataclass
class FirstHello:
    message: ClientHello  # tlslite's parsed message
    raw: bytes  # handshake header included
    #: The server_name's host_name bytes as sent, valid host name or not.
    server_name_raw: bytes | None = None


class UnusableServerName(TLSExtension):
    """A server_name whose name is no host name (an IP literal, not ASCII).

    OpenSSL (so nginx and Kong) completes such a handshake and routes it as
    one without SNI; tlslite refuses it with illegal_parameter. This stands
    in for the parsed extension: the same bytes on the wire (the transcript
    and a PSK binder stay intact), but falsy and without host names, so
    tlslite handles the hello as one without SNI.
    """

    hostNames: tuple[bytes, ...] = ()
    serverNames: tuple[object, ...] = ()

    def __init__(self, ext_data: bytes) -> None:
        super().__init__(extType=ExtensionType.server_name)
        self._extData = bytearray(ext_data)

    def __bool__(self) -> bool:
        return False


def adopt_server_name(hello: FirstHello) -> None:
    """Apply the server_name policy to a hello ``client_hello_problem`` passed."""
    hello.server_name_raw = set_aside_unusable_server_name(hello.message)


def set_aside_unusable_server_name(message: ClientHello) -> bytes | None:
    """Replace a server_name that is no host name by ``UnusableServerName``;
    return the host_name bytes as sent (None without one).

    Names OpenSSL refuses (a NUL byte, over 255 bytes) and malformed
    extensions are left for ``client_hello_problem`` and tlslite."""
    extensions = message.extensions or []
    for index, ext in enumerate(extensions):
        if isinstance(ext, UnusableServerName):
            return bytes(ext.extData[5:])
        if ext.extType != ExtensionType.server_name or not isinstance(ext, SNIExtension) or len(ext.hostNames) != 1:
            continue
        name = bytes(ext.hostNames[0])
        if name and len(name) <= MAX_HOST_NAME and 0 not in name and not is_valid_hostname(name):
            # A new list, not an assignment into it: _speedups indexes
            # extensions by list identity and length.
            message.extensions = [*extensions[:index], UnusableServerName(bytes(ext.extData)), *extensions[index + 1 :]]
        return name
    return None


MAX_HOST_NAME = 255  # OpenSSL's TLSEXT_MAXLEN_host_name


def read_client_hello(buffer: bytes, max_size: int) -> FirstHello | None | Literal[False]:
    """Frame and parse the first ClientHello in ``buffer``.

    Returns the hello, ``None`` when more bytes are needed, or ``False`` when
    the input is not a plain TLS ClientHello (an SSLv2 hello, another record
    type, a malformed message): tlslite then processes it, and sends the
    alert the RFCs require.
    """
    message = bytearray()
    offset = 0
    while True:
        if len(buffer) - offset < RECORD_HEADER:
            return None
        content_type = buffer[offset]
        length = int.from_bytes(buffer[offset + 3 : offset + 5], "big")
        if content_type != ContentType.handshake or length == 0 or length > MAX_RECORD:
            return False
        end = offset + RECORD_HEADER + length
        message += buffer[offset + RECORD_HEADER : min(end, len(buffer))]
        if len(message) >= 4:
            if message[0] != 1:  # not a ClientHello
                return False
            size = 4 + int.from_bytes(message[1:4], "big")
            if size > max_size:
                raise TooLarge(f"ClientHello of {size} bytes exceeds the {max_size}-byte limit")
            if len(message) >= size:
                # A ClientHello must end on a record boundary in TLS 1.3
                # (RFC 8446 §5.1); tlslite checks that itself.
                return _parse(bytes(message[:size]))
        if end > len(buffer):
            return None
        offset = end


def _parse(raw: bytes) -> FirstHello | Literal[False]:
    hello = parse_client_hello(raw)  # the same object, faster; None: ask tlslite
    if hello is None:
        parser = Parser(bytearray(raw))
        parser.get(1)  # handshake type
        try:
            hello = ClientHello().parse(parser)
        except Exception:  # tlslite's codec raises SyntaxError, ValueError, ...
            return False
    return FirstHello(hello, raw)


def client_hello_problem(hello: FirstHello) -> tuple[AlertDescription, str] | None:
    """What tlslite would crash on in a parsed ClientHello, as (alert, reason).

    tlslite assumes these never happen and raises an internal error, which
    would send internal_error instead of the alert the RFCs require.
    """
    ch = hello.message
    types = [ext.extType for ext in ch.extensions or ()]
    if len(types) != len(set(types)):
        # RFC 8446 §4.2, RFC 5246 §7.4.1.4; getExtension() raises TLSInternalError.
        return AlertDescription.illegal_parameter, "duplicate extension in ClientHello"
    sni = ch.getExtension(ExtensionType.server_name)
    if sni is not None:
        if not sni.hostNames:
            # tlslite indexes hostNames[0] unchecked; OpenSSL answers decode_error.
            return AlertDescription.decode_error, "server_name extension without a host_name"
        name = sni.hostNames[0]
        if len(name) > MAX_HOST_NAME or 0 in name:
            # What OpenSSL refuses (tls_parse_ctos_server_name); RFC 6066 §3.
            return AlertDescription.unrecognized_name, "server_name with a NUL byte or over 255 bytes"
    sigalgs_cert = ch.getExtension(ExtensionType.signature_algorithms_cert)
    if sigalgs_cert is not None and not sigalgs_cert.sigalgs:
        # RFC 8446 §4.2.3: supported_signature_algorithms<2..2^16-2>.
        return AlertDescription.decode_error, "empty signature_algorithms_cert"
    return None


@dataclass(frozen=True)
class HelloFacts:
    """What the application sees of a ClientHello, in plain types."""

    server_name: str | None
    versions: tuple[tuple[int, int], ...]
    cipher_suites: tuple[int, ...]
    groups: tuple[int, ...]
    signature_algorithms: tuple[int, ...]
    alpn_protocols: tuple[str, ...]
    #: Groups of the key_share extension (TLS 1.3), in order.
    key_share_groups: tuple[int, ...] = ()
    #: A TLS 1.2 session ticket is offered (non-empty session_ticket, RFC 5077).
    offers_ticket: bool = False


def describe_hello(hello: FirstHello) -> HelloFacts:
    ch = hello.message
    versions = ch.getExtension(ExtensionType.supported_versions)
    groups = ch.getExtension(ExtensionType.supported_groups)
    sigalgs = ch.getExtension(ExtensionType.signature_algorithms)
    alpn = ch.getExtension(ExtensionType.alpn)
    shares = ch.getExtension(ExtensionType.key_share)
    ticket = ch.getExtension(ExtensionType.session_ticket)
    return HelloFacts(
        server_name=hello_server_name(hello),
        versions=tuple([tuple(v) for v in versions.versions]) if versions else (tuple(ch.client_version),),
        cipher_suites=tuple(ch.cipher_suites),
        groups=tuple(groups.groups) if groups and groups.groups else (),
        signature_algorithms=tuple([(a << 8) | b for a, b in sigalgs.sigalgs]) if sigalgs and sigalgs.sigalgs else (),
        alpn_protocols=tuple([bytes(p).decode("ascii", "replace") for p in alpn.protocol_names]) if alpn and alpn.protocol_names else (),
        key_share_groups=tuple(share.group for share in shares.client_shares) if shares and shares.client_shares else (),
        offers_ticket=bool(ticket is not None and ticket.ticket),
    )


def hello_server_name(hello: FirstHello | None) -> str | None:
    if hello is None or not hello.message.server_name:
        return None
    return bytes(hello.message.server_name).decode("ascii", "replace")
