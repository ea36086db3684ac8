"""What a connection reports to an observer: handshake messages and secrets.

For people inspecting handshakes: pass ``trace=`` to a connection and every
handshake message (as it appears on the wire, before encryption) and every
secret (with its NSS key-log label, or a lowercase name for the (EC)DHE
shared secret no key log carries) is handed to the callable, in order.
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


Trace = HandshakeMessageTrace | SecretTrace | CertificatePhaseTrace
Tracer = Callable[[Trace], None]


class KeyLogWriter:
    """A tracer that appends NSS key-log lines (SSLKEYLOGFILE format) to a file."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def __call__(self, trace: Trace) -> None:
        if isinstance(trace, SecretTrace) and trace.in_keylog:
            self._stream.write(trace.keylog_line() + "\n")
            self._stream.flush()
