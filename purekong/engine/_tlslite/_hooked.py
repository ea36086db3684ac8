"""tlslite's ``TLSConnection`` with purekong's hooks.

Each override names the tlslite behaviour it changes and why. They touch
private tlslite methods, which is why tlslite-ng is pinned to 0.8.x and why
nothing outside this folder imports tlslite. Some replacements here are
module-wide (classes and functions tlslite looks up by name, such as
``_ReusedClientHello`` and ``_bounded_decompress``); ``_patches`` lists every
change, these included, and installs the module-wide ones.
"""

from __future__ import annotations

import contextvars
import weakref
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import tlslite.tlsconnection
from tlslite.constants import AlertDescription, AlertLevel, CertificateCompressionAlgorithm, ContentType, ExtensionType
from tlslite.errors import TLSIllegalParameterException, TLSUnexpectedMessage
from tlslite.extensions import SNIExtension, TLSExtension
from tlslite.messages import (
    CertificateRequest,
    ClientHello,
    CompressedCertificate,
    EncryptedExtensions,
    NewSessionTicket,
    ServerHello,
    SessionTicketPayload,
)
from tlslite.recordlayer import RecordLayer, RecordSocket
from tlslite.utils import cryptomath
from tlslite.tlsconnection import TLSConnection
from tlslite.utils.codec import BadCertificateError, Parser

from .._suites import DEFAULT_SIGNATURE_SCHEMES, SIGNATURE_SCHEMES
from . import _client_checks, _policy
from ._hello import set_aside_unusable_server_name
from ._record_read import take_buffered_record, would_block

# RFC 8446 §4.2.4; tlslite 0.8 has no ExtensionType for it.
CERTIFICATE_AUTHORITIES = 47
# What a ticket can carry for the application (its length field is 2 bytes).
MAX_SESSION_DATA = 1024
# Ends a ticket whose contents carry session data (after tlslite's fields).
_SESSION_DATA_MARK = b"\x00pk\x01"
# OpenSSL aborts on this many consecutive warning alerts (the 5th is fatal).
MAX_WARNING_ALERTS = 5


@dataclass
class Hooks:
    """Per-connection state the overrides read and write."""

    #: Whether an offered session ID, ticket or PSK may be used.
    resumption_allowed: bool = True
    #: Code points the server may sign with, in preference order.
    signature_schemes: tuple[int, ...] = tuple(SIGNATURE_SCHEMES[name] for name in DEFAULT_SIGNATURE_SCHEMES)
    #: The server used the client's SNI: acknowledge it (RFC 6066 §3).
    acknowledge_server_name: bool = False
    #: This handshake resumes a session (TLS 1.2: no acknowledgement then).
    resuming: bool = False
    #: DER DistinguishedNames for the TLS 1.3 certificate_authorities extension.
    tls13_ca_names: tuple[bytes, ...] = ()
    client_random: bytes = b""
    on_message: Callable[[str, int, bytes], None] | None = None
    on_secret: Callable[[str, bytes, bytes], None] | None = None
    #: Traced servers: the scheme signed with (code or None) and the client's offer.
    on_signature: Callable[[int | None, tuple[int, ...]], None] | None = None
    signature_reported: bool = False
    #: Filled by the overrides, drained by the driver.
    warning_alerts: list[tuple[int, int]] = field(default_factory=list)
    key_updates: list[bool] = field(default_factory=list)
    close_notify_sent: bool = False
    tls13_secret_sets: int = 0
    #: The ClientHello the engine already parsed (FirstHello), until tlslite reads it.
    first_hello: Any = None
    #: Client: the cipher suites to offer, exactly and in this order.
    offered_cipher_suites: tuple[int, ...] = ()
    #: Client: offer TLS 1.2 session tickets (the session_ticket extension).
    tls12_tickets: bool = True
    #: Client: judges the server's chain when it arrives (_client_checks.ChainCheck).
    check_server_chain: Callable[[tuple[bytes, ...]], Any] | None = None
    #: Client: what its ClientHello offered (filled by OfferedClientHello).
    offered_session_id: bytes = b""
    offered_signature_schemes: tuple[tuple[int, int], ...] = ()
    #: TLS 1.3 tickets issued on this connection (the next ticket_nonce).
    tickets_issued: int = 0
    #: proceed(session_data=...): called once with the peer's chain (DER
    #: tuple or None); its bytes are stored with the session.
    session_data_source: Callable[[tuple[bytes, ...] | None], bytes] | None = None
    #: Those bytes, or (on resumption) the ones stored with the session.
    session_data: bytes | None = None
    session_data_known: bool = False
    #: The TLS 1.3 transcript up to the server Finished (for exp master).
    server_finished_transcript: Any = None
    #: The connection's max_handshake_message_size, also applied to a
    #: CompressedCertificate's decompressed size.
    max_message_size: int = 2**24


def session_data_for(hooks: Hooks, chain: Any) -> bytes | None:
    """The application's bytes for this connection's session (computed once).

    ``chain`` is tlslite's X509CertChain of the peer (or None). On a resumed
    handshake they are the bytes restored from the ticket or cache entry.
    """
    if not hooks.session_data_known:
        hooks.session_data_known = True
        if hooks.session_data_source is not None:
            ders = tuple(bytes(c.bytes) for c in chain.x509List) if chain is not None and chain.x509List else None
            data = hooks.session_data_source(ders)
            if len(data) > MAX_SESSION_DATA:
                raise ValueError(f"session_data returned {len(data)} bytes; at most {MAX_SESSION_DATA} are stored")
            hooks.session_data = bytes(data)
    return hooks.session_data


def restore_session_data(hooks: Hooks, data: bytes | None) -> None:
    hooks.session_data = data
    hooks.session_data_known = True


#: The Hooks of the connection whose tlslite generator is running now.
RUNNING: contextvars.ContextVar[Hooks | None] = contextvars.ContextVar("purekong_running_hooks", default=None)

#: The trace label of the (EC)DHE shared secret (TLS 1.2: the pre-master
#: secret, RFC 8422 §5.10). Lowercase: no key log carries it.
SHARED_SECRET_LABEL = "ecdhe_shared_secret"


def report_shared_secret(secret: bytes) -> None:
    """Hand the (EC)DHE shared secret the backend just computed to the
    running connection's tracer. tlslite keeps it in a local of its
    handshake; the exchange function is the one place that sees it. Without
    a tracer this is one context-variable read per handshake."""
    hooks = RUNNING.get()
    if hooks is not None and hooks.on_secret is not None:
        hooks.on_secret(SHARED_SECRET_LABEL, hooks.client_random, bytes(secret))


class _ReusedClientHello:
    """Stands in for tlslite's ClientHello class where ``_getMsg`` parses one.

    The engine parses the first ClientHello before tlslite runs (to pause
    at it); tlslite then reads the same bytes again. When they are exactly
    the bytes already parsed, hand back that message instead of parsing it a
    second time (about a tenth of a server handshake's CPU).
    """

    def __init__(self, ssl2: bool = False) -> None:
        self._ssl2 = ssl2

    def parse(self, parser: Any) -> Any:
        hooks = RUNNING.get()
        first = hooks.first_hello if hooks is not None else None
        if hooks is not None and first is not None and not self._ssl2 and parser.bytes == first.raw:
            hooks.first_hello = None
            return first.message
        message = ClientHello(self._ssl2).parse(parser)
        set_aside_unusable_server_name(message)  # the second ClientHello after an HRR too
        return message


_tlslite_derive_secret: Callable[..., bytearray] = tlslite.tlsconnection.derive_secret


def _derive_secret(secret: bytearray, label: bytes, handshake_hashes: Any, algorithm: str) -> bytearray:
    """RFC 8446 §7.1: exporter_master_secret hashes the transcript up to the server Finished.

    A tlslite 0.8 server derives it only after reading the client's
    Certificate and CertificateVerify, so with a CertificateRequest its
    exporters (and the EXPORTER_SECRET key-log line) were wrong. The
    application traffic secrets use the right transcript: keep that one.
    """
    hooks = RUNNING.get()
    if hooks is not None and handshake_hashes is not None:
        if label == b"s ap traffic":
            hooks.server_finished_transcript = handshake_hashes.copy()
        elif label == b"exp master" and hooks.server_finished_transcript is not None:
            handshake_hashes = hooks.server_finished_transcript
    return _tlslite_derive_secret(secret, label, handshake_hashes, algorithm)


class OfferedClientHello(ClientHello):
    """The ClientHello a purekong client builds, offering exactly its suites.

    tlslite offers every suite its settings allow in its own order, TLS 1.2
    suites and the renegotiation SCSV even from a TLS 1.3-only client; the
    configured order and versions decide here (``Driver.start_client``).
    A ticket goes with a fresh session ID, and only when the client keeps
    tickets (``_client_checks.offer``).
    """

    def create(self, version: Any, random: Any, session_id: Any, cipher_suites: Any, *args: Any, **kwargs: Any) -> Any:
        hooks = RUNNING.get()
        if hooks is None:
            return super().create(version, random, session_id, cipher_suites, *args, **kwargs)
        if hooks.offered_cipher_suites:
            cipher_suites = list(hooks.offered_cipher_suites)
        session_id, kwargs["extensions"] = _client_checks.offer(hooks, session_id, kwargs.get("extensions"))
        hello = super().create(version, random, session_id, cipher_suites, *args, **kwargs)
        _client_checks.offered(hooks, hello)
        return hello


class TicketPayload(SessionTicketPayload):
    """tlslite's ticket contents, with a counter as the TLS 1.3 ticket_nonce
    and the application's session data.

    RFC 8446 §4.6.1 only asks for a nonce unique per connection; tlslite drew
    32 random bytes. A counter (``00 00`` first, as in RFC 8448) lets a
    replay with fixed inputs reproduce the resumption PSK.

    The session data (``proceed(session_data=...)``: for Kong, the client
    verify result nginx keeps in its sessions) follows tlslite's fields,
    inside the same encrypted, authenticated ticket.
    """

    session_data: bytes | None = None

    def create(self, master_secret: Any, protocol_version: Any, cipher_suite: int, creation_time: int, nonce: Any = bytearray(), *args: Any, **kwargs: Any) -> Any:
        hooks = RUNNING.get()
        if hooks is not None:
            if tuple(protocol_version) > (3, 3):
                nonce = bytearray(hooks.tickets_issued.to_bytes(2, "big"))
                hooks.tickets_issued += 1
            self.session_data = hooks.session_data
        return super().create(master_secret, protocol_version, cipher_suite, creation_time, nonce, *args, **kwargs)

    def write(self) -> bytearray:
        data: bytearray = super().write()
        if self.session_data is not None:
            data += self.session_data + len(self.session_data).to_bytes(2, "big") + _SESSION_DATA_MARK
        return data

    def parse(self, parser: Parser) -> Any:
        rest = bytes(parser.bytes[parser.index :])
        if rest.endswith(_SESSION_DATA_MARK) and len(rest) >= 6:
            size = int.from_bytes(rest[-6:-4], "big")
            if size <= len(rest) - 6:
                self.session_data = rest[-6 - size : -6]
                rest = rest[: -6 - size]
        return super().parse(Parser(bytearray(rest)))


_tlslite_decompress: Callable[..., bytes] = CompressedCertificate._decompress


def _bounded_decompress(self: Any, compressed_msg: bytearray, expected_length: int) -> bytes:
    """A client's CompressedCertificate, decompressed within the engine's limit.

    tlslite hands ``expected_length`` to ``zlib.decompress`` as *bufsize*,
    which is not a limit: a small message (within max_handshake_message_size)
    could announce and inflate to a 16 MiB chain, or a zlib bomb to far more,
    before the length check. Refuse what the engine would refuse uncompressed.
    """
    hooks = RUNNING.get()
    limit = hooks.max_message_size if hooks is not None else 2**24
    if expected_length > limit:
        # RFC 8879 §4: a CompressedCertificate that cannot be decompressed is bad_certificate.
        raise BadCertificateError(f"compressed certificate of {expected_length} bytes exceeds the {limit}-byte limit")
    if self.compression_algo != CertificateCompressionAlgorithm.zlib:
        return _tlslite_decompress(self, compressed_msg, expected_length)
    inflater = zlib.decompressobj()
    try:
        data = inflater.decompress(bytes(compressed_msg), expected_length)
    except zlib.error:
        raise BadCertificateError("Error on decompressing the message.") from None
    if len(data) != expected_length or inflater.unconsumed_tail or not inflater.eof:
        raise BadCertificateError("Decompressed message doesn't match its length.")
    return data


# -- per-connection record-layer hooks ---------------------------------------
# Called by the record layer classes below, which each HookedTLSConnection
# gives its own record layer (see __init__), so they change purekong's
# connections only. Each takes the connection and the record layer's
# original bound method first.

def log_tls13_secrets(tls: HookedTLSConnection, original: Callable[..., None], cipher_suite: int, cl_secret: bytearray, sr_secret: bytearray, implementations: Any) -> None:
    """Key log: tlslite keeps TLS 1.3 traffic secrets in locals; the record
    layer is the one place that sees each pair. The first pair is the
    handshake traffic secrets, the second the application ones."""
    hooks = tls.pk
    if hooks.on_secret is not None:
        handshake = hooks.tls13_secret_sets == 0
        hooks.tls13_secret_sets += 1
        if handshake:
            tls._log_secret("CLIENT_HANDSHAKE_TRAFFIC_SECRET", cl_secret)
            tls._log_secret("SERVER_HANDSHAKE_TRAFFIC_SECRET", sr_secret)
        elif hooks.tls13_secret_sets == 2:
            tls._log_secret("CLIENT_TRAFFIC_SECRET_0", cl_secret)
            tls._log_secret("SERVER_TRAFFIC_SECRET_0", sr_secret)
    return original(cipher_suite, cl_secret, sr_secret, implementations)


def refuse_encrypted_ssl2(tls: HookedTLSConnection, original: Callable[[Any, Any], Any], data: Any, padding: Any) -> Any:
    """tlslite frames any record whose first byte is not a content type as
    SSLv2, in every state, and then calls a CBC-only decrypt() on the AEAD
    read state (AttributeError -> internal_error, sent in plaintext after
    tlslite's shutdown). SSLv2 framing is only valid for the first
    ClientHello: once keys are in use it is unexpected."""
    if tls._recordLayer._readState.encContext is not None:
        raise TLSUnexpectedMessage("SSLv2-framed record on an encrypted connection")
    return original(data, padding)


def refuse_late_ssl2_headers(tls: HookedTLSConnection, original: Callable[[], Iterator[Any]]) -> Iterator[Any]:
    """The same framing on a plaintext connection: SSLv2 headers exist only
    for a server's very first ClientHello (RFC 5246 Appendix E.2). After
    that, a first byte that is no content type is a record of unknown type,
    which RFC 5246 §6 and RFC 8446 §5 answer with unexpected_message;
    tlslite parsed it as an SSLv2 header and sent illegal_parameter when its
    padding fields did not add up."""
    sslv2_allowed = tls._pk_records_read == 0 and not tls._recordLayer.client
    try:
        for header in original():
            if header in (0, 1):
                yield header
                continue
            if header.ssl2 and not sslv2_allowed:
                raise TLSUnexpectedMessage("record of unknown content type")
            tls._pk_records_read += 1
            yield header
    except TLSIllegalParameterException:
        if sslv2_allowed:
            raise
        raise TLSUnexpectedMessage("record of unknown content type") from None


def refuse_unprotected_tls13_alerts(tls: HookedTLSConnection, original: Callable[[], Iterator[Any]]) -> Iterator[Any]:
    """TLS 1.3: tlslite accepts an *unprotected* alert as the first record
    under any read key (seqnum 0), meant for a peer that fails before it has
    keys. After the handshake (new application keys, and again after every
    KeyUpdate) that let anyone on the path inject a plaintext close_notify,
    a clean close that truncates the stream, or any other alert. Once the
    handshake is done every alert must be encrypted.

    A record already complete in memory is taken in one slice
    (``_record_read``: same header, body and checks); it is a TLS record,
    never SSLv2, so it counts as read for ``refuse_late_ssl2_headers``.
    With nothing buffered, this waits (yields 0, as tlslite would) for the
    next input before choosing, so a flight that arrives whole is sliced."""
    records = tls._recordLayer._recordSocket
    while True:
        whole = take_buffered_record(records)
        if whole is not None:
            tls._pk_records_read += 1
            _refuse_unprotected_alert(tls, whole)
            yield whole
            return
        if not would_block(records):
            break
        yield 0
    for result in original():
        if result not in (0, 1):
            _refuse_unprotected_alert(tls, result)
        yield result


def _refuse_unprotected_alert(tls: HookedTLSConnection, record: Any) -> None:
    if (
        tls._pk_handshake_done
        and getattr(record[0], "type", None) == ContentType.alert
        and tls._recordLayer._is_tls13_plus()
    ):
        raise TLSUnexpectedMessage("unprotected alert after the TLS 1.3 handshake")


class HookedRecordLayer(RecordLayer):
    """tlslite's record layer calling the hooks above. ``_pk_tls`` is a weak
    reference to the connection: the hooks were bound methods and partials
    on the instance, a reference cycle that left every connection (~50
    objects) to the cyclic garbage collector instead of reference counting."""

    _pk_tls: Callable[[], Any]
    # tlslite's methods under other names: self._tlslite_x is a bound method
    # without the super object super().x makes per call.
    _tlslite_calc_tls13_state = RecordLayer.calcTLS1_3PendingState
    _tlslite_decrypt_ssl2 = RecordLayer._decryptSSL2

    def calcTLS1_3PendingState(self, cipherSuite: int, cl_traffic_secret: bytearray, sr_traffic_secret: bytearray,
                               implementations: Any) -> None:
        log_tls13_secrets(self._pk_tls(), self._tlslite_calc_tls13_state, cipherSuite, cl_traffic_secret,
                          sr_traffic_secret, implementations)

    def _decryptSSL2(self, data: Any, padding: Any) -> Any:
        return refuse_encrypted_ssl2(self._pk_tls(), self._tlslite_decrypt_ssl2, data, padding)


class HookedRecordSocket(RecordSocket):
    """tlslite's record socket calling the hooks above (see HookedRecordLayer)."""

    _pk_tls: Callable[[], Any]
    _tlslite_recv_header = RecordSocket._recvHeader
    _tlslite_recv = RecordSocket.recv

    def _recvHeader(self) -> Iterator[Any]:
        return refuse_late_ssl2_headers(self._pk_tls(), self._tlslite_recv_header)

    def recv(self) -> Iterator[Any]:
        return refuse_unprotected_tls13_alerts(self._pk_tls(), self._tlslite_recv)


class HookedTLSConnection(TLSConnection):
    def __init__(self, sock: Any, hooks: Hooks) -> None:
        super().__init__(sock)
        self.pk = hooks
        self._warning_run = 0
        self._pk_records_read = 0
        self._pk_handshake_done = False
        self._pk_ccs_seen = False
        self._pk_decrypted: tuple[Any, Any] | None = None  # the last ticket _tryDecrypt opened, and its answer
        # The record-layer hooks above, on this connection's objects only:
        # the objects tlslite made take the hooked classes (same layout).
        layer = self._recordLayer
        records = layer._recordSocket
        layer.__class__, records.__class__ = HookedRecordLayer, HookedRecordSocket
        layer._pk_tls = records._pk_tls = weakref.ref(self)

    def _handshakeDone(self, resumed: bool) -> None:
        self._pk_handshake_done = True
        super()._handshakeDone(resumed)

    def _serverSendTickets(self, settings: Any) -> Iterator[Any]:
        """Tickets without the client's certificate chain.

        tlslite copies the chain into every ticket, whose length field is
        2 bytes: a chain over ~64 KiB (within the default
        max_handshake_message_size) made the ticket unwritable, a ValueError
        and an internal_error after the client's Finished. Resumed handshakes
        report no peer certificates, so the chain is not needed there.
        """
        session = self.session
        chain = getattr(session, "clientCertChain", None)
        session_data_for(self.pk, chain)  # goes into the ticket (TicketPayload)
        if chain is not None:
            session.clientCertChain = None
        try:
            yield from super()._serverSendTickets(settings)
        finally:
            if chain is not None:
                session.clientCertChain = chain

    def _pickServerKeyExchangeSig(self, settings: Any, clientHello: Any, certList: Any = None, private_key: Any = None,
                                  version: tuple[int, int] = (3, 3), check_alt: bool = True) -> tuple[str | None, Any, Any]:
        """No SHA-1 fallback, only schemes the key can make, the configured order (see _policy)."""
        chosen = _policy.pick_server_signature(settings, clientHello, certList, private_key, version, check_alt, self.pk.signature_schemes)
        if self.pk.on_signature is not None:
            self.pk.on_signature(_policy.scheme_code(chosen[0], chosen[2]), _policy.offered_schemes(clientHello))
        return chosen

    def _handshakeWrapperAsync(self, handshaker: Iterator[Any], checker: Any) -> Iterator[Any]:
        """tlslite's bare protocol errors (a bad server CertificateVerify,
        Finished or key share) sent as their alerts, not internal_error."""
        yield from super()._handshakeWrapperAsync(_client_checks.with_alerts(self, handshaker), checker)

    def _clientGetServerHello(self, settings: Any, session: Any, clientHello: Any) -> Iterator[Any]:
        """ServerHello extensions the client did not offer, and a PSK identity out of range, refused with their alerts."""
        return _client_checks.checked_server_hello(self, clientHello, super()._clientGetServerHello(settings, session, clientHello))

    def _clientGetKeyFromChain(self, certificate: Any, settings: Any, tack_ext: Any = None) -> Iterator[Any]:
        """The server's chain judged as it arrives, before the client sends anything more."""
        return _client_checks.checked_chain(self, super()._clientGetKeyFromChain(certificate, settings, tack_ext))

    def _clientResume(self, session: Any, serverHello: Any, clientRandom: Any, nextProto: Any, settings: Any) -> Iterator[Any]:
        """A declined TLS 1.2 ticket means a full handshake (RFC 5077 §3.4)."""
        yield from super()._clientResume(_client_checks.resumable(self.pk, session, serverHello), serverHello, clientRandom, nextProto, settings)

    def _log_secret(self, label: str, secret: bytearray) -> None:
        if self.pk.on_secret is not None:
            random = self.pk.client_random or bytes(self._clientRandom)
            self.pk.on_secret(label, bytes(random), bytes(secret))

    # tlslite answers heartbeat requests even with use_heartbeat_extension
    # off; a heartbeat record must be an unexpected_message instead.
    @property
    def heartbeat_supported(self) -> bool:
        return False

    @heartbeat_supported.setter
    def heartbeat_supported(self, value: bool) -> None:
        pass

    # -- resumption policy -------------------------------------------------
    # tlslite decrypts every offered ticket (TLS 1.2 tickets and TLS 1.3 PSK
    # identities) here; refusing makes it ignore the offer and do a full
    # handshake, as RFC 5077 §3.2 and RFC 8446 §4.6.1 allow.
    def _tryDecrypt(self, settings: Any, identity: Any = None, ticket: Any = None) -> Any:
        if not self.pk.resumption_allowed:
            return None, None
        # The engine decrypts the ticket to choose (Driver.choose), then
        # tlslite's handshake decrypts it again: the second time takes the
        # first answer (same ticket, keys, cipher and version; both read it only).
        key = (tuple(self.version), bytes(identity.identity if identity is not None else ticket),
               tuple(bytes(k) for k in settings.ticketKeys), settings.ticketCipher)
        if self._pk_decrypted is not None and self._pk_decrypted[0] == key:
            match, payload = self._pk_decrypted[1]
        else:
            match, payload = super()._tryDecrypt(settings, identity, ticket)
            self._pk_decrypted = (key, (match, payload))
        if payload is not None:
            # tlslite resumes with the first ticket it can decrypt: its data.
            restore_session_data(self.pk, getattr(payload, "session_data", None))
        return match, payload

    # -- outgoing messages -------------------------------------------------
    def _acknowledge_server_name(self, msg: Any) -> None:
        """RFC 6066 §3: a server that used the client's server_name SHALL send
        an empty one: in the TLS 1.3 EncryptedExtensions (RFC 8446 §4.2), in
        a TLS 1.2 ServerHello on full handshakes only. tlslite sends none;
        OpenSSL (as nginx runs it) does."""
        if not self.pk.acknowledge_server_name:
            return
        if isinstance(msg, EncryptedExtensions) or (
            isinstance(msg, ServerHello) and self.version <= (3, 3) and not self.pk.resuming
        ):
            if msg.extensions is None:
                msg.extensions = []
            if msg.getExtension(ExtensionType.server_name) is None:
                msg.extensions.append(SNIExtension().create())

    def _queue_message(self, msg: Any) -> Any:
        self._acknowledge_server_name(msg)
        if isinstance(msg, NewSessionTicket):
            # RFC 8446 §4.6.1: "a securely generated, random 32-bit value";
            # tlslite drew it from 1..4096. Not inside the ticket: the server
            # checks no ticket age (it accepts no 0-RTT).
            msg.ticket_age_add = int.from_bytes(cryptomath.getRandomBytes(4), "big")
        if isinstance(msg, CertificateRequest) and self.version > (3, 3):
            # RFC 8446 §4.2.3: without signature_algorithms_cert the (PSS-only)
            # signature_algorithms list would govern certificates too, and a
            # strict client withholds a PKCS#1-signed certificate.
            msg.extensions.append(_policy.certificate_request_extension())
        if (
            isinstance(msg, CertificateRequest)
            and self.version > (3, 3)
            and self.pk.tls13_ca_names
        ):
            # tlslite sends no certificate_authorities in TLS 1.3.
            names = b"".join(len(dn).to_bytes(2, "big") + dn for dn in self.pk.tls13_ca_names)
            body = len(names).to_bytes(2, "big") + names
            msg.extensions.append(TLSExtension(extType=CERTIFICATE_AUTHORITIES).create(bytearray(body)))
        if msg.contentType == ContentType.handshake and self.pk.on_message is not None:
            self._report("sent", msg.write())  # serialised again by tlslite: only when traced
        return super()._queue_message(msg)

    def _sendMsg(self, msg: Any, randomizeFirstBlock: bool = True, update_hashes: bool = True) -> Iterator[Any]:
        self._acknowledge_server_name(msg)
        if msg.contentType == ContentType.alert and msg.description == AlertDescription.close_notify:
            # tlslite answers a close_notify with its own; send only one.
            if self.pk.close_notify_sent:
                return
            self.pk.close_notify_sent = True
        if isinstance(msg, ClientHello) and not self.pk.client_random:
            # A client's key log lines need its random while the handshake
            # runs; tlslite sets _clientRandom only at the end (the lines
            # came out with an empty random).
            self.pk.client_random = bytes(msg.random)
        if update_hashes and msg.contentType == ContentType.handshake and self.pk.on_message is not None:
            self._report("sent", msg.write())
        yield from super()._sendMsg(msg, randomizeFirstBlock, update_hashes)

    def _report(self, direction: str, raw: Any) -> None:
        if self.pk.on_message is not None and raw:
            raw = bytes(raw)
            self.pk.on_message(direction, raw[0], raw)

    def _calcPendingStates(self, cipherSuite: int, masterSecret: bytearray, clientRandom: bytearray, serverRandom: bytearray, implementations: Any) -> Any:
        if self.pk.on_secret is not None:
            self.pk.on_secret("CLIENT_RANDOM", bytes(clientRandom), bytes(masterSecret))
        return super()._calcPendingStates(cipherSuite, masterSecret, clientRandom, serverRandom, implementations)

    def _handle_keyupdate_request(self, request: Any) -> Any:
        self.pk.key_updates.append(bool(request.message_type))
        return super()._handle_keyupdate_request(request)

    # -- incoming records --------------------------------------------------
    def _getNextRecord(self) -> Iterator[Any]:
        """tlslite treats every warning alert as fatal; purekong does not.

        TLS 1.2 warning alerts (and user_canceled in TLS 1.3, the one
        closure alert besides close_notify) are reported and skipped; RFC
        8446 §6 makes every other TLS 1.3 alert an error whatever its level.
        A TLS 1.3 ChangeCipherSpec is checked against ``_policy`` first.
        """
        while True:
            for result in super()._getNextRecord():
                if result in (0, 1):
                    yield result
                else:
                    break
            header, parser = result
            if header.type == ContentType.change_cipher_spec and self.version > (3, 3):
                problem = _policy.tls13_change_cipher_spec_problem(bytes(parser.bytes), self._pk_ccs_seen, self._pk_handshake_done)
                if problem is not None:
                    yield from self._sendError(AlertDescription.unexpected_message, problem)
                self._pk_ccs_seen = True
            if header.type == ContentType.handshake:
                self._warning_run = 0
                if self.pk.on_message is not None:
                    self._report("received", parser.bytes)
            elif header.type == ContentType.alert and self._is_ignorable_warning(parser.bytes):
                self._warning_run += 1
                if self._warning_run >= MAX_WARNING_ALERTS:  # the 5th is fatal, as OpenSSL's MAX_WARN_ALERT_COUNT
                    yield from self._sendError(AlertDescription.unexpected_message, "too many warning alerts")
                self.pk.warning_alerts.append((parser.bytes[0], parser.bytes[1]))
                continue
            else:
                self._warning_run = 0
            yield result
            return

    def _is_ignorable_warning(self, payload: bytearray) -> bool:
        if len(payload) != 2 or payload[0] != AlertLevel.warning:
            return False
        description = payload[1]
        if description == AlertDescription.close_notify:
            return False
        return bool(self.version <= (3, 3) or description == AlertDescription.user_canceled)
