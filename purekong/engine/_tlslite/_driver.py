"""Driving one tlslite ``TLSConnection`` as a sans-IO state machine.

tlslite's handshake, read and write operations are generators that yield 0
when they need input. The driver keeps exactly one of them active (the
handshake, then a reader), resumes it when bytes arrive, and drains the
transport after every step, including after an exception, because tlslite
writes its fatal alert before raising.
"""

from __future__ import annotations

import copy

import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from tlslite.constants import (
    AlertDescription as TlsliteAlert,
    AlertLevel,
    ContentType,
    ExtensionType,
    KeyUpdateMessageType,
    PskKeyExchangeMode,
)
from tlslite.errors import (
    TLSAbruptCloseError,
    TLSAlert,
    TLSClosedConnectionError,
    TLSLocalAlert,
    TLSRemoteAlert,
)
from tlslite.messages import Alert

from .._alerts import AlertDescription, RemoteProtocolError
from .._config import SessionStore
from .._trace import RecordTrace
from .._suites import BY_CODE, SIGNATURE_SCHEMES, SUITES, VERSION_NAMES, VERSIONS
from . import _records, _speedups
from ._client_checks import ChainCheck, protocol_alert
from ._hello import FirstHello, hello_server_name
from ._hooked import RUNNING, Hooks, HookedTLSConnection, restore_session_data, session_data_for
from ._record_trace import RecordTracer
from ._settings import Plan, handshake_settings, shared_settings, tlslite_chain, tlslite_key, with_ticket_keys
from ._transport import MemoryTransport

# Passed as the ALPN list when ALPN must be ignored in TLS 1.3: tlslite
# crashes on alpn=None when the client offers ALPN, and ignores a list that
# matches nothing (in TLS 1.2 it would abort instead, so None is used there).
_NO_MATCH_ALPN = [bytearray(b"\x00purekong:no-alpn")]


class PeerAlert(Exception):
    def __init__(self, level: int, description: int) -> None:
        super().__init__(level, description)
        self.level = level
        self.description = description


class PeerEOF(Exception):
    """The transport ended without close_notify."""


@dataclass(frozen=True)
class HandshakeFacts:
    version: str
    cipher_suite: str
    server_name: str | None
    alpn_protocol: str | None
    resumed: bool
    peer_certificates: tuple[bytes, ...] | None
    session_data: bytes | None = None


class Driver:
    """One tlslite connection over a memory transport."""

    def __init__(self, hooks: Hooks) -> None:
        self.transport = MemoryTransport()
        self.hooks = hooks
        self.tls = HookedTLSConnection(self.transport, hooks)
        self.records = _records.RecordFastPath(self.tls)
        self._generator: Iterator[Any] | None = None
        self._is_handshake = False
        self._established = False
        #: Bytes to write to the transport (possibly empty): the transport's
        #: own method, bound once (data_to_send() calls it for every record).
        self.take_output: Callable[[], bytes] = self.transport.take

    def server_leaf_certificate(self) -> bytes | None:
        """DER of the certificate this server sent (None before it did, or on resumption)."""
        chain = getattr(self.tls.session, "serverCertChain", None) if self.tls.session else None
        return bytes(chain.x509List[0].bytes) if chain is not None and chain.x509List else None

    def trace_records(self, emit: Callable[[RecordTrace], None]) -> None:
        """Report every record in and out to ``emit`` (a traced connection only)."""
        tracer = RecordTracer(emit)
        tracer.attach(self.tls)
        self.records.on_record = tracer.report

    # -- bytes in and out --------------------------------------------------
    def feed(self, data: bytes) -> None:
        if data:
            self.transport.incoming += data
        else:
            self.transport.peer_eof = True

    def has_input(self) -> bool:
        return bool(self.transport.incoming or self.tls.sock._read_buffer or self.transport.peer_eof)

    def write_plaintext_alert(self, description: AlertDescription, level: int = AlertLevel.fatal) -> None:
        """Queue an alert record before tlslite runs (no keys, no tlslite).

        tlslite would frame it with record version 0x0000 here (it sets its
        version only from the ClientHello), which OpenSSL rejects as
        WRONG_VERSION_NUMBER; every alert the engine sends before tlslite
        starts comes through this one method instead.
        """
        self.transport.write(bytes((ContentType.alert, 3, 3, 0, 2, level, int(description))))

    def client_random(self) -> bytes:
        """The ClientHello's random, for key-log lines."""
        return bytes(self.hooks.client_random or self.tls._clientRandom)

    def buffered_handshake_bytes(self) -> int:
        return len(self.tls._defragmenter.buffers[ContentType.handshake])

    # -- starting ----------------------------------------------------------
    def start_server(self, plan: Plan, hello: FirstHello | None, resume: bool) -> None:
        """Start tlslite's server handshake on the bytes fed so far."""
        version = _negotiated_version(hello, plan) if hello else None
        settings = shared_settings(plan)  # tlslite's handshake copies it first (validate())
        self.hooks.resumption_allowed = resume
        self.hooks.first_hello = hello
        self.hooks.acknowledge_server_name = hello_server_name(hello) is not None
        self.hooks.resuming = resume
        self.hooks.session_data_source = plan.session_data
        self.hooks.session_data, self.hooks.session_data_known = None, False
        self.hooks.signature_schemes = tuple(SIGNATURE_SCHEMES[name] for name in plan.signature_schemes)
        if plan.request_client_certificate:
            self.hooks.tls13_ca_names = tuple(c.subject.public_bytes() for c in plan.client_ca_certificates)
        ca_names = [bytearray(dn) for dn in self.hooks.tls13_ca_names] or None
        cache = None
        if plan.session_store is not None and (resume or plan.cache_session):
            cache = _SessionCacheView(plan.session_store, hello_server_name(hello), resume, plan.cache_session, self.hooks)
        self._generator = self.tls.handshakeServerAsync(
            certChain=tlslite_chain(plan.certificates[0]),
            privateKey=tlslite_key(plan.certificates[0]),
            reqCert=plan.request_client_certificate,
            reqCAs=ca_names,
            sessionCache=cache,
            settings=settings,
            alpn=_alpn_argument(hello, plan, version),
        )
        self._is_handshake = True

    def start_client(self, plan: Plan, server_name: str | None, session: Any = None, check_server_chain: ChainCheck | None = None) -> None:
        self.hooks.offered_cipher_suites = offered_cipher_suites(plan)
        self.hooks.tls12_tickets = plan.session_tickets
        self.hooks.check_server_chain = check_server_chain
        settings = handshake_settings(plan)
        certified = plan.certificates[0] if plan.certificates else None
        self._generator = self.tls.handshakeClientCert(
            tlslite_chain(certified) if certified else None,
            tlslite_key(certified) if certified else None,
            session=session,
            settings=settings,
            serverName=server_name or None,
            alpn=[bytearray(p.encode()) for p in plan.alpn_protocols] or None,
            async_=True,
        )
        self._is_handshake = True

    # -- running -----------------------------------------------------------
    def run(self) -> HandshakeFacts | bytes | None:
        """Resume the active operation until it needs input.

        Returns ``None`` (needs input), ``HandshakeFacts`` (the handshake
        finished) or ``bytes`` (application data; ``b""`` after the peer's
        close_notify). Raises ``RemoteProtocolError`` when we sent an alert,
        ``PeerAlert`` or ``PeerEOF`` when the peer ended the connection.
        """
        if self._generator is None:
            if self.tls.closed or not self.has_input():
                return None
            if self._established:
                data = self.open_application_data()
                if data:
                    return data
                if not self.has_input():
                    return None
            # What the fast path left (a handshake message such as KeyUpdate
            # or NewSessionTicket, an alert, a partial or bad record) goes to
            # tlslite: readAsync handles post-handshake messages as they come
            # and returns with application data, or b"" at close_notify.
            self._generator = self.tls.readAsync(max=None, min=1)
            self._is_handshake = False
        running = RUNNING.set(self.hooks)
        try:
            result = None
            for result in self._generator:
                if result == 0:
                    return None
                if result == 1:  # a memory transport never blocks writes
                    continue
        except TLSLocalAlert as exc:
            self._generator = None
            raise RemoteProtocolError(str(exc.message or _alert_name(exc.description)), _alert(exc.description)) from None
        except TLSRemoteAlert as exc:
            self._generator = None
            raise PeerAlert(exc.level, exc.description) from None
        except (TLSAbruptCloseError, TLSClosedConnectionError):
            self._generator = None
            raise PeerEOF() from None
        except (TLSAlert, Exception) as exc:  # a tlslite bug must not escape as-is
            self._generator = None
            if tuple(self.tls.version) == (0, 0):
                # tlslite's handshake wrapper has already shut the record
                # layer down (states and version cleared): without this the
                # alert record would carry version 0x0000, which peers reject.
                self.tls.version = (3, 3)
            alert = protocol_alert(exc)  # raised outside the handshake (in readAsync): still the peer's fault
            if alert is not None:
                raise self.fail(alert, str(exc) or alert.name) from None
            raise self.fail(AlertDescription.internal_error, f"internal error: {exc!r}") from exc
        finally:
            RUNNING.reset(running)
        self._generator = None
        if self._is_handshake:
            self._established = True
            return self._facts()
        if isinstance(result, (bytes, bytearray)):
            if result == b"" and not self.tls.closed:
                return None  # tlslite only processed post-handshake messages
            return bytes(result)
        return None

    def busy(self) -> bool:
        return self._generator is not None

    def idle(self) -> bool:
        """True when run() has nothing to do until more bytes arrive."""
        return self._generator is None and not self.has_input()

    def fail(self, description: AlertDescription, message: str) -> RemoteProtocolError:
        """Send a fatal alert through tlslite (encrypted when keys are set)."""
        try:
            for _ in self.tls._sendError(int(description), message):
                pass
        except TLSLocalAlert:
            pass
        except Exception:  # the transport may be half-dead; the alert is best effort
            pass
        self._generator = None
        return RemoteProtocolError(message, description)

    # -- after the handshake -----------------------------------------------
    def write_fast(self, data: bytes) -> bool:
        """Seal ``data`` with the record fast path; False when tlslite must."""
        return self.records.seal(data, self.transport.outgoing)

    def write(self, data: bytes) -> None:
        """Protect ``data`` through tlslite (when write_fast declined)."""
        for _ in self.tls.writeAsync(data):
            pass

    def read_fast(self) -> bytes | None:
        """What ``next_event()`` tries first once established: the plaintext of
        the whole application-data records at the head of the input, opened
        by the record fast path; ``b""`` when nothing is buffered and no
        tlslite operation is under way (the application must feed more);
        None when ``run()`` must look (tlslite's operation, a record the fast
        path does not take, only empty records, the peer's EOF)."""
        if self._generator is not None:
            return None
        incoming = self.transport.incoming
        if not incoming and not self.tls.sock._read_buffer:
            return None if self.transport.peer_eof else b""
        return self.open_application_data() or None

    def open_application_data(self) -> bytes | None:
        """Plaintext of the whole application-data records at the head of the
        input (record fast path), or None: then ``run()`` lets tlslite look."""
        if self._generator is not None or not self._established:
            return None  # a tlslite operation is under way: it owns the input
        incoming = self.transport.incoming
        read_ahead = self.tls.sock._read_buffer
        if read_ahead:
            # No tlslite operation is suspended, so bytes tlslite's socket
            # wrapper read ahead are unclaimed: put them back in front.
            incoming[:0] = read_ahead
            self.tls.sock._read_buffer = bytearray()
        elif not incoming:
            return None
        return self.records.open(incoming)

    def send_close_notify(self) -> None:
        alert = Alert().create(TlsliteAlert.close_notify, AlertLevel.warning)
        if not self.hooks.close_notify_sent and self.records.seal(alert.write(), self.transport.outgoing, _records.ALERT):
            self.hooks.close_notify_sent = True  # what HookedTLSConnection._sendMsg records
            return
        for _ in self.tls._sendMsg(alert):
            pass

    def key_update(self) -> None:
        for _ in self.tls.send_keyupdate_request(KeyUpdateMessageType.update_requested):
            pass

    def session(self) -> Any:
        return self.tls.session

    @staticmethod
    def session_renamed(tlslite_session: Any, server_name: str) -> Any:
        """A copy of a client's session that tlslite will offer to ``server_name``
        (it keeps the name it was made for as ``serverName``)."""
        clone = copy.copy(tlslite_session)
        clone.serverName = server_name
        return clone

    @staticmethod
    def without_tls12_ticket(tlslite_session: Any) -> Any:
        """A copy of a client's session that can come back by session ID only:
        the TLS 1.2 ticket tlslite keeps in ``tls_1_0_tickets`` left out."""
        clone = copy.copy(tlslite_session)
        clone.tls_1_0_tickets = []
        return clone

    def release_handshake_state(self) -> None:
        """Drop what only the handshake needed (a server's idle connection
        then holds about 9 KiB less): the transcript and its copies, and the
        parsed ClientHello. A server never needs the transcript again, since
        it does no post-handshake authentication; a client might, so this is
        for servers only."""
        tls = self.tls
        tls._handshake_hash = _speedups.TranscriptBuffer()
        tls._pre_client_hello_handshake_hash = None
        tls._certificate_verify_handshake_hash = None
        tls._first_handshake_hashes = None  # kept by tlslite for post-handshake auth only
        tls._pk_decrypted = None  # the ticket this handshake resumed, opened
        self.hooks.server_finished_transcript = None
        self.hooks.first_hello = None

    def _facts(self) -> HandshakeFacts:
        tls = self.tls
        session = tls.session
        version = VERSION_NAMES[tuple(tls.version)]
        if tls._client:
            resumed = bool(tls.resumed)
            # A resumed TLS 1.2 session still holds the chain of the full
            # handshake; HandshakeComplete reports None on resumption.
            chain = None if resumed else session.serverCertChain
        else:
            # tlslite never sets ``resumed`` for a TLS 1.3 server; a PSK
            # handshake is the one where the server signed nothing.
            resumed = bool(tls.resumed) or (tls.version > (3, 3) and tls.serverSigAlg is None)
            chain = None if resumed else session.clientCertChain
        peer = tuple(bytes(c.bytes) for c in chain.x509List) if chain and chain.x509List else None
        alpn = session.appProto
        return HandshakeFacts(
            version=version,
            cipher_suite=BY_CODE[session.cipherSuite].iana,
            server_name=session.serverName or None,
            alpn_protocol=bytes(alpn).decode("ascii", "replace") if alpn else None,
            resumed=resumed,
            peer_certificates=peer,
            session_data=None if tls._client else session_data_for(self.hooks, None if resumed else session.clientCertChain),
        )

    # -- resumption ----------------------------------------------------------
    def choose(self, hello: FirstHello, plan: Plan, store: SessionStore | None, resumption: bool) -> tuple[str | None, bool]:
        """Pick this connection's cipher, and whether it resumes a session.

        tlslite's own suite preference ignores the configured order, so the
        server's choice is made here and tlslite is given only that cipher.
        Resumption is decided here too, with tlslite's own ticket code, so
        that the certificate phase runs exactly on full handshakes.
        """
        version = _negotiated_version(hello, plan)
        offered = set(hello.message.cipher_suites)
        if version is None:
            return None, False
        if resumption:
            resumed_cipher = self._resumable_cipher(hello, plan, store, version, offered)
            if resumed_cipher is not None:
                return resumed_cipher, True
        for cipher in plan.ciphers:
            if _codes(cipher, version) & offered:
                return cipher, False
        return None, False

    def _resumable_cipher(
        self, hello: FirstHello, plan: Plan, store: SessionStore | None, version: tuple[int, int], offered: set[int]
    ) -> str | None:
        ch = hello.message
        server_name = hello_server_name(hello)
        settings = with_ticket_keys(shared_settings(plan), plan.ticket_keys)  # only read here
        saved_version = self.tls.version
        try:
            if version == (3, 4):
                return self._tls13_ticket_cipher(ch, settings, server_name, offered, plan)
            self.tls.version = (3, 3)
            ticket = ch.getExtension(ExtensionType.session_ticket)
            if ticket is not None and ticket.ticket:
                session = self.tls._ticket_to_session(settings, ticket)
            elif ch.session_id and store is not None:
                session = store.get(server_name, bytes(ch.session_id))
            else:
                session = None
            if session is None or not session.resumable:
                return None
            if (session.serverName or None) != server_name:
                return None
            has_ems = ch.getExtension(ExtensionType.extended_master_secret) is not None
            if bool(session.extendedMasterSecret) != has_ems:
                return None
            if session.encryptThenMAC and ch.getExtension(ExtensionType.encrypt_then_mac) is None:
                return None
            suite = BY_CODE.get(session.cipherSuite)
            if suite is None or suite.cipher not in plan.ciphers or session.cipherSuite not in offered:
                return None
            return suite.cipher
        except Exception:
            return None
        finally:
            self.tls.version = saved_version

    def _tls13_ticket_cipher(self, ch: Any, settings: Any, server_name: str | None, offered: set[int], plan: Plan) -> str | None:
        psks = ch.getExtension(ExtensionType.pre_shared_key)
        modes = ch.getExtension(ExtensionType.psk_key_exchange_modes)
        if psks is None or modes is None or PskKeyExchangeMode.psk_dhe_ke not in modes.modes:
            return None
        self.tls.version = (3, 4)
        for identity in psks.identities:
            match, ticket = self.tls._tryDecrypt(settings, identity)
            if not match:
                continue
            # tlslite resumes with the first identity it can decrypt, so
            # that one decides; a ticket for another name or past its
            # lifetime means a full handshake instead.
            suite = BY_CODE.get(ticket.cipher_suite)
            if (
                ticket.protocol_version != (3, 4)
                or suite is None
                or suite.cipher not in plan.ciphers
                or ticket.cipher_suite not in offered
                or (bytes(ticket.server_name).decode("ascii", "replace") or None) != server_name
                or ticket.creation_time + settings.ticketLifetime < time.time()
            ):
                return None
            return suite.cipher
        return None


class _SessionCacheView:
    """tlslite's session-cache interface over purekong's SessionStore, for one connection."""

    def __init__(self, store: SessionStore, server_name: str | None, lookups: bool, stores: bool, hooks: Hooks) -> None:
        self._store = store
        self._server_name = server_name
        self._lookups = lookups
        self._stores = stores
        self._hooks = hooks

    def __bool__(self) -> bool:
        # tlslite sends an empty session ID when the cache is falsy.
        return self._stores or self._lookups

    def __getitem__(self, session_id: bytes) -> Any:
        session = self._store.get(self._server_name, session_id) if self._lookups else None
        if session is None:
            raise KeyError(session_id)
        restore_session_data(self._hooks, getattr(session, "purekong_session_data", None))
        return session

    def __setitem__(self, session_id: bytes, session: Any) -> None:
        if self._stores:
            # The store is in memory: the data stays with the session object.
            session.purekong_session_data = session_data_for(self._hooks, session.clientCertChain)
            self._store.put(self._server_name, session_id, session)


def offered_cipher_suites(plan: Plan) -> tuple[int, ...]:
    """What a client offers: TLS 1.3 suites, then TLS 1.2 ones (ECDSA before
    RSA), each in the configured cipher order; the RFC 5746 SCSV last (as
    OpenSSL places it) only when TLS 1.2 is offered: a TLS 1.3-only client
    has no renegotiation to secure."""
    codes = [s.code for version in ("TLSv1.3", "TLSv1.2") if version in plan.versions
             for cipher in plan.ciphers for s in SUITES if s.version == version and s.cipher == cipher]
    if "TLSv1.2" in plan.versions:
        codes.append(RENEGOTIATION_INFO_SCSV)
    return tuple(codes)


RENEGOTIATION_INFO_SCSV = 0x00FF


def _negotiated_version(hello: FirstHello, plan: Plan) -> tuple[int, int] | None:
    """The version tlslite will pick (its own rule: our first version the client lists)."""
    ours = sorted((VERSIONS[v] for v in plan.versions), reverse=True)
    ext = hello.message.getExtension(ExtensionType.supported_versions)
    if ext is not None:
        theirs = {tuple(v) for v in ext.versions}
        return next((v for v in ours if v in theirs), None)
    client = tuple(hello.message.client_version)
    if client >= (3, 3) and (3, 3) in ours:
        return (3, 3)
    return None


def _codes(cipher: str, version: tuple[int, int]) -> set[int]:
    name = VERSION_NAMES[version]
    return {s.code for s in BY_CODE.values() if s.cipher == cipher and s.version == name}


def _alpn_argument(hello: FirstHello | None, plan: Plan, version: tuple[int, int] | None) -> list[bytearray] | None:
    # tlslite picks by the client's order; give it only the server's choice.
    offered = hello.message.getExtension(ExtensionType.alpn) if hello else None
    if hello is None or offered is None:
        return None
    _, selected = select_alpn(hello, plan.alpn_protocols)
    if selected is not None:
        return [bytearray(selected.encode())]
    return _NO_MATCH_ALPN if version == (3, 4) else None


def select_alpn(hello: FirstHello, server_protocols: tuple[str, ...]) -> tuple[bool, str | None]:
    """(ok, protocol): the server's first protocol the client offers.

    ok is False when both sides use ALPN and nothing matches, which RFC 7301
    §3.2 answers with no_application_protocol.
    """
    ext = hello.message.getExtension(ExtensionType.alpn)
    if ext is None or not server_protocols:
        return True, None
    offered = [bytes(p) for p in ext.protocol_names]
    for protocol in server_protocols:
        if protocol.encode() in offered:
            return True, protocol
    return False, None


def _alert(code: int) -> AlertDescription:
    return AlertDescription.from_code(code)  # type: ignore[return-value]


def _alert_name(code: int) -> str:
    alert = AlertDescription.from_code(code)
    return alert.name if isinstance(alert, AlertDescription) else f"alert {code}"
