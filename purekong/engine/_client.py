"""ClientConnection: a TLS client, mostly for tests, tools and interop."""

from __future__ import annotations

import datetime
import ipaddress
from typing import Any, Callable

from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from ._alerts import AlertDescription
from ._config import ClientConfig
from ._connection import Connection
from ._events import HandshakeComplete
from ._state import State
from ._tlslite import Driver, HandshakeFacts, Plan
from ._trace import Tracer


class ClientSession:
    """An opaque session from an earlier connection, for resumption."""

    def __init__(self, server_name: str | None, tlslite_session: Any) -> None:
        self.server_name = server_name
        self._tlslite_session = tlslite_session

    def offered_to(self, server_name: str) -> "ClientSession":
        """This session, offered to another server name. A correct client never
        does this; it is for testing that a server binds sessions to their SNI."""
        return ClientSession(server_name, Driver.session_renamed(self._tlslite_session, server_name))

    def without_ticket(self) -> "ClientSession":
        """This session without its TLS 1.2 ticket, so that resuming it must use
        the session ID (what a client that keeps no tickets does). TLS 1.3
        tickets are unaffected."""
        return ClientSession(self.server_name, Driver.without_tls12_ticket(self._tlslite_session))


class ClientConnection(Connection):
    """A client-side TLS connection; the ClientHello is ready at once in ``data_to_send()``."""

    def __init__(
        self,
        config: ClientConfig,
        server_name: str | None = None,
        *,
        session: ClientSession | None = None,
        trace: Tracer | None = None,
        random: Callable[[int], bytes] | None = None,
    ) -> None:
        super().__init__(initial_state=State.HANDSHAKING, trace=trace, random=random, max_handshake_message_size=102_400)
        if config.verify_server and not server_name:
            raise ValueError("a verifying client needs server_name")
        self.config = config
        self.server_name = server_name
        plan = Plan(
            versions=config.versions,
            ciphers=config.ciphers,
            groups=config.groups,
            certificates=(config.certificate,) if config.certificate else (),
            alpn_protocols=config.alpn_protocols,
        )
        resumed = session._tlslite_session if session is not None and session.server_name == server_name else None
        with self._randomness():
            self._driver.start_client(plan, _sni(server_name), resumed)
            self._driver.run()  # writes the ClientHello

    @property
    def session(self) -> ClientSession | None:
        """The session to resume later (TLS 1.3 tickets arrive after the handshake)."""
        tlslite_session = self._driver.session()
        if self.handshake is None or tlslite_session is None:
            return None
        return ClientSession(self.server_name, tlslite_session)

    def _handshake_done(self, facts: HandshakeFacts) -> HandshakeComplete:
        event = super()._handshake_done(facts)
        if self.config.verify_server and not facts.resumed:
            error = self._verify_server(facts.peer_certificates or ())
            if error:
                raise self._driver.fail(AlertDescription.bad_certificate, f"server certificate rejected: {error}")
        return event

    def _verify_server(self, chain: tuple[bytes, ...]) -> str | None:
        server_name = self.server_name
        assert server_name is not None  # a verifying client has one (see __init__)
        if not chain:
            return "no certificate"
        if not self.config.trusted_certificates:
            return "no trusted certificates configured"
        certificates = [x509.load_der_x509_certificate(der) for der in chain]
        try:
            name: x509.GeneralName
            try:
                name = x509.IPAddress(ipaddress.ip_address(server_name))
            except ValueError:
                name = x509.DNSName(server_name)
            verifier = (
                PolicyBuilder()
                .store(Store(list(self.config.trusted_certificates)))
                .time(datetime.datetime.now(datetime.timezone.utc))
                .build_server_verifier(name)
            )
            verifier.verify(certificates[0], certificates[1:])
        except (VerificationError, ValueError) as exc:
            return str(exc)
        return None


def _sni(server_name: str | None) -> str | None:
    # RFC 6066: IP addresses are not sent as SNI.
    if server_name is None:
        return None
    try:
        ipaddress.ip_address(server_name)
    except ValueError:
        return server_name
    return None
