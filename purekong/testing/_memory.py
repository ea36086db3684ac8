"""Two TLS endpoints joined in memory: :func:`handshake_in_memory`.

Hand it a client and a server; it delivers the bytes each one sends to the
other until both handshakes are done and nothing is left in flight, or one
side fails, and tells you what happened::

    from purekong.engine import ClientConfig, ClientConnection, ServerConfig, ServerConnection
    from purekong.testing import handshake_in_memory

    def test_tls12_only_server(server_certificate):
        server = ServerConnection(ServerConfig(certificates=(server_certificate,), versions=("TLSv1.2",)))
        client = ClientConnection(ClientConfig(verify_server=False), "localhost")
        result = handshake_in_memory(client, server)
        assert result.completed, result.error
        assert result.server_handshake.version == "TLSv1.2"

The server pauses at the ClientHello (Kong's certificate phase).
``on_client_hello(server, event)`` is called there and must resume the
handshake with ``server.proceed(...)`` or end it with ``server.abort(...)``;
the default proceeds with the server's configuration.
:meth:`purekong.runner.ConnectionPhases.on_client_hello` fits as it is.
``observe_client_to_server`` and ``observe_server_to_client`` see every
chunk of bytes as it is delivered (a recorder, a dissector, a byte count).

The loop, one *flight* at a time: the client runs until it needs data, its
bytes go to the server, the server runs until it needs data, its bytes go to
the client.  Events are collected per side.  An endpoint that
raises :class:`~purekong.engine.ProtocolError` has failed: its alert is still
delivered, so the other side's events show what it received, and the run
stops.  A flight that moves no bytes ends the run too (for example a hook
that neither proceeded nor aborted): ``completed`` is then false with no
error.

Any object with ``receive_data``, ``data_to_send``, ``next_event`` and
``handshake`` can stand on either side; :class:`OpenSSLClient` and
:class:`OpenSSLServer` are stdlib ``ssl`` (OpenSSL) peers over memory BIOs.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from purekong.engine import (
    NEED_DATA,
    PAUSED,
    ClientHelloReceived,
    ConnectionClosed,
    DataReceived,
    HandshakeComplete,
    ProtocolError,
    RemoteProtocolError,
    ServerConnection,
    State,
)

__all__ = ["SansIOPeer", "InMemoryHandshake", "OpenSSLClient", "OpenSSLServer", "handshake_in_memory"]


class SansIOPeer(Protocol):
    """What :func:`handshake_in_memory` needs of each side (purekong's
    ``ClientConnection`` and ``ServerConnection`` are endpoints)."""

    def receive_data(self, data: bytes) -> None: ...

    def data_to_send(self) -> bytes: ...

    def next_event(self) -> object: ...

    @property
    def handshake(self) -> object | None:
        """Not None once this side's handshake is done."""


ClientHelloHook = Callable[[ServerConnection, ClientHelloReceived], object]
ByteObserver = Callable[[bytes], object]


def _proceed(server: ServerConnection, event: ClientHelloReceived) -> None:
    server.proceed()


@dataclass(frozen=True)
class InMemoryHandshake:
    """What happened in one :func:`handshake_in_memory` run."""

    #: Every event each side returned, in order (``NEED_DATA``/``PAUSED`` left out).
    client_events: tuple[object, ...]
    server_events: tuple[object, ...]
    #: What ``next_event`` raised on that side, if it failed.
    client_error: ProtocolError | None
    server_error: ProtocolError | None
    #: The ClientHello hook ended the handshake (``server.abort()``).
    aborted: bool
    #: Both handshakes are done and neither side failed.
    completed: bool
    #: Flights run (one flight: the client's bytes to the server, then the server's back).
    flights: int

    @property
    def error(self) -> ProtocolError | None:
        """The first side's error (the server's if both failed)."""
        return self.server_error or self.client_error

    @property
    def client_handshake(self) -> HandshakeComplete | None:
        return _first_handshake(self.client_events)

    @property
    def server_handshake(self) -> HandshakeComplete | None:
        return _first_handshake(self.server_events)

    @property
    def client_hellos(self) -> tuple[ClientHelloReceived, ...]:
        """The ClientHellos the server paused at."""
        return tuple(e for e in self.server_events if isinstance(e, ClientHelloReceived))


def _first_handshake(events: tuple[object, ...]) -> HandshakeComplete | None:
    return next((e for e in events if isinstance(e, HandshakeComplete)), None)


class _Side:
    """One endpoint as the loop sees it: its events so far and whether it failed."""

    def __init__(self, endpoint: SansIOPeer, observe: ByteObserver | None) -> None:
        self.endpoint = endpoint
        self.observe = observe
        self.events: list[object] = []
        self.error: ProtocolError | None = None
        self.aborted = False

    @property
    def failed(self) -> bool:
        return self.error is not None or self.aborted

    def send_to(self, peer: _Side) -> int:
        """Deliver what this side has to send; the number of bytes moved."""
        data = self.endpoint.data_to_send()
        if data:
            if self.observe is not None:
                self.observe(data)
            if not peer.failed:
                peer.endpoint.receive_data(data)
        return len(data)

    def run(self, on_client_hello: ClientHelloHook) -> None:
        """Take events until the endpoint needs data (or pauses, or fails)."""
        if self.failed:
            return
        try:
            while (event := self.endpoint.next_event()) is not NEED_DATA and event is not PAUSED:
                self.events.append(event)
                if isinstance(event, ClientHelloReceived) and isinstance(self.endpoint, ServerConnection):
                    on_client_hello(self.endpoint, event)
                    if self.endpoint.state is State.ERROR:
                        self.aborted = True
                        return
        except ProtocolError as exc:
            self.error = exc


def handshake_in_memory(
    client: SansIOPeer,
    server: SansIOPeer,
    *,
    on_client_hello: ClientHelloHook = _proceed,
    observe_client_to_server: ByteObserver | None = None,
    observe_server_to_client: ByteObserver | None = None,
    max_flights: int = 32,
) -> InMemoryHandshake:
    """Run ``client`` and ``server`` against each other in memory (see the module's docs)."""
    client_side, server_side = _Side(client, observe_client_to_server), _Side(server, observe_server_to_client)
    flights = 0
    while flights < max_flights:
        flights += 1
        client_side.run(on_client_hello)
        moved = client_side.send_to(server_side)
        server_side.run(on_client_hello)
        moved += server_side.send_to(client_side)
        if client_side.failed or server_side.failed:
            # Let the peer read the failing side's alert.
            client_side.run(on_client_hello)
            client_side.send_to(server_side)
            server_side.run(on_client_hello)
            break
        if not moved:
            break
    failed = client_side.failed or server_side.failed
    return InMemoryHandshake(
        client_events=tuple(client_side.events),
        server_events=tuple(server_side.events),
        client_error=client_side.error,
        server_error=server_side.error,
        aborted=server_side.aborted,
        completed=not failed and client.handshake is not None and server.handshake is not None,
        flights=flights,
    )


class _OpenSSLEndpoint:
    """An ``ssl.SSLObject`` over memory BIOs, as an :class:`SansIOPeer`.

    ``ssl_object`` is the ``ssl.SSLObject``: after the handshake use it as
    usual (``version()``, ``session``, ``write``/``read`` with the BIOs pumped
    by ``receive_data``/``data_to_send``).  Once its handshake is done
    ``next_event`` reads what arrives, so a TLS 1.3 client takes in its
    NewSessionTickets; application data comes out as ``DataReceived``.
    """

    def __init__(self, context: ssl.SSLContext, *, server_side: bool, server_name: str | None = None,
                 session: ssl.SSLSession | None = None) -> None:
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.ssl_object = context.wrap_bio(self.incoming, self.outgoing, server_side=server_side,
                                           server_hostname=server_name, session=session)
        self._done = False
        self._closed = False

    @property
    def handshake(self) -> ssl.SSLObject | None:
        """The ``SSLObject`` once its handshake is done."""
        return self.ssl_object if self._done else None

    def receive_data(self, data: bytes) -> None:
        if data:
            self.incoming.write(data)
        else:
            self.incoming.write_eof()

    def data_to_send(self) -> bytes:
        return self.outgoing.read()

    def next_event(self) -> Any:
        if self._closed:
            return NEED_DATA
        try:
            if not self._done:
                self.ssl_object.do_handshake()
                self._done = True
            data = self.ssl_object.read(65536)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return NEED_DATA
        except ssl.SSLZeroReturnError:
            self._closed = True
            return ConnectionClosed(clean=True)
        except ssl.SSLError as exc:
            # OpenSSL has queued its alert (if any) in the outgoing BIO.
            self._closed = True
            raise RemoteProtocolError(f"OpenSSL: {exc}") from exc
        return DataReceived(data) if data else NEED_DATA


class OpenSSLClient(_OpenSSLEndpoint):
    """A stdlib ``ssl`` (OpenSSL) client, to run against a purekong server."""

    def __init__(self, context: ssl.SSLContext, server_name: str | None = "localhost",
                 *, session: ssl.SSLSession | None = None) -> None:
        super().__init__(context, server_side=False, server_name=server_name, session=session)


class OpenSSLServer(_OpenSSLEndpoint):
    """A stdlib ``ssl`` (OpenSSL) server, to run a purekong client against."""

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__(context, server_side=True)
