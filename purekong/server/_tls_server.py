"""An asyncio TCP server that runs one sans-IO ``ServerConnection`` per socket.

The engine does no I/O: each accepted socket gets a ``_TLSProtocol`` that
feeds received bytes to its ``ServerConnection``, acts on the events and
writes ``data_to_send()`` back. Nothing here imports tlslite.

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
    NEED_DATA,
    PAUSED,
    AlertReceived,
    ClientHelloReceived,
    ConnectionClosed,
    DataReceived,
    HandshakeComplete,
    KeyLogWriter,
    ProtocolError,
    RemoteProtocolError,
    ServerConnection,
)

from ._inspect import InspectDir, RecordedServerConnection
from ._settings import TLSServerOptions

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


class _TLSProtocol(asyncio.Protocol):
    """One TCP connection: bytes <-> one ServerConnection."""

    def __init__(self, server: "TLSServer") -> None:
        self._server = server
        self._options = server.options
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._conn = ServerConnection(server.options.config, trace=server.tracer) if server.inspect is None else \
            server.inspect.connection(server.options.config, ("", 0), ("", 0), also_trace=server.tracer)
        self._peer = "?"
        self._handshake: HandshakeComplete | None = None
        self._head = bytearray()
        self._timer: asyncio.TimerHandle | None = None
        self._finished = False  # our side is done; input is discarded
        self._outcome: str | None = None
        self._alert_received: str | None = None
        self._logged = False
        self._bytes_in = 0
        self._bytes_out = 0
        self._started = time.monotonic()

    # -- asyncio callbacks ---------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self._peer = format_host_port(peer[0], peer[1])
        if isinstance(self._conn, RecordedServerConnection):
            local = transport.get_extra_info("sockname")
            capture = self._conn.capture
            capture.title = f"connection from {self._peer}"
            capture.client_address = (peer[0], peer[1]) if isinstance(peer, tuple) else ("", 0)
            capture.server_address = (local[0], local[1]) if isinstance(local, tuple) else ("", 0)
        self._server._connections.add(self)
        self._arm(self._options.timeouts.handshake, self._on_handshake_timeout)

    def data_received(self, data: bytes) -> None:
        self._bytes_in += len(data)
        if self._finished:
            return  # lingering: drain and discard
        if self._handshake is not None:
            self._arm(self._options.timeouts.idle, self._on_idle_timeout)
        self._feed(data)

    def eof_received(self) -> bool:
        if not self._finished:
            self._feed(b"")
        if not self._finished:
            self._finish("eof")
        return False  # let asyncio close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        self._server._connections.discard(self)
        if self._outcome is None:
            self._outcome = "connection lost" + (f" ({exc})" if exc else "")
        self._log()
        if self._server.inspect is not None and isinstance(self._conn, RecordedServerConnection):
            task = self._loop.create_task(self._server.inspect.save(self._conn))
            self._server.saving.add(task)
            task.add_done_callback(self._server.saving.discard)

    def pause_writing(self) -> None:
        # The peer does not read what we send (echo): stop reading from it.
        if self._transport is not None and not self._transport.is_closing():
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.resume_reading()

    # -- the engine pump -------------------------------------------------------
    def _feed(self, data: bytes) -> None:
        conn = self._conn
        try:
            conn.receive_data(data)
            while not self._finished:
                event = conn.next_event()
                if event is NEED_DATA or event is PAUSED:
                    break
                self._on_event(event)
            self._flush()
        except RemoteProtocolError as exc:
            self._flush()  # the fatal alert
            alert = exc.alert.name if exc.alert is not None and hasattr(exc.alert, "name") else exc.alert
            self._finish(f"sent alert {alert}: {exc}" if alert is not None else f"protocol error: {exc}")
        except ProtocolError as exc:
            self._flush()
            self._finish(f"protocol error: {exc}")
        except Exception as exc:  # an engine bug must only cost this connection
            self._outcome = f"internal error: {exc!r}"
            self._finished = True
            if self._transport is not None:
                self._transport.abort()

    def _on_event(self, event: object) -> None:
        conn = self._conn
        if isinstance(event, ClientHelloReceived):
            conn.proceed()  # the config's certificates, CA names, reuse, ALPN
        elif isinstance(event, HandshakeComplete):
            self._handshake = event
            self._arm(self._options.timeouts.idle, self._on_idle_timeout)
        elif isinstance(event, DataReceived):
            if self._options.echo:
                conn.send_data(event.data)
            else:
                self._on_request_bytes(event.data)
        elif isinstance(event, AlertReceived):
            description = getattr(event.description, "name", event.description)
            self._alert_received = f"{event.level.name} {description}"
        elif isinstance(event, ConnectionClosed):
            if self._handshake is None:
                outcome = "closed during handshake"
            elif self._options.echo:
                outcome = "ok" if event.clean else "closed without close_notify"
            else:
                outcome = "closed before request" if event.clean else "truncated before request"
            if self._alert_received:
                outcome = f"received alert {self._alert_received}"
            conn.close()  # answer close_notify with close_notify (no-op after an alert)
            self._flush()
            self._finish(outcome)

    def _on_request_bytes(self, data: bytes) -> None:
        start = max(0, len(self._head) - 3)
        self._head += data
        match = _HEAD_END.search(self._head, start)
        if match is None:
            if len(self._head) > self._options.max_request_head:
                self._conn.close()
                self._flush()
                self._finish(f"request head larger than {self._options.max_request_head} bytes")
            return
        if match.end() > self._options.max_request_head:
            self._conn.close()
            self._flush()
            self._finish(f"request head larger than {self._options.max_request_head} bytes")
            return
        assert self._handshake is not None
        self._conn.send_data(http_response(self._handshake))
        self._conn.close()
        self._flush()
        self._finish("ok")

    def _flush(self) -> None:
        data = self._conn.data_to_send()
        if data and self._transport is not None and not self._transport.is_closing():
            self._bytes_out += len(data)
            self._transport.write(data)

    # -- ending ------------------------------------------------------------------
    def _finish(self, outcome: str) -> None:
        """Our side is done: half-close, then linger until the peer closes."""
        if self._finished:
            return
        self._finished = True
        self._outcome = outcome
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        transport.resume_reading()  # drain whatever the peer still sends
        if transport.can_write_eof():
            try:
                transport.write_eof()
            except OSError:
                transport.abort()
                return
            self._arm(LINGER_SECONDS, self._on_linger_timeout)
        else:
            transport.close()

    def shutdown(self) -> None:
        """The server is stopping: end this connection now."""
        if self._outcome is None:
            self._outcome = "server shutdown"
        self._finished = True
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()

    def _on_handshake_timeout(self) -> None:
        self._timer = None
        if self._handshake is None and not self._finished:
            self._outcome = f"handshake timeout ({self._options.timeouts.handshake:g} s)"
            self._finished = True
            if self._transport is not None:
                self._transport.abort()

    def _on_idle_timeout(self) -> None:
        self._timer = None
        if not self._finished:
            try:
                self._conn.close()
                self._flush()
            except ProtocolError:
                pass
            self._finish(f"idle timeout ({self._options.timeouts.idle:g} s)")

    def _on_linger_timeout(self) -> None:
        self._timer = None
        if self._transport is not None:
            self._transport.abort()

    def _arm(self, delay: float, callback: Callable[[], None]) -> None:
        self._cancel_timer()
        self._timer = self._loop.call_later(delay, callback)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _log(self) -> None:
        if self._logged:
            return
        self._logged = True
        hs = self._handshake
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


class TLSServer:
    """The listening server; use ``start()``, then ``close()``.

    ``run_server()`` wraps both with signal handling, for the command line.
    """

    def __init__(self, options: TLSServerOptions) -> None:
        self.options = options
        self.log = options.log or _stderr_log
        self.tracer = KeyLogWriter(options.keylog) if options.keylog is not None else None
        self.inspect = InspectDir(options.inspect_dir, log=self.log) if options.inspect_dir is not None else None
        self.saving: set[asyncio.Task[None]] = set()  # --inspect recordings being written
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[_TLSProtocol] = set()

    async def start(self, host: str = "127.0.0.1", port: int = 4433) -> tuple[str, int]:
        """Listen; return the address actually bound (``port=0`` picks a free port)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _TLSProtocol(self), host, port, reuse_address=True)
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
