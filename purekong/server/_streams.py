"""Byte streams for one client connection: plain TCP, or TLS on the engine.

Each stream is the connection's ``asyncio.Protocol``: no StreamReader or
StreamWriter between the socket and the protocol on top (HTTP/1.1 in
:mod:`._http`, HTTP/2, WebSockets), which never sees TLS.

* Reading: :class:`PlainStream` buffers what arrives; :class:`TLSStream`
  hands the records to its sans-IO ``ServerConnection`` in ``data_received``
  (``receive_data``, ``next_event`` until ``NEED_DATA``, ``data_to_send``
  written back) and buffers the plaintext. A reader waits on a future only
  when nothing is buffered; past ``PAUSE_AT`` buffered bytes the socket stops
  being read until the reader catches up.
* ``receive()`` (``b""`` at the end) waits without a deadline;
  ``receive_by(deadline)`` (None once the loop time passes it) is what
  deadlines are made of. The connection has one timer for them: a
  ``loop.call_at`` handle that, when it fires before the current deadline
  (the deadline moved later since it was armed), is armed again for it. So
  moving a deadline per read costs a float, not a timer.
* Writing: ``send()`` writes straight to the transport; it waits only when
  the transport paused writing (its buffer over the high-water mark), for at
  most the client timeout.
* ``close()`` (close_notify, then FIN once the buffer is out, at most a
  second) and ``abort()``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable, Union

from purekong.engine import (
    NEED_DATA,
    PAUSED,
    AlertReceived,
    ClientHelloReceived,
    ConnectionClosed,
    DataReceived,
    HandshakeComplete,
    KeyUpdated,
    ProtocolError,
    ServerConnection,
)

from ._settings import Limits

__all__ = ["ClientGone", "HandshakeFailed", "PlainStream", "Stream", "TLSStream", "open_stream"]

#: At most this much per ``receive()`` (what a StreamReader read gave before).
READ_SIZE = 65536
#: Buffered, unread bytes past which the socket is no longer read.
PAUSE_AT = 2 * READ_SIZE


class ClientGone(Exception):
    """The client closed, reset or stalled: nothing more can be sent to it."""


class HandshakeFailed(Exception):
    pass


_log = logging.getLogger("purekong.serve")


class _SocketStream(asyncio.Protocol):
    """What both streams share: the transport, the read buffer and its
    waiter, the one deadline timer, write flow control and closing.

    ``on_open(stream)`` runs in ``connection_made``, before any data arrives.
    """

    tls = False

    def __init__(self, limits: Limits, on_open: Callable[[Any], object] | None = None) -> None:
        self.limits = limits
        self.transport: asyncio.Transport = None  # type: ignore[assignment]  # set by connection_made
        self._on_open = on_open
        self._loop = asyncio.get_running_loop()
        self._chunks: list[bytes] = []  # received, not yet read
        self._buffered = 0
        self._reading_paused = False
        self._eof = False  # nothing more will arrive
        self._lost = False  # connection_lost ran
        self._waiter: asyncio.Future[bool] | None = None  # a reader waiting for data
        self._deadline = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._writing_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._closed_waiter: asyncio.Future[None] | None = None

    # -- asyncio.Protocol --------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if self._on_open is not None:
            self._on_open(self)

    def eof_received(self) -> bool:
        self._ended()
        return True  # half-open: the reply can still go out

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._ended()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for waiter in (self._drain_waiter, self._closed_waiter):
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _ended(self) -> None:
        """The peer's side ended (EOF or reset)."""
        self._eof = True
        self._wake()

    # -- reading -----------------------------------------------------------------------
    def _buffer(self, data: bytes) -> None:
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > PAUSE_AT and not self._reading_paused and not self._lost:
            self._reading_paused = True
            self.transport.pause_reading()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(True)

    def _take(self) -> bytes:
        chunks = self._chunks
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        if len(data) > READ_SIZE:
            self._chunks = [data[READ_SIZE:]]
            data = data[:READ_SIZE]
        else:
            self._chunks = []
        self._buffered -= len(data)
        if self._reading_paused and self._buffered <= PAUSE_AT // 2:
            self._reading_paused = False
            self.transport.resume_reading()
        return data

    async def receive(self) -> bytes:
        """The next bytes; ``b""`` once the client's side ended."""
        while True:
            if self._chunks:
                return self._take()
            if self._eof:
                return b""
            await self._wait(None)

    async def receive_by(self, deadline: float) -> bytes | None:
        """The next bytes (``b""`` at the end), or None once the loop time passes ``deadline``."""
        while True:
            if self._chunks:
                return self._take()
            if self._eof:
                return b""
            if not await self._wait(deadline):
                return None

    async def _wait(self, deadline: float | None) -> bool:
        """Until ``_wake`` (True) or ``deadline`` (False); one reader at a time."""
        waiter = self._waiter = self._loop.create_future()
        if deadline is None:
            self._deadline = float("inf")
        else:
            self._set_deadline(deadline)
        try:
            return await waiter
        finally:
            if self._waiter is waiter:
                self._waiter = None

    def _set_deadline(self, when: float) -> None:
        """Make ``when`` the deadline; the timer is re-armed only when it would fire too late."""
        self._deadline = when
        if self._timer is None or self._timer_at > when:
            self._arm(when)

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = when
        self._timer = self._loop.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        waiter = self._waiter
        if waiter is None or waiter.done() or self._deadline == float("inf"):
            return  # nobody waits with a deadline: the next wait arms it again
        if self._loop.time() < self._deadline:
            self._arm(self._deadline)  # the deadline moved since: wait for it
        else:
            waiter.set_result(False)

    # -- writing -----------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        if self.transport.is_closing():
            raise ClientGone("connection closed")
        self.transport.write(data)

    async def _drain(self) -> None:
        """Wait (within the client timeout) until the transport takes writes again."""
        timeout = self.limits.timeouts.client
        while self._writing_paused and not self._lost:
            waiter = self._drain_waiter = self._loop.create_future()
            try:
                async with asyncio.timeout(timeout):
                    await waiter
            except TimeoutError:
                raise ClientGone(f"client did not read for {timeout:g} s") from None
            finally:
                self._drain_waiter = None
        if self._lost:
            raise ClientGone("Connection lost")

    async def close(self) -> None:
        """Close politely (FIN once the buffer is out), but never wait more than a second for it."""
        transport = self.transport
        if transport.is_closing():
            transport.abort()
            return
        transport.close()
        if self._lost or not transport.get_write_buffer_size():
            return  # nothing left to flush: the socket closes on the loop's next turn
        waiter = self._closed_waiter = self._loop.create_future()
        try:
            async with asyncio.timeout(1.0):
                await waiter
        except TimeoutError:
            transport.abort()

    def abort(self) -> None:
        self.transport.abort()


class PlainStream(_SocketStream):
    """Plain TCP."""

    def data_received(self, data: bytes) -> None:
        self._buffer(data)
        self._wake()

    async def send(self, data: bytes) -> None:
        self._write(data)
        if self._writing_paused:
            await self._drain()


class TLSStream(_SocketStream):
    """TLS over TCP with purekong's engine.

    ``start(conn, on_client_hello)`` (in ``on_open``, before any data) gives
    it its engine connection. ``on_client_hello(conn, event)`` runs at the
    ClientHello pause (Kong's client_hello and certificate phases,
    certificate choice by SNI) and must call ``conn.proceed()`` or ``conn.abort()``.

    What the pump does with each event is a method, so that a server with
    no reader coroutine (``purekong tls-server``, :mod:`._tls_server`) acts
    on the events itself: ``_received`` (plaintext; buffered here),
    ``_established`` (HandshakeComplete), ``_alerted`` (AlertReceived),
    ``_ended_tls`` (ConnectionClosed) and ``_failed`` (the exception that
    stopped the pump, called inside its ``except``). Once ``_closing`` is set
    the pump stops: nothing after it is read.
    """

    tls = True

    def __init__(self, limits: Limits, on_open: Callable[["TLSStream"], object] | None = None) -> None:
        super().__init__(limits, on_open)
        self.conn: ServerConnection = None  # type: ignore[assignment]  # set by start()
        self._on_client_hello: Callable[[ServerConnection, ClientHelloReceived], object] | None = None
        self.handshake: HandshakeComplete | None = None
        self._closed = False  # the TLS session ended (close_notify, alert, EOF or error)
        self._closing = False  # close() ran: what arrives after it is not read
        self._failure: Exception | None = None  # why the handshake failed

    def start(self, conn: ServerConnection, on_client_hello: Callable[[ServerConnection, ClientHelloReceived], object]) -> None:
        self.conn, self._on_client_hello = conn, on_client_hello

    def data_received(self, data: bytes) -> None:
        if not self._closed and not self._closing:
            self.conn.receive_data(data)
            self._pump()

    def _ended(self) -> None:
        if not self._eof and not self._closed and not self._closing and self.conn is not None:
            self._eof = True
            self.conn.receive_data(b"")  # the engine turns EOF into ConnectionClosed or an error
            self._pump()
        self._eof = True
        self._wake()

    def _pump(self) -> None:
        """Drain the engine's events: plaintext buffered, the handshake's
        steps taken, its output written; wake the reader if anything changed."""
        conn = self.conn
        woke = False
        try:
            while not self._closing:
                event = conn.next_event()
                if event is NEED_DATA:
                    break
                if isinstance(event, DataReceived):
                    self._received(event.data)
                    woke = True
                elif isinstance(event, ClientHelloReceived):
                    assert self._on_client_hello is not None
                    self._on_client_hello(conn, event)
                elif isinstance(event, HandshakeComplete):
                    self.handshake = event
                    self._established(event)
                    woke = True
                elif isinstance(event, ConnectionClosed):
                    self._closed = woke = True
                    self._ended_tls(event)
                    break
                elif event is PAUSED:
                    raise HandshakeFailed("handshake left paused")  # on_client_hello must proceed
                elif isinstance(event, AlertReceived):
                    self._alerted(event)
                elif not isinstance(event, KeyUpdated):  # the engine answers a KeyUpdate itself
                    raise AssertionError(f"unexpected engine event {event!r}")
        except Exception as exc:  # noqa: BLE001 - a ProtocolError, or e.g. a connection phase failed
            self._closed = woke = True
            self._failed(exc)
        self._flush_now()  # the engine's fatal alert, if it queued one
        if woke:
            self._wake()

    # What the pump does with the events (see the class docstring).
    _received = _SocketStream._buffer

    def _established(self, event: HandshakeComplete) -> None:
        pass

    def _alerted(self, event: AlertReceived) -> None:
        pass  # a fatal one: ConnectionClosed or a ProtocolError follows

    def _ended_tls(self, event: ConnectionClosed) -> None:
        pass

    def _failed(self, exc: Exception) -> None:
        if isinstance(exc, ProtocolError):
            if self.handshake is None:
                self._failure = HandshakeFailed(f"TLS: {exc}")
        elif self.handshake is None:
            self._failure = exc  # e.g. a connection phase failed: the handshake did
        else:
            _log.exception("TLS connection failed")

    def _flush_now(self) -> None:
        out = self.conn.data_to_send()
        if out and not self.transport.is_closing():
            self.transport.write(out)

    async def do_handshake(self) -> HandshakeComplete:
        """Run the handshake within ``handshake_timeout``; raise HandshakeFailed."""
        timeout = self.limits.timeouts.handshake
        deadline = self._loop.time() + timeout
        while self.handshake is None:
            if self._failure is not None:
                raise self._failure
            if self._closed or self._eof:
                raise HandshakeFailed("connection closed during the handshake")
            if not await self._wait(deadline):
                raise HandshakeFailed(f"handshake timeout ({timeout:g} s)")
        if self._writing_paused:
            await self._drain()  # TLS 1.3 tickets, TLS 1.2 Finished
        return self.handshake

    async def send(self, data: bytes) -> None:
        if self._closed and self.transport.is_closing():
            raise ClientGone("connection closed")
        try:
            self.conn.send_data(data)
        except ProtocolError as exc:
            raise ClientGone(str(exc)) from None
        out = self.conn.data_to_send()
        if out:
            self._write(out)
            if self._writing_paused:
                await self._drain()

    async def close(self) -> None:
        self._closing = True
        try:
            self.conn.close()  # close_notify
        except ProtocolError:
            pass
        try:
            out = self.conn.data_to_send()
            if out:
                self._write(out)
                if self._writing_paused:
                    await self._drain()
        except ClientGone:
            pass
        await super().close()


#: What the HTTP layer reads and writes.
Stream = Union[PlainStream, TLSStream]


async def open_stream(sock: object, limits: Limits) -> PlainStream:
    """A :class:`PlainStream` on an already connected socket (tests, socketpairs)."""
    loop = asyncio.get_running_loop()
    _, stream = await loop.connect_accepted_socket(lambda: PlainStream(limits), sock)  # type: ignore[arg-type]
    return stream
