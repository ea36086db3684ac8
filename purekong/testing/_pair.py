"""Two TLS endpoints joined in memory: purekong's connections and the stdlib ``ssl`` module over MemoryBIO.

An endpoint takes bytes with ``receive()``, hands bytes back with
``take()``, and keeps what a test checks: application data received, the
handshake, the key-log secrets it used, the alert it failed with. A
:class:`ConnectionPair` holds the bytes in flight in each direction, so a
test (or a state machine) decides when and how much of them to deliver.
"""

from __future__ import annotations

import functools
import os
import ssl
import tempfile
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable

from cryptography.hazmat.primitives import serialization

from purekong.engine import (
    NEED_DATA,
    PAUSED,
    AlertDescription,
    AlertReceived,
    ClientConfig,
    ClientConnection,
    ClientHelloReceived,
    ClientSession,
    ConnectionClosed,
    DataReceived,
    HandshakeComplete,
    KeyUpdated,
    RemoteProtocolError,
    SecretTrace,
    ServerConfig,
    ServerConnection,
    State,
)

from ._pki import HOST, kit_pki

Trace = Callable[[Any], None]


class PairEndpoint:
    """What both kinds of endpoint keep. ``role`` is ``"client"`` or ``"server"``."""

    kind = "endpoint"

    def __init__(self, role: str) -> None:
        self.role = role
        self.received = bytearray()
        self.secrets: dict[str, bytes] = {}
        #: The fatal alert this endpoint sent (or the error it raised), once it failed.
        self.failure: str | None = None
        self.alert: AlertDescription | None = None
        self.peer_alerts: list[AlertDescription | int] = []
        self.peer_closed = False
        self.closed = False
        self.key_updates_received = 0

    @property
    def name(self) -> str:
        return f"{self.kind} {self.role}"

    @property
    def failed(self) -> bool:
        return self.failure is not None

    def can_send(self) -> bool:
        return self.established and not (self.closed or self.failed or self.peer_closed)

    # subclasses: established, receive, take, send, close, abort, key_update
    @property
    def established(self) -> bool:
        raise NotImplementedError

    def receive(self, data: bytes) -> None:
        raise NotImplementedError

    def take(self) -> bytes:
        raise NotImplementedError

    def send(self, data: bytes) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class PurekongEndpoint(PairEndpoint):
    """A purekong ``ServerConnection`` or ``ClientConnection``; a server proceeds with ``proceed`` kwargs."""

    kind = "purekong"

    def __init__(self, connection: ServerConnection | ClientConnection, secrets: dict[str, bytes], proceed: dict[str, Any] | None = None) -> None:
        super().__init__("server" if isinstance(connection, ServerConnection) else "client")
        self.connection = connection
        self.secrets = secrets  # filled by the connection's tracer
        self.proceed = proceed or {}
        self.handshake: HandshakeComplete | None = None
        #: A server's ClientHelloReceived events (``resumes_session``: no certificate phase).
        self.hellos: list[ClientHelloReceived] = []

    @classmethod
    def server(cls, config: ServerConfig, *, trace: Trace | None = None, proceed: dict[str, Any] | None = None,
               random: Callable[[int], bytes] | None = None) -> "PurekongEndpoint":
        """``random``: the connection's randomness (deterministic when given; see ``ServerConnection``)."""
        secrets: dict[str, bytes] = {}
        return cls(ServerConnection(config, trace=_tracer(secrets, trace), random=random), secrets, proceed)

    @classmethod
    def client(cls, config: ClientConfig, server_name: str | None = HOST, *, session: ClientSession | None = None,
               trace: Trace | None = None, random: Callable[[int], bytes] | None = None) -> "PurekongEndpoint":
        secrets: dict[str, bytes] = {}
        return cls(ClientConnection(config, server_name, session=session, trace=_tracer(secrets, trace), random=random), secrets)

    @property
    def established(self) -> bool:
        return self.connection.state is State.ESTABLISHED

    def receive(self, data: bytes) -> None:
        if self.failed or self.connection.state in (State.CLOSED, State.ERROR):
            return
        try:
            self.connection.receive_data(data)
            self._run()
        except RemoteProtocolError as exc:
            self.failure, self.alert = str(exc), exc.alert

    def _run(self) -> None:
        conn = self.connection
        while True:
            event = conn.next_event()
            if event is NEED_DATA:
                return
            if event is PAUSED:
                assert isinstance(conn, ServerConnection)
                conn.proceed(**self.proceed)
            elif isinstance(event, ClientHelloReceived):
                self.hellos.append(event)
            elif isinstance(event, DataReceived):
                self.received += event.data
            elif isinstance(event, HandshakeComplete):
                self.handshake = event
            elif isinstance(event, KeyUpdated):
                self.key_updates_received += 1
            elif isinstance(event, AlertReceived):
                self.peer_alerts.append(event.description)
            elif isinstance(event, ConnectionClosed):
                self.peer_closed = True
                return

    def take(self) -> bytes:
        return self.connection.data_to_send()

    def send(self, data: bytes) -> None:
        self.connection.send_data(data)

    def close(self) -> None:
        self.closed = True
        self.connection.close()

    def abort(self) -> None:
        self.connection.abort()
        self.failure, self.alert = "aborted by the test", AlertDescription.internal_error

    def key_update(self) -> None:
        self.connection.key_update()

    @property
    def version(self) -> str | None:
        return self.handshake.version if self.handshake else None


class StdlibEndpoint(PairEndpoint):
    """An ``ssl.SSLObject`` (OpenSSL through the stdlib) over two ``MemoryBIO``; its key log feeds ``secrets``."""

    kind = "stdlib"

    def __init__(self, context: ssl.SSLContext, *, server_side: bool, server_hostname: str | None = HOST, session: ssl.SSLSession | None = None) -> None:
        super().__init__("server" if server_side else "client")
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.context = context
        self.keylog = context.keylog_filename
        # A context's key log is shared by its connections: read only what
        # was appended after this one began.
        self._keylog_offset = os.path.getsize(self.keylog) if self.keylog else 0
        self.object = context.wrap_bio(self.incoming, self.outgoing, server_side=server_side,
                                       server_hostname=None if server_side else server_hostname, session=session)
        self._handshake_done = False
        if not server_side:
            self.receive(b"")  # writes the ClientHello

    @classmethod
    def server(cls, *, versions: tuple[str, ...] = ("TLSv1.3", "TLSv1.2"), request_client_certificate: bool = False) -> "StdlibEndpoint":
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        files = kit_pki_files()
        context.load_cert_chain(files["server_chain"], files["server_key"])
        _limit_versions(context, versions)
        if request_client_certificate:
            context.verify_mode = ssl.CERT_OPTIONAL
            context.load_verify_locations(cafile=files["ca"])
        context.keylog_filename = _keylog_path()
        return cls(context, server_side=True)

    @classmethod
    def client(cls, *, versions: tuple[str, ...] = ("TLSv1.3", "TLSv1.2"), session: ssl.SSLSession | None = None,
               context: ssl.SSLContext | None = None) -> "StdlibEndpoint":
        if context is None:
            context = stdlib_client_context(versions)
        return cls(context, server_side=False, session=session)

    @property
    def established(self) -> bool:
        return self._handshake_done

    def receive(self, data: bytes) -> None:
        if self.failed:
            return
        if data:
            self.incoming.write(data)
        try:
            if not self._handshake_done:
                self.object.do_handshake()
                self._handshake_done = True
            while True:
                chunk = self.object.read(65536)
                if not chunk:
                    self.peer_closed = True
                    break
                self.received += chunk
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            pass
        except ssl.SSLZeroReturnError:
            self.peer_closed = True
        except ssl.SSLError as exc:
            self.failure = f"{exc.reason or exc}"
        self._read_keylog()

    def take(self) -> bytes:
        return self.outgoing.read()

    def send(self, data: bytes) -> None:
        self.object.write(data)

    def close(self) -> None:
        self.closed = True
        try:
            self.object.unwrap()
        except (ssl.SSLWantReadError, ssl.SSLError):
            pass

    def _read_keylog(self) -> None:
        if not self.keylog:
            return
        with open(self.keylog) as lines:
            lines.seek(self._keylog_offset)
            for line in lines:
                parts = line.split()
                if len(parts) == 3:
                    self.secrets[parts[0]] = bytes.fromhex(parts[2])

    @property
    def version(self) -> str | None:
        return self.object.version() if self._handshake_done else None


@dataclass(frozen=True)
class Delivery:
    """How a byte stream is cut into ``receive_data()`` calls: at these offsets (mod the length)."""

    cuts: tuple[int, ...] = ()
    byte_by_byte: bool = False

    def split(self, data: bytes) -> list[bytes]:
        if self.byte_by_byte:
            return [data[i : i + 1] for i in range(len(data))]
        points = sorted({c % (len(data) + 1) for c in self.cuts} | {0, len(data)})
        return [data[a:b] for a, b in zip(points, points[1:]) if b > a]

    @property
    def label(self) -> str:
        if self.byte_by_byte:
            return "one byte per receive_data call"
        return "all at once" if not self.cuts else f"cut at offsets {', '.join(map(str, self.cuts))}"


def _tracer(secrets: dict[str, bytes], also: Trace | None) -> Trace:
    def trace(item: Any) -> None:
        if isinstance(item, SecretTrace):
            secrets[item.label] = item.secret
        if also is not None:
            also(item)

    return trace


def _limit_versions(context: ssl.SSLContext, versions: tuple[str, ...]) -> None:
    wanted = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}
    chosen = sorted(wanted[v] for v in versions)
    context.minimum_version, context.maximum_version = chosen[0], chosen[-1]


def stdlib_client_context(versions: tuple[str, ...] = ("TLSv1.3", "TLSv1.2")) -> ssl.SSLContext:
    """A stdlib client context trusting the kit's CA, with a key log of its own."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile=kit_pki_files()["ca"])
    _limit_versions(context, versions)
    context.keylog_filename = _keylog_path()
    return context


def _keylog_path() -> str:
    handle, path = tempfile.mkstemp(prefix="purekong-keylog-", suffix=".txt")
    os.close(handle)
    return path


@functools.lru_cache(maxsize=1)
def kit_pki_files() -> dict[str, str]:
    """The kit's PKI as PEM files (for the stdlib and command-line peers): ca, server_chain/key, client_chain/key."""
    pki = kit_pki()
    directory = tempfile.mkdtemp(prefix="purekong-testing-pki-")

    def write(name: str, data: bytes) -> str:
        path = os.path.join(directory, name)
        with open(path, "wb") as out:
            out.write(data)
        return path

    def key_pem(key: Any) -> bytes:
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())

    def chain_pem(chain: tuple) -> bytes:
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)

    return {
        "ca": write("ca.pem", pki.ca.public_bytes(serialization.Encoding.PEM)),
        "server_chain": write("server.pem", chain_pem(pki.server_ec.chain)),
        "server_key": write("server.key", key_pem(pki.server_ec.private_key)),
        "client_chain": write("client.pem", chain_pem(pki.client.chain)),
        "client_key": write("client.key", key_pem(pki.client.private_key)),
    }


class ConnectionPair:
    """A client and a server endpoint with the bytes in flight between them."""

    def __init__(self, client: PairEndpoint, server: PairEndpoint) -> None:
        self.client, self.server = client, server
        self.in_flight = {"to_server": bytearray(), "to_client": bytearray()}
        self.delivered = Counter[str]()
        self.collect()

    def endpoint(self, side: str) -> PairEndpoint:
        return self.client if side == "client" else self.server

    def collect(self) -> None:
        """Move what each endpoint wrote into the flight towards the other."""
        self.in_flight["to_server"] += self.client.take()
        self.in_flight["to_client"] += self.server.take()

    def deliver(self, direction: str, size: int | None = None) -> int:
        """Hand up to ``size`` bytes (all by default) of one direction's flight to its receiver."""
        self.collect()
        flight = self.in_flight[direction]
        size = len(flight) if size is None else min(size, len(flight))
        if not size:
            return 0
        chunk = bytes(flight[:size])
        del flight[:size]
        self.delivered[direction] += size
        (self.server if direction == "to_server" else self.client).receive(chunk)
        self.collect()
        return size

    def pump(self, rounds: int = 50, delivery: Delivery | None = None) -> None:
        """Deliver everything, both ways, until nothing is in flight.

        With a ``delivery`` each flight is cut into the chunks it describes.
        """
        for _ in range(rounds):
            moved = 0
            for direction in ("to_server", "to_client"):
                self.collect()
                if delivery is None:
                    moved += self.deliver(direction)
                    continue
                for chunk in delivery.split(bytes(self.in_flight[direction])):
                    moved += self.deliver(direction, len(chunk))
            if not moved:
                return
        raise AssertionError(f"the pair did not settle in {rounds} rounds")

    def handshake(self) -> "ConnectionPair":
        self.pump()
        if not (self.client.established and self.server.established):
            raise AssertionError(f"handshake failed: client {self.client.failure or 'waiting'}, server {self.server.failure or 'waiting'}")
        return self

    @property
    def failed(self) -> bool:
        return self.client.failed or self.server.failed


def purekong_pair(server_config: ServerConfig | None = None, client_config: ClientConfig | None = None, *,
                  server_name: str | None = HOST, session: ClientSession | None = None,
                  proceed: dict[str, Any] | None = None) -> ConnectionPair:
    """A purekong client and server joined in memory (the handshake not yet run: call ``.handshake()``)::

        >>> pair = purekong_pair().handshake()
        >>> pair.client.send(b"ping"); pair.pump(); bytes(pair.server.received)
        b'ping'
    """
    from ._pki import kit_client_config, kit_server_config

    server = PurekongEndpoint.server(server_config or kit_server_config(), proceed=proceed)
    client = PurekongEndpoint.client(client_config or kit_client_config(), server_name, session=session)
    return ConnectionPair(client, server)


def release(endpoint: PairEndpoint) -> None:
    """Remove a stdlib server endpoint's key-log file (client contexts may serve a resumption)."""
    if isinstance(endpoint, StdlibEndpoint) and endpoint.keylog and endpoint.role == "server":
        remove_file(endpoint.keylog)


def remove_file(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
