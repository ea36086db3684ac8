"""What a connection reports to an observer: messages, secrets, records, decisions.

For people inspecting handshakes: pass ``trace=`` to a connection and every
handshake message (as it appears on the wire, before encryption), every
secret (with its NSS key-log label, or a lowercase name for the (EC)DHE
shared secret no key log carries), every record in and out (raw, with its
epoch, sequence number, nonce, additional data, tag and plaintext) and every
decision with its reason (version, suite, group, signature scheme,
certificate, HelloRetryRequest, resumption, the check a peer message failed)
is handed to the callable, in order. Untraced, none of it is built: each
hook is one ``if`` on the tracer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, TextIO

HANDSHAKE_TYPES = {
    0: "hello_request",
    1: "client_hello",
    2: "server_hello",
    4: "new_session_ticket",
    5: "end_of_early_data",
    8: "encrypted_extensions",
    11: "certificate",
    12: "server_key_exchange",
    13: "certificate_request",
    14: "server_hello_done",
    15: "certificate_verify",
    16: "client_key_exchange",
    20: "finished",
    24: "key_update",
    25: "compressed_certificate",
    254: "message_hash",
}


@dataclass(frozen=True)
class HandshakeMessageTrace:
    direction: str  # "sent" or "received"
    msg_type: int
    raw: bytes = field(repr=False)  # handshake header included

    @property
    def name(self) -> str:
        return HANDSHAKE_TYPES.get(self.msg_type, f"unknown({self.msg_type})")


@dataclass(frozen=True)
class SecretTrace:
    """A secret of the key schedule.

    ``label`` is the NSS key-log label (``"CLIENT_HANDSHAKE_TRAFFIC_SECRET"``,
    ``"CLIENT_RANDOM"`` for the TLS 1.2 master secret, ...) for the values a
    key log carries, and a lowercase name for the others:
    ``"ecdhe_shared_secret"`` is the (EC)DHE shared secret (in TLS 1.2 the
    pre-master secret), from which ``purekong.inspect`` recomputes the whole
    key schedule.
    """

    label: str
    client_random: bytes
    secret: bytes = field(repr=False)

    @property
    def in_keylog(self) -> bool:
        """Whether an NSS key log (SSLKEYLOGFILE) has a line for it."""
        return self.label.isupper()

    def keylog_line(self) -> str:
        return f"{self.label} {self.client_random.hex()} {self.secret.hex()}"


@dataclass(frozen=True)
class CertificatePhaseTrace:
    """What the server application chose at ``proceed()`` (Kong's certificate phase).

    Reported once per handshake by a traced ``ServerConnection``; ``resumed``
    means the ClientHello resumed a session, so only ``alpn_protocols``
    applied. Certificates and CA names are DER, chains leaf first, in the
    order given (the first chain the client can use is sent).
    """

    certificate_chains: tuple[tuple[bytes, ...], ...]
    request_client_certificate: bool
    client_ca_names: tuple[bytes, ...]
    session_reuse: bool
    alpn_protocols: tuple[str, ...]
    server_name: str | None
    resumed: bool = False


@dataclass(frozen=True)
class RecordTrace:
    """One record as this side sent or received it (RFC 8446 §5, RFC 5246 §6.2).

    ``raw`` is the whole record, header included, as on the wire;
    ``outer_type`` its header's type, ``inner_type`` the real one (TLS 1.3
    hides it inside, RFC 8446 §5.2), ``plaintext`` the content without the
    type byte and ``padding`` zeros. ``epoch`` is ``"plaintext"``,
    ``"handshake"``, ``"application"``, then ``"application_1"``... after
    each KeyUpdate. For a protected record ``seq``, ``nonce``,
    ``additional_data`` and ``tag`` are the AEAD's inputs and tag; for an
    unprotected one they are None.
    """

    direction: str  # "sent" or "received"
    epoch: str
    raw: bytes = field(repr=False)
    outer_type: int
    inner_type: int
    plaintext: bytes = field(repr=False)
    padding: int = 0
    seq: int | None = None
    nonce: bytes | None = field(default=None, repr=False)
    additional_data: bytes | None = field(default=None, repr=False)
    tag: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class DecisionTrace:
    """Something this side decided, and why.

    ``topic`` is ``"version"``, ``"cipher_suite"``, ``"group"``,
    ``"signature_scheme"``, ``"certificate"``, ``"hello_retry_request"``,
    ``"resumption"`` or ``"failed_check"``; ``what`` the choice, ``why`` the
    reason with its rule, ``rfc`` the section, ``details`` the inputs
    (the client's lists, the server's preferences, the error).
    """

    topic: str
    what: str
    why: str
    rfc: str = ""
    details: dict[str, object] = field(default_factory=dict, hash=False)


Trace = HandshakeMessageTrace | SecretTrace | CertificatePhaseTrace | RecordTrace | DecisionTrace
Tracer = Callable[[Trace], None]


class KeyLogWriter:
    """A tracer that appends NSS key-log lines (SSLKEYLOGFILE format) to a file."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def __call__(self, trace: Trace) -> None:
        if isinstance(trace, SecretTrace) and trace.in_keylog:
            self._stream.write(trace.keylog_line() + "\n")
            self._stream.flush()
