"""The data the PDK reads and writes: plain dataclasses, no behaviour.

These are the seams: the engine fills :class:`ClientHelloInfo` and
:class:`TLSInfo` and applies :class:`HandshakeRequests`; the HTTP server fills
:class:`ConnectionInfo` and :class:`Request` and sends :class:`Response` or
:class:`UpstreamRequest`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography import x509

# Headers travel as ordered (name, value) pairs, names in the client's case, as
# h11 gives them (after decoding).  Lookups are case-insensitive.
Headers = list[tuple[str, str]]


@dataclass
class HandshakeRequests:
    """What certificate/client_hello-phase plugins asked of this handshake.

    Mutable: the PDK writes it, the engine reads it once the phase is over.
    """

    # Send a CertificateRequest; the handshake continues whatever the client sends.
    request_client_certificate: bool = False
    # DN hints (in this order) and the trust store for client_verify.  None: no
    # DN list, empty store.  A later call with CAs replaces; one with None keeps.
    ca_certificates: list[x509.Certificate] | None = None
    # No session ticket, no session-cache entry for this connection.
    disable_session_reuse: bool = False
    # Kong 3.9: do not select h2 by ALPN on this connection.
    disable_http2_alpn: bool = False


@dataclass(frozen=True)
class ClientHelloInfo:
    """What is known when the certificate/client_hello phases run."""

    server_name: str | None = None
    client_ip: str = "127.0.0.1"
    client_port: int = 0
    server_port: int = 443
    alpn_protocols: tuple[str, ...] = ()


@dataclass(frozen=True)
class TLSInfo:
    """The connection facts later phases read (nginx's ``$ssl_*`` variables)."""

    version: str | None = None  # "TLSv1.2"/"TLSv1.3"; None on plain HTTP
    cipher: str | None = None  # OpenSSL-style name, as $ssl_cipher
    client_verify: str = "NONE"  # $ssl_client_verify
    client_chain_pem: str | None = None  # leaf first; None when no cert or resumed
    server_name: str | None = None  # $ssl_server_name

    @property
    def is_tls(self) -> bool:
        return self.version is not None


PLAIN_HTTP = TLSInfo()


@dataclass(frozen=True)
class ConnectionInfo:
    """One client connection, shared by all its requests."""

    tls: TLSInfo = PLAIN_HTTP
    client_ip: str = "127.0.0.1"
    client_port: int = 0
    server_port: int = 80


@dataclass
class Request:
    """A client request as received (the body already read in full)."""

    method: str = "GET"
    target: str = "/"  # path plus optional "?query", as on the request line
    headers: Headers = field(default_factory=list)
    body: bytes = b""
    http_version: str = "1.1"
    # Set by the server on routing; what kong.router returns (plain dicts).
    route: dict | None = None
    service: dict | None = None
    start_time: float | None = None  # seconds since the epoch; None: now
    # The path prefix the route stripped (X-Forwarded-Prefix upstream); None: none.
    forwarded_prefix: str | None = None


@dataclass
class Response:
    """A response: from the upstream, or the one to send to the client."""

    status: int = 200
    headers: Headers = field(default_factory=list)
    #: The body; a streamed one went to the client as it arrived, and by the
    #: log phase only its size is known.
    body: "bytes | StreamedBody" = b""

    @property
    def size(self) -> int:
        """The body's length in bytes (what ``kong.log.serialize`` reports)."""
        return self.body.size if isinstance(self.body, StreamedBody) else len(self.body)


@dataclass(frozen=True)
class StreamedBody:
    """A response body that was streamed to the client: gone, but counted."""

    size: int


@dataclass
class UpstreamRequest:
    """The request to proxy, after plugins' ``kong.service.request`` edits."""

    method: str
    target: str
    headers: Headers
    body: bytes
    scheme: str | None = None  # set by kong.service.request.set_scheme
    # kong.service.set_target: connect here instead of the service's host/port.
    target_host: str | None = None
    target_port: int | None = None
    # kong.service.set_timeouts, in milliseconds as in Kong; None: the service's.
    connect_timeout: int | None = None
    write_timeout: int | None = None
    read_timeout: int | None = None
    # kong.service.set_retries; None: the service's.
    retries: int | None = None
    # kong.service.set_tls_verify / set_tls_verify_depth; None: the service's.
    tls_verify: bool | None = None
    tls_verify_depth: int | None = None


@dataclass
class WorkerStatistics:
    """nginx's stub_status counters for one worker (``kong.nginx.get_statistics``).

    The server updates them; the PDK only reads them.
    """

    connections_active: int = 0
    connections_reading: int = 0
    connections_writing: int = 0
    connections_waiting: int = 0  # computed by as_table()
    connections_accepted: int = 0
    connections_handled: int = 0
    total_requests: int = 0

    def as_table(self) -> dict[str, int]:
        table = dict(self.__dict__)
        # nginx: the idle keep-alive connections are the active ones neither
        # reading a request head nor writing a response.
        table["connections_waiting"] = max(self.connections_active - self.connections_reading - self.connections_writing, 0)
        return table


#: This worker process's counters.
WORKER_STATISTICS = WorkerStatistics()
