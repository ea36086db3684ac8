"""ServerConnection: a TLS server that pauses at the ClientHello."""

from __future__ import annotations

from typing import Callable, Iterable

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ._alerts import AlertDescription, AlertLevel, LocalProtocolError, RemoteProtocolError
from ._config import CertifiedKey, ServerConfig, check_ca_names
from ._connection import Connection
from ._events import PAUSED, ClientHelloReceived, HandshakeComplete
from ._state import Input, State
from ._suites import VERSION_NAMES
from ._tlslite import FirstHello, HandshakeFacts, Plan, TooLarge, adopt_server_name, client_hello_problem, describe_hello, hello_server_name, read_client_hello, select_alpn
from ._reasons import certificate_decision, cipher_decision, failure_decision, hello_decisions, retry_group_decision, version_decision
from ._trace import CertificatePhaseTrace, Tracer

_CONTENT_TYPES = (20, 21, 22, 23, 24)  # RFC 8446 §5 (and heartbeat, RFC 6520)

# Bytes buffered before tlslite starts: one ClientHello plus slack for a
# TLS 1.3 client's ChangeCipherSpec and the record headers around them.
_PRE_HANDSHAKE_SLACK = 2 * (2**14 + 2048)
_BEFORE_TLSLITE = (State.EXPECT_CLIENT_HELLO, State.AWAIT_PROCEED)


class ServerConnection(Connection):
    """A server-side TLS connection. See ``_state`` for the states and rules.

    Every handshake first yields ``ClientHelloReceived`` and pauses; call
    ``proceed()`` to continue. On a full handshake this is Kong's certificate
    phase; a ClientHello that resumes a session says so
    (``resumes_session``), and only its ALPN can still be chosen.
    """

    def __init__(self, config: ServerConfig, *, trace: Tracer | None = None, random: Callable[[int], bytes] | None = None) -> None:
        super().__init__(
            initial_state=State.EXPECT_CLIENT_HELLO,
            trace=trace,
            random=random,
            max_handshake_message_size=config.max_handshake_message_size,
        )
        self.config = config
        self._early = bytearray()  # bytes held until tlslite starts
        self._hello: FirstHello | None = None
        self._cipher: str | None = None
        self._resumes = False
        self._early_eof = False
        self._retry_group: str | None = None  # traced only: the group a HelloRetryRequest asked for

    # -- the certificate phase ---------------------------------------------
    def proceed(
        self,
        *,
        certificates: Iterable[CertifiedKey] | None = None,
        request_client_certificate: bool | None = None,
        client_ca_certificates: Iterable[x509.Certificate] | None = None,
        session_reuse: bool | None = None,
        alpn_protocols: Iterable[str] | None = None,
        session_data: Callable[[tuple[bytes, ...] | None], bytes] | None = None,
    ) -> None:
        """Continue the paused handshake with this connection's choices.

        Anything left as ``None`` takes the config's value. When the
        ClientHello resumes a session (``event.resumes_session``) only
        ``alpn_protocols`` applies: the certificate, the client certificate
        and the session were settled by the earlier full handshake.

        - ``certificates``: the chains to choose from (the first one the
          client can use wins), e.g. picked by SNI.
        - ``request_client_certificate``: send a CertificateRequest. The
          client may answer with no certificate; the handshake goes on.
        - ``client_ca_certificates``: their subject DNs, in this order, go
          into ``certificate_authorities`` (TLS 1.2 field, TLS 1.3
          extension). Empty sends none.
        - ``session_reuse``: False sends no session ID and no ticket, and
          caches nothing, so the next connection does a full handshake.
        - ``alpn_protocols``: the server's protocols for this connection, in
          preference order (e.g. the config's list without ``h2``).
        - ``session_data``: called once with the client's certificates (DER,
          or None); the bytes it returns (at most 1 KiB) are stored with the
          session, encrypted and authenticated inside tickets, and reported as
          ``HandshakeComplete.session_data`` now and when the session is
          resumed (nginx keeps its verify result in the session this way).
        """
        self._machine.check("proceed")
        config = self.config
        if self._resumes:
            alpn = config.alpn_protocols if alpn_protocols is None else tuple(alpn_protocols)
            if self._trace is not None:
                self._trace_certificate_phase((), False, (), True, alpn, resumed=True)
            self._start(self._plan(alpn_protocols=alpn), Input.PROCEED, resume=True)
            return
        certificates = tuple(certificates) if certificates is not None else config.certificates
        if not certificates:
            raise LocalProtocolError("proceed() needs at least one certificate")
        reuse = config.session_resumption if session_reuse is None else (session_reuse and config.session_resumption)
        if client_ca_certificates is not None:
            client_ca_certificates = tuple(client_ca_certificates)
            try:
                check_ca_names(client_ca_certificates)
            except ValueError as exc:
                raise LocalProtocolError(str(exc)) from None
        request = config.request_client_certificate if request_client_certificate is None else request_client_certificate
        cas = config.client_ca_certificates if client_ca_certificates is None else tuple(client_ca_certificates)
        alpn = config.alpn_protocols if alpn_protocols is None else tuple(alpn_protocols)
        if self._trace is not None:
            self._trace_certificate_phase(certificates, request, cas, reuse, alpn)
        plan = self._plan(
            certificates=certificates,
            request_client_certificate=request,
            client_ca_certificates=cas,
            reuse=reuse,
            alpn_protocols=alpn,
            session_data=session_data,
        )
        self._start(plan, Input.PROCEED, resume=False)

    def _trace_certificate_phase(
        self,
        certificates: tuple[CertifiedKey, ...],
        request: bool,
        cas: tuple[x509.Certificate, ...],
        reuse: bool,
        alpn: tuple[str, ...],
        *,
        resumed: bool = False,
    ) -> None:
        der = serialization.Encoding.DER
        self._call_tracer(CertificatePhaseTrace(
            certificate_chains=tuple(tuple(c.public_bytes(der) for c in key.chain) for key in certificates),
            request_client_certificate=request,
            client_ca_names=tuple(ca.subject.public_bytes() for ca in cas) if request else (),
            session_reuse=reuse,
            alpn_protocols=alpn,
            server_name=hello_server_name(self._hello),
            resumed=resumed,
        ))

    # -- engine --------------------------------------------------------------
    def _hold(self, data: bytes) -> None:
        if self._machine.state in _BEFORE_TLSLITE:
            if data:
                self._early += data
            else:
                self._early_eof = True
        else:
            super()._hold(data)

    def _idle_sentinel(self) -> object:
        return PAUSED if self._machine.state is State.AWAIT_PROCEED else super()._idle_sentinel()

    def _advance(self) -> bool:
        state = self._machine.state
        if state is State.EXPECT_CLIENT_HELLO:
            return self._read_client_hello()
        if state is State.AWAIT_PROCEED:
            if len(self._early) > self.config.max_handshake_message_size + _PRE_HANDSHAKE_SLACK:
                raise self._fail_before_tlslite(AlertDescription.unexpected_message, "too much data while the handshake is paused")
            return False
        return super()._advance()

    def _read_client_hello(self) -> bool:
        limit = self.config.max_handshake_message_size
        try:
            hello = read_client_hello(bytes(self._early), limit)
        except TooLarge as exc:
            raise self._fail_before_tlslite(AlertDescription.illegal_parameter, str(exc))
        if hello is None:
            if self._early_eof:
                self._start(self._plan(), Input.TLSLITE_READS_HELLO, resume=False)  # let tlslite report the truncation
                return True
            return False
        if hello is False:
            early = self._early
            if len(early) >= 6 and early[0] == 22 and int.from_bytes(early[3:5], "big") > 0 and early[5] != 1:
                # A first handshake message that is not a ClientHello: refuse
                # it on its type, as OpenSSL does; tlslite would first wait
                # for the whole message (up to 16 MiB announced).
                raise self._fail_before_tlslite(AlertDescription.unexpected_message, "first handshake message is not a ClientHello")
            if early and early[0] not in _CONTENT_TYPES and not early[0] & 0x80:
                # No content type, and no SSLv2 ClientHello either (its first
                # byte has the high bit set, RFC 5246 Appendix E.2): a record
                # of unknown type, unexpected_message (RFC 8446 §5). tlslite
                # read it as an SSLv2 header: illegal_parameter.
                raise self._fail_before_tlslite(AlertDescription.unexpected_message, "record of unknown content type")
            # Not something we read ourselves: tlslite answers with the alert.
            self._start(self._plan(), Input.TLSLITE_READS_HELLO, resume=False)
            return True
        problem = client_hello_problem(hello)
        if problem is not None:
            raise self._fail_before_tlslite(*problem)
        adopt_server_name(hello)  # an IP literal or non-ASCII name counts as no SNI
        try:
            cipher, resumes = self._driver.choose(hello, self._plan(), self.config.session_store, self.config.session_resumption)
            event = _client_hello_event(hello, resumes)
        except Exception as exc:
            # tlslite's parser leaves None for some empty extension bodies
            # (an empty supported_versions made choose() raise TypeError);
            # whatever our reading of a parsed hello trips on, it is the
            # peer's malformed message, never an exception out of next_event().
            raise self._fail_before_tlslite(AlertDescription.decode_error, f"malformed ClientHello ({exc!r})")
        self._hello = hello
        self._cipher, self._resumes = cipher, resumes
        if self._trace is not None:
            self._trace_hello(hello, resumes)
        self._machine.move(Input.CLIENT_HELLO)
        self._events.append(event)
        return True

    def _plan(
        self,
        *,
        certificates: tuple[CertifiedKey, ...] | None = None,
        request_client_certificate: bool | None = None,
        client_ca_certificates: tuple[x509.Certificate, ...] | None = None,
        reuse: bool | None = None,
        alpn_protocols: tuple[str, ...] | None = None,
        session_data: Callable[[tuple[bytes, ...] | None], bytes] | None = None,
    ) -> Plan:
        config = self.config
        reuse = config.session_resumption if reuse is None else reuse
        ciphers = config.ciphers
        if self._cipher is not None:
            ciphers = (self._cipher,)  # see Driver.choose
        return Plan(
            versions=config.versions,
            ciphers=ciphers,
            groups=config.groups,
            certificates=certificates if certificates is not None else config.certificates,
            alpn_protocols=config.alpn_protocols if alpn_protocols is None else alpn_protocols,
            signature_schemes=config.signature_schemes,
            session_data=session_data,
            request_client_certificate=config.request_client_certificate if request_client_certificate is None else request_client_certificate,
            client_ca_certificates=config.client_ca_certificates if client_ca_certificates is None else client_ca_certificates,
            issue_tickets=reuse,
            tls13_tickets=config.tls13_tickets,
            ticket_keys=config.ticket_keys,
            ticket_lifetime=config.ticket_lifetime,
            session_store=config.session_store,
            cache_session=reuse,
        )

    def _start(self, plan: Plan, how: Input, *, resume: bool) -> None:
        hello = self._hello
        if hello is not None:
            ok, _ = select_alpn(hello, plan.alpn_protocols)
            if not ok:
                self._pending_error = self._fail_before_tlslite(AlertDescription.no_application_protocol, "no ALPN protocol in common")
                return
            self._driver.hooks.client_random = bytes(hello.message.random)
        self._machine.move(how)
        early, self._early = bytes(self._early), bytearray()
        self._driver.feed(early)
        if self._early_eof:
            self._driver.feed(b"")
        with self._randomness():
            self._driver.start_server(plan, hello, resume)

    def _handshake_done(self, facts: HandshakeFacts) -> HandshakeComplete:
        if self._trace is not None:
            self._trace_outcome(facts)
        event = super()._handshake_done(facts)
        self._hello = None
        self._driver.release_handshake_state()
        return event

    # -- alerts before tlslite runs (rule 4) ----------------------------------
    def _send_close_notify(self) -> None:
        if self._machine.state in _BEFORE_TLSLITE:
            # tlslite has not run, so it would frame the alert with record
            # version 0x0000 (what OpenSSL rejects as WRONG_VERSION_NUMBER).
            self._driver.write_plaintext_alert(AlertDescription.close_notify, AlertLevel.warning)
        else:
            super()._send_close_notify()

    def _send_fatal_alert(self, description: AlertDescription) -> None:
        if self._machine.state in _BEFORE_TLSLITE:
            self._driver.write_plaintext_alert(description)
        else:
            super()._send_fatal_alert(description)

    def _fail_before_tlslite(self, description: AlertDescription, message: str) -> RemoteProtocolError:
        """Send the fatal alert now and enter ERROR; the caller raises the error."""
        self._send_fatal_alert(description)
        self._machine.move(Input.FATAL_ALERT_SENT)
        error = RemoteProtocolError(message, description)
        if self._trace is not None:
            self._call_tracer(failure_decision(error))
        return error

    # -- decisions, for a traced connection (see _reasons) --------------------
    def _trace_hello(self, hello: FirstHello, resumes: bool) -> None:
        facts = describe_hello(hello)
        tls13 = (3, 4) in facts.versions and "TLSv1.3" in self.config.versions
        for decision in hello_decisions(self.config, facts.groups, facts.key_share_groups, resumes, tls13, facts.offers_ticket):
            if decision.topic == "hello_retry_request":
                self._retry_group = decision.what
            self._call_tracer(decision)

    def _trace_outcome(self, facts: HandshakeFacts) -> None:
        hello = describe_hello(self._hello) if self._hello is not None else None
        self._call_tracer(version_decision(facts.version, hello.versions if hello else (), self.config.versions))
        self._call_tracer(cipher_decision(self.config, facts.cipher_suite, hello.cipher_suites if hello else (), facts.resumed,
                                          facts.version == "TLSv1.3"))
        if self._retry_group is not None:
            self._call_tracer(retry_group_decision(self._retry_group))
        leaf = self._driver.server_leaf_certificate()
        if not facts.resumed and leaf is not None:
            subject = x509.load_der_x509_certificate(leaf).subject.rfc4514_string()
            self._call_tracer(certificate_decision(subject, len(self.config.certificates), facts.server_name))


def _client_hello_event(hello: FirstHello, resumes_session: bool) -> ClientHelloReceived:
    facts = describe_hello(hello)
    return ClientHelloReceived(
        server_name=facts.server_name,
        versions=tuple(VERSION_NAMES[v] for v in facts.versions if v in VERSION_NAMES),
        cipher_suites=facts.cipher_suites,
        groups=facts.groups,
        signature_algorithms=facts.signature_algorithms,
        alpn_protocols=facts.alpn_protocols,
        raw=hello.raw,
        resumes_session=resumes_session,
        server_name_raw=hello.server_name_raw,
    )
