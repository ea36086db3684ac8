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
from ._state import State
from ._tlslite import Driver, Plan
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
            session_tickets=config.session_tickets,
        )
        resumed = session._tlslite_session if session is not None and session.server_name == server_name else None
        if resumed is not None and not config.session_tickets:
            resumed = Driver.without_tls12_ticket(resumed)
        check = self._verify_server if config.verify_server else None
        with self._randomness():
            self._driver.start_client(plan, _sni(server_name), resumed, check)
            self._driver.run()  # writes the ClientHello

    @property
    def session(self) -> ClientSession | None:
        """The session to resume later (TLS 1.3 tickets arrive after the handshake)."""
        tlslite_session = self._driver.session()
        if self.handshake is None or tlslite_session is None:
            return None
        return ClientSession(self.server_name, tlslite_session)

    def _verify_server(self, chain: tuple[bytes, ...]) -> tuple[AlertDescription, str] | None:
        """Called by the driver when the server's chain arrives (TLS 1.3: with its
        CertificateVerify; TLS 1.2: before the client's second flight): None,
        or the alert OpenSSL's client sends for the same failure, and why."""
        server_name = self.server_name
        assert server_name is not None  # a verifying client has one (see __init__)
        if not chain:
            return AlertDescription.bad_certificate, "no certificate"
        if not self.config.trusted_certificates:
            return AlertDescription.unknown_ca, "no trusted certificates configured"
        try:
            certificates = [x509.load_der_x509_certificate(der) for der in chain]
        except ValueError as exc:
            return AlertDescription.bad_certificate, str(exc)
        now = datetime.datetime.now(datetime.timezone.utc)
        try:
            name: x509.GeneralName
            try:
                name = x509.IPAddress(ipaddress.ip_address(server_name))
            except ValueError:
                name = x509.DNSName(server_name)
            verifier = (
                PolicyBuilder()
                .store(Store(list(self.config.trusted_certificates)))
                .time(now)
                .build_server_verifier(name)
            )
            verifier.verify(certificates[0], certificates[1:])
        except (VerificationError, ValueError) as exc:
            return _failure_alert(certificates, self.config.trusted_certificates, now), str(exc)
        return None


def _failure_alert(chain: list[x509.Certificate], trusted: tuple[x509.Certificate, ...], now: datetime.datetime) -> AlertDescription:
    """The alert for a chain that failed to verify, in OpenSSL's order of
    checks (ssl_verify_alarm_type): no path to a trusted certificate is
    unknown_ca (RFC 8446 §6.2), an expired certificate certificate_expired,
    anything else (a name mismatch, not yet valid, a bad extension)
    bad_certificate."""
    trusted_subjects = {cert.subject for cert in trusted}
    if not any(cert in trusted or cert.issuer in trusted_subjects for cert in chain):
        return AlertDescription.unknown_ca
    if any(cert.not_valid_after_utc < now for cert in chain):
        return AlertDescription.certificate_expired
    return AlertDescription.bad_certificate


def _sni(server_name: str | None) -> str | None:
    # RFC 6066: IP addresses are not sent as SNI.
    if server_name is None:
        return None
    try:
        ipaddress.ip_address(server_name)
    except ValueError:
        return server_name
    return None
