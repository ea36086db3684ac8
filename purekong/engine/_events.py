"""Events: what a connection tells the application, as frozen dataclasses.

``next_event()`` returns one of these, or one of the sentinels ``NEED_DATA``
(feed more bytes with ``receive_data``) and ``PAUSED`` (the connection waits
for the application: at the ClientHello it waits for ``proceed()``).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

from ._alerts import AlertDescription, AlertLevel
from ._suites import openssl_name


class _Sentinel:
    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


NEED_DATA = _Sentinel("NEED_DATA")
PAUSED = _Sentinel("PAUSED")


class Event:
    """Base class of every event. Don't subclass it outside the engine."""

    __slots__ = ()


@dataclass(frozen=True)
class ClientHelloReceived(Event):
    """A server received a ClientHello; the handshake is paused.

    Call ``ServerConnection.proceed()`` to go on. On a full handshake this is
    Kong's *certificate phase*: decide what this connection does
    (certificate, client certificate request, session reuse, ALPN). When
    ``resumes_session`` is true the client resumes an earlier session: as in
    nginx and Kong the certificate phase does not apply (only ALPN can be
    chosen; Kong's ``client_hello`` phase runs here on every handshake).
    """

    #: The SNI host name, when it is a valid host name (RFC 6066 §3: ASCII,
    #: DNS syntax, no IP literal); otherwise None, and the connection is
    #: routed and resumed as one without SNI.
    server_name: str | None
    #: TLS versions the client offers, highest first, as ``"TLSv1.3"`` names
    #: (unknown versions are left out).
    versions: tuple[str, ...]
    #: Cipher suite code points as offered (including GREASE and SCSVs).
    cipher_suites: tuple[int, ...]
    #: Named group code points from supported_groups.
    groups: tuple[int, ...]
    #: SignatureScheme code points from signature_algorithms.
    signature_algorithms: tuple[int, ...]
    alpn_protocols: tuple[str, ...]
    #: The whole ClientHello handshake message (header included), as received.
    raw: bytes = field(repr=False)
    #: True when this handshake will resume a session (no certificate phase).
    resumes_session: bool = False
    #: The SNI host_name bytes exactly as sent, valid or not (an IP literal,
    #: UTF-8); None without SNI.
    server_name_raw: bytes | None = None


@dataclass(frozen=True)
class HandshakeComplete(Event):
    """The handshake finished; application data may flow."""

    version: str  # "TLSv1.2" or "TLSv1.3", the spelling nginx uses
    cipher_suite: str  # IANA name, e.g. "TLS_AES_128_GCM_SHA256"
    server_name: str | None
    alpn_protocol: str | None
    resumed: bool
    #: The peer's certificates exactly as sent (DER, end-entity first, no
    #: reordering, no de-duplication, not verified). ``None`` when the peer
    #: sent none, and on a resumed handshake (nginx and Kong return nothing
    #: there either).
    peer_certificates: tuple[bytes, ...] | None = field(repr=False)
    #: Server side: what ``proceed(session_data=...)`` returned on the full
    #: handshake, stored with the session; on a resumed handshake, the bytes
    #: restored from the ticket or session cache (None when there were none).
    session_data: bytes | None = field(default=None, repr=False)

    @property
    def openssl_cipher(self) -> str:
        """The cipher as OpenSSL names it (nginx's ``$ssl_cipher``)."""
        return openssl_name(self.cipher_suite)

    def peer_certificates_pem(self) -> str | None:
        """The peer's chain as canonical PEM blocks, concatenated."""
        if self.peer_certificates is None:
            return None
        return "".join(der_to_pem(der) for der in self.peer_certificates)


@dataclass(frozen=True)
class DataReceived(Event):
    data: bytes


@dataclass(frozen=True)
class AlertReceived(Event):
    """The peer sent an alert other than close_notify.

    A warning alert (TLS 1.2 warnings, ``user_canceled``) leaves the
    connection open; a fatal one is followed by ``ConnectionClosed``.
    """

    level: AlertLevel
    #: The code itself when it is not one the RFCs define.
    description: AlertDescription | int


@dataclass(frozen=True)
class KeyUpdated(Event):
    """The peer updated its sending keys (TLS 1.3 KeyUpdate)."""

    update_requested: bool


@dataclass(frozen=True)
class ConnectionClosed(Event):
    """No more data will arrive.

    ``clean`` is true when the peer sent close_notify, false when the
    transport ended without it (a truncation) or after a fatal alert.
    """

    clean: bool


def der_to_pem(der: bytes) -> str:
    """Canonical PEM: 64-column base64, every line and the block ending in a newline."""
    body = base64.b64encode(der).decode("ascii")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"
