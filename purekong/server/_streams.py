"""Byte streams for one client connection: plain TCP, or TLS on the engine.

:class:`PlainStream` is the socket itself; :class:`TLSStream` runs a sans-IO
``ServerConnection`` over the socket (the pump: read from the socket,
``receive_data``, drain ``next_event`` until ``NEED_DATA``, write
``data_to_send``). Both offer ``receive()`` (``b""`` at the end), ``send()``,
``close()`` and ``abort()``, each write within the client timeout; the
protocol on top (HTTP/1.1 in :mod:`._http`) never sees TLS.
"""

from __future__ import annotations

import asyncio
from typing import Callable, Union

from purekong.engine import (
    NEED_DATA,
    PAUSED,
    AlertReceived,
    ClientHelloReceived,
    ConnectionClosed,
    DataReceived,
    HandshakeComplete,
    ProtocolError,
    ServerConnection,
)

from ._settings import Limits

__all__ = ["ClientGone", "HandshakeFailed", "PlainStream", "Stream", "TLSStream"]

READ_SIZE = 65536


class ClientGone(Exception):
    """The client closed, reset or stalled: nothing more can be sent to it."""


class PlainStream:
    """Plain TCP: the asyncio stream pair."""

    tls = False

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, limits: Limits) -> None:
        self.reader, self.writer, self.limits = reader, writer, limits

    async def receive(self) -> bytes:
        try:
            return await self.reader.read(READ_SIZE)
        except (ConnectionError, OSError):
            return b""

    async def send(self, data: bytes) -> None:
        if self.writer.is_closing():
            raise ClientGone("connection closed")
        self.writer.write(data)
        await _drain(self.writer, self.limits.timeouts.client)

    async def close(self) -> None:
        await _close_writer(self.writer)

    def abort(self) -> None:
        self.writer.transport.abort()


class HandshakeFailed(Exception):
    pass


class TLSStream:
    """TLS over TCP with purekong's engine.

    ``on_client_hello(conn, event)`` runs at the ClientHello pause (Kong's
    client_hello and certificate phases, certificate choice by SNI) and must
    call ``conn.proceed()`` or ``conn.abort()``.
    """

    tls = True

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        conn: ServerConnection,
        limits: Limits,
        on_client_hello: Callable[[ServerConnection, ClientHelloReceived], object],
    ) -> None:
        self.reader, self.writer, self.conn, self.limits = reader, writer, conn, limits
        self._on_client_hello = on_client_hello
        self.handshake: HandshakeComplete | None = None
        self._closed = False  # the peer's side ended (close_notify, alert or EOF)

    async def do_handshake(self) -> HandshakeComplete:
        """Run the handshake within ``handshake_timeout``; raise HandshakeFailed."""
        try:
            async with asyncio.timeout(self.limits.timeouts.handshake):
                while self.handshake is None:
                    event = await self._next_event()
                    if event is None:
                        raise HandshakeFailed("connection closed during the handshake")
        except TimeoutError:
            raise HandshakeFailed(f"handshake timeout ({self.limits.timeouts.handshake:g} s)") from None
        return self.handshake

    async def receive(self) -> bytes:
        while True:
            event = await self._next_event()
            if event is None:
                return b""
            if isinstance(event, DataReceived):
                return event.data

    async def _next_event(self) -> object:
        """The next interesting event, pumping the socket as needed; None once closed."""
        conn = self.conn
        while not self._closed:
            try:
                event = conn.next_event()
            except ProtocolError as exc:
                # The engine queued its fatal alert: send it, then we are done.
                await self._flush_quietly()
                self._closed = True
                if self.handshake is None:
                    raise HandshakeFailed(f"TLS: {exc}") from None
                return None
            if event is NEED_DATA:
                await self._flush()
                try:
                    data = await self.reader.read(READ_SIZE)
                except (ConnectionError, OSError):
                    data = b""
                conn.receive_data(data)
                continue
            if event is PAUSED:
                raise HandshakeFailed("handshake left paused")  # on_client_hello must proceed
            if isinstance(event, ClientHelloReceived):
                self._on_client_hello(conn, event)
                await self._flush()
                continue
            if isinstance(event, HandshakeComplete):
                self.handshake = event
                await self._flush()  # TLS 1.3 tickets, TLS 1.2 Finished
                return event
            if isinstance(event, ConnectionClosed):
                self._closed = True
                return None
            if isinstance(event, AlertReceived):
                continue
            return event
        return None

    async def send(self, data: bytes) -> None:
        if self._closed and self.writer.is_closing():
            raise ClientGone("connection closed")
        try:
            self.conn.send_data(data)
        except ProtocolError as exc:
            raise ClientGone(str(exc)) from None
        await self._flush()

    async def _flush(self) -> None:
        out = self.conn.data_to_send()
        if out:
            if self.writer.is_closing():
                raise ClientGone("connection closed")
            self.writer.write(out)
            await _drain(self.writer, self.limits.timeouts.client)

    async def _flush_quietly(self) -> None:
        try:
            await self._flush()
        except (ClientGone, ConnectionError, OSError):
            pass

    async def close(self) -> None:
        try:
            self.conn.close()  # close_notify
        except ProtocolError:
            pass
        await self._flush_quietly()
        await _close_writer(self.writer)

    def abort(self) -> None:
        self.writer.transport.abort()


async def _drain(writer: asyncio.StreamWriter, timeout: float) -> None:
    try:
        if writer.transport.get_write_buffer_size() == 0:
            # The socket took it all: drain() cannot wait (the transport pauses
            # its protocol only over the high-water mark), so no deadline to arm.
            await writer.drain()
            return
        async with asyncio.timeout(timeout):
            await writer.drain()
    except TimeoutError:
        raise ClientGone(f"client did not read for {timeout:g} s") from None
    except (ConnectionError, OSError) as exc:
        raise ClientGone(str(exc) or type(exc).__name__) from None


async def _close_writer(writer: asyncio.StreamWriter) -> None:
    """Close politely (flush, FIN), but never wait more than a second for it."""
    if writer.is_closing():
        writer.transport.abort()
        return
    try:
        writer.close()
        async with asyncio.timeout(1.0):
            await writer.wait_closed()
    except (TimeoutError, ConnectionError, OSError):
        writer.transport.abort()


#: What the HTTP layer reads and writes.
Stream = Union[PlainStream, TLSStream]
