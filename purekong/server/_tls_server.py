"""An asyncio TCP server that runs one sans-IO ``ServerConnection`` per socket.

The engine does no I/O: each accepted socket gets a ``_ServedConnection``,
a :class:`~._streams.TLSStream` (the same pump as ``purekong serve``'s: bytes
to its ``ServerConnection``, events, ``data_to_send()`` back) that acts on
the events in the pump's callbacks, without a coroutine per connection.
Nothing here imports tlslite.

Per connection (see docs/tls-server.md):

- the handshake must finish within ``timeouts.handshake`` seconds;
- afterwards the peer may stay silent at most ``timeouts.idle`` seconds;
- without ``echo``, the HTTP request head (up to the first blank line, ``\\r\\n\\r\\n``
  or ``\\n\\n``) may be at most ``max_request_head`` bytes; the reply is a JSON
  description of the connection, then close_notify;
- with ``echo``, application data is sent back as it arrives;
- after we are done (reply sent, alert sent) the socket is half-closed and
  lingers up to ``LINGER_SECONDS`` so the peer can read everything before the
  socket closes (closing with unread input would reset the connection);
- exactly one log line is written when the connection ends.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
import time
from typing import Callable

from purekong._hostport import format_host_port
from purekong.engine import (
    AlertReceived,
    ClientHelloReceived,
    ConnectionClosed,
    HandshakeComplete,
    KeyLogWriter,
    ProtocolError,
    RemoteProtocolError,
    ServerConnection,
)

from ._inspect import InspectDir, RecordedServerConnection
from ._settings import Limits, TLSServerOptions
from ._streams import TLSStream

#: Seconds a finished connection waits for the peer to close before closing itself.
LINGER_SECONDS = 2.0

# The end of an HTTP request head: an empty line, with or without CRs.
_HEAD_END = re.compile(rb"\r?\n\r?\n")


def response_body(handshake: HandshakeComplete) -> dict:
    """The JSON object the server answers a request with."""
    return {
        "version": handshake.version,
        "cipher": handshake.openssl_cipher,
        "sni": handshake.server_name,
        "alpn": handshake.alpn_protocol,
        "resumed": handshake.resumed,
        "client_cert_chain": handshake.peer_certificates_pem(),
    }


def http_response(handshake: HandshakeComplete) -> bytes:
    body = (json.dumps(response_body(handshake)) + "\n").encode()
    head = (
        "HTTP/1.0 200 OK\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n"
        "\r\n"
    ).encode()
    return head + body


def _safe(value: str | None) -> str:
    """A peer-chosen string as one log token: no spaces, controls or non-ASCII."""
    if not value:
        return "-"
    return "".join(c if 33 <= ord(c) < 127 and c != "\\" else (f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}") for c in value)


def _stderr_log(line: str) -> None:
    try:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):  # stderr closed: logging must never break serving
        pass


class _ServedConnection(TLSStream):
    """One TCP connection of the server: :class:`TLSStream`'s pump, with no
    reader coroutine: the events are acted on as they come (echo, or the
    request head and the JSON reply), and one timer holds the connection's
    one deadline at a time (handshake, then idle, then linger)."""

    def __init__(self, server: "TLSServer") -> None:
        super().__init__(server.limits)
        self._server = server
        self._options = server.options
        self._peer = "?"
        self._head = bytearray()
        self._lingering = False
        self._outcome: str | None = None
        self._alert_received: str | None = None
        self._bytes_in = 0
        self._bytes_out = 0
        self._started = time.monotonic()

    # -- asyncio callbacks ---------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        server = self._server
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self._peer = format_host_port(peer[0], peer[1])
        if server.inspect is None:
            conn = ServerConnection(self._options.config, trace=server.tracer)
        else:
            local = transport.get_extra_info("sockname")
            conn = server.inspect.connection(
                self._options.config,
                (peer[0], peer[1]) if isinstance(peer, tuple) else ("", 0),
                (local[0], local[1]) if isinstance(local, tuple) else ("", 0),
                also_trace=server.tracer,
            )
            conn.capture.title = f"connection from {self._peer}"
        self.start(conn, _proceed)
        server._connections.add(self)
        self._set_deadline(self._loop.time() + self._options.timeouts.handshake)

    def data_received(self, data: bytes) -> None:
        self._bytes_in += len(data)  # also while lingering: drained and discarded
        if self.handshake is not None and not self._closing:
            self._set_deadline(self._loop.time() + self._options.timeouts.idle)
        super().data_received(data)

    def eof_received(self) -> bool:
        self._ended()  # the engine turns EOF into ConnectionClosed or an error
        self._finish("eof")
        return False  # let asyncio close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        server = self._server
        server._connections.discard(self)
        if self._outcome is None:
            self._outcome = "connection lost" + (f" ({exc})" if exc else "")
        self._log()
        if server.inspect is not None and isinstance(self.conn, RecordedServerConnection):
            task = self._loop.create_task(server.inspect.save(self.conn))
            server.saving.add(task)
            task.add_done_callback(server.saving.discard)

    def pause_writing(self) -> None:
        # The peer does not read what we send (echo): stop reading from it.
        super().pause_writing()
        if not self.transport.is_closing():
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        super().resume_writing()
        if not self.transport.is_closing():
            self.transport.resume_reading()

    # -- the pump's events (TLSStream._pump) --------------------------------------
    def _received(self, data: bytes) -> None:
        if self._options.echo:
            self.conn.send_data(data)
        else:
            self._on_request_bytes(data)

    def _established(self, event: HandshakeComplete) -> None:
        self._set_deadline(self._loop.time() + self._options.timeouts.idle)

    def _alerted(self, event: AlertReceived) -> None:
        description = getattr(event.description, "name", event.description)
        self._alert_received = f"{event.level.name} {description}"

    def _ended_tls(self, event: ConnectionClosed) -> None:
        if self.handshake is None:
            outcome = "closed during handshake"
        elif self._options.echo:
            outcome = "ok" if event.clean else "closed without close_notify"
        else:
            outcome = "closed before request" if event.clean else "truncated before request"
        if self._alert_received:
            outcome = f"received alert {self._alert_received}"
        self.conn.close()  # answer close_notify with close_notify (no-op after an alert)
        self._done(outcome)

    def _failed(self, exc: Exception) -> None:
        if isinstance(exc, RemoteProtocolError):
            alert = exc.alert.name if exc.alert is not None and hasattr(exc.alert, "name") else exc.alert
            self._done(f"sent alert {alert}: {exc}" if alert is not None else f"protocol error: {exc}")
        elif isinstance(exc, ProtocolError):
            self._done(f"protocol error: {exc}")
        else:  # an engine bug must only cost this connection
            self._outcome = f"internal error: {exc!r}"
            self._closing = True
            self.transport.abort()

    def _on_request_bytes(self, data: bytes) -> None:
        start = max(0, len(self._head) - 3)
        self._head += data
        match = _HEAD_END.search(self._head, start)
        limit = self._options.max_request_head
        if match is None and len(self._head) <= limit:
            return
        if match is None or match.end() > limit:
            self.conn.close()
            self._done(f"request head larger than {limit} bytes")
            return
        assert self.handshake is not None
        self.conn.send_data(http_response(self.handshake))
        self.conn.close()
        self._done("ok")

    def _flush_now(self) -> None:
        data = self.conn.data_to_send()
        if data and not self.transport.is_closing():
            self._bytes_out += len(data)
            self.transport.write(data)

    # -- ending ------------------------------------------------------------------
    def _done(self, outcome: str) -> None:
        """What the engine queued goes out, then our side is done."""
        self._flush_now()
        self._finish(outcome)

    def _finish(self, outcome: str) -> None:
        """Our side is done: half-close, then linger until the peer closes."""
        if self._closing:
            return
        self._closing = True
        self._outcome = outcome
        transport = self.transport
        if transport.is_closing():
            return
        transport.resume_reading()  # drain whatever the peer still sends
        if transport.can_write_eof():
            try:
                transport.write_eof()
            except OSError:
                transport.abort()
                return
            self._lingering = True
            self._set_deadline(self._loop.time() + LINGER_SECONDS)
        else:
            transport.close()

    def shutdown(self) -> None:
        """The server is stopping: end this connection now."""
        if self._outcome is None:
            self._outcome = "server shutdown"
        self._closing = True
        if not self.transport.is_closing():
            self.transport.close()

    def _on_timer(self) -> None:
        self._timer = None
        if self._loop.time() < self._deadline:
            self._arm(self._deadline)  # the deadline moved since: wait for it
        elif self._lingering:
            self.transport.abort()
        elif self._closing:
            pass
        elif self.handshake is None:
            self._outcome = f"handshake timeout ({self._options.timeouts.handshake:g} s)"
            self._closing = True
            self.transport.abort()
        else:
            try:
                self.conn.close()
                self._flush_now()
            except ProtocolError:
                pass
            self._finish(f"idle timeout ({self._options.timeouts.idle:g} s)")

    def _log(self) -> None:
        hs = self.handshake
        fields = [
            f"peer={self._peer}",
            f"version={hs.version if hs else '-'}",
            f"cipher={hs.openssl_cipher if hs else '-'}",
            f"sni={_safe(hs.server_name) if hs else '-'}",
            f"alpn={_safe(hs.alpn_protocol) if hs else '-'}",
            f"resumed={('yes' if hs.resumed else 'no') if hs else '-'}",
            f"client_cert={('yes' if hs.peer_certificates else 'no') if hs else '-'}",
            f"in={self._bytes_in}",
            f"out={self._bytes_out}",
            f"time={time.monotonic() - self._started:.3f}s",
            f"outcome={json.dumps(self._outcome or 'unknown')}",
        ]
        self._server.log("conn " + " ".join(fields))


def _proceed(conn: ServerConnection, event: ClientHelloReceived) -> None:
    conn.proceed()  # the config's certificates, CA names, reuse, ALPN


class TLSServer:
    """The listening server; use ``start()``, then ``close()``.

    ``run_server()`` wraps both with signal handling, for the command line.
    """

    def __init__(self, options: TLSServerOptions) -> None:
        self.options = options
        self.limits = Limits(timeouts=options.timeouts, max_request_head=options.max_request_head)
        self.log = options.log or _stderr_log
        self.tracer = KeyLogWriter(options.keylog) if options.keylog is not None else None
        self.inspect = InspectDir(options.inspect_dir, log=self.log) if options.inspect_dir is not None else None
        self.saving: set[asyncio.Task[None]] = set()  # --inspect recordings being written
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[_ServedConnection] = set()

    async def start(self, host: str = "127.0.0.1", port: int = 4433) -> tuple[str, int]:
        """Listen; return the address actually bound (``port=0`` picks a free port)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _ServedConnection(self), host, port, reuse_address=True)
        return self.address

    @property
    def address(self) -> tuple[str, int]:
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the server is not listening")
        sockname = self._server.sockets[0].getsockname()
        return sockname[0], sockname[1]

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    async def close(self) -> None:
        """Stop accepting, end every connection, and wait until they are gone."""
        if self._server is not None:
            self._server.close()
        for protocol in list(self._connections):
            protocol.shutdown()
        if self._server is not None:
            await self._server.wait_closed()
        for _ in range(100):  # connection_lost runs on the next loop iterations
            if not self._connections:
                break
            await asyncio.sleep(0.01)
        if self.saving:
            await asyncio.wait(self.saving, timeout=10.0)


def run_server(options: TLSServerOptions, host: str, port: int, *, announce: Callable[[str], None] | None = None) -> int:
    """Serve until SIGINT or SIGTERM; return 0.

    ``announce`` receives the "listening on HOST:PORT" line once the socket
    is bound (the command line prints it on stdout).
    """

    async def main() -> int:
        server = TLSServer(options)
        bound_host, bound_port = await server.start(host, port)
        line = f"listening on {format_host_port(bound_host, bound_port)}"
        server.log(line)
        if announce is not None:
            announce(line)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            await stop.wait()
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
            server.log("shutting down")
            await server.close()
        return 0

    return asyncio.run(main())
