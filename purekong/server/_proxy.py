"""The upstream side: a pooled HTTP/1.1 client (h11 over asyncio streams).

One :class:`UpstreamPool` per worker keeps idle keep-alive connections per
(scheme, host, port), like nginx's upstream keepalive. A request borrows a
connection (or opens one within the service's ``connect_timeout``), writes
the request, and returns an :class:`UpstreamResponse` once the status line and
headers are in; its body is then streamed chunk by chunk (each read within
``read_timeout``) and the connection goes back to the pool only if the
exchange ended cleanly and both sides allow keep-alive.

TLS to upstreams uses the standard library's ``ssl`` module: this is the
*client* side, where nothing Kong-specific is needed. As Kong's default
(``tls_verify`` off) the upstream certificate is not verified; SNI is sent.

Failures are typed so the gateway can answer as Kong does:
:class:`UpstreamConnectError` and :class:`UpstreamInvalidResponse` become 502,
:class:`UpstreamTimeout` 504.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import AsyncIterable, AsyncIterator

import h11

from ._http import message_body

_log = logging.getLogger("purekong.serve")

READ_SIZE = 65536


class UpstreamError(Exception):
    status = 502


class UpstreamConnectError(UpstreamError):
    pass


class UpstreamInvalidResponse(UpstreamError):
    pass


class UpstreamTimeout(UpstreamError):
    status = 504


@dataclass(frozen=True)
class UpstreamTimeouts:
    """Seconds (Kong's services hold milliseconds)."""

    connect: float = 60.0
    write: float = 60.0
    read: float = 60.0


_client_ssl_contexts: dict[bool, ssl.SSLContext] = {}


def ssl_context(verify: bool) -> ssl.SSLContext:
    """Kong's default is tls_verify off for upstreams; ``kong.service.set_tls_verify(true)``
    turns it on for a request: the system trust store and the host name checked."""
    ctx = _client_ssl_contexts.get(verify)
    if ctx is None:
        if verify:
            ctx = ssl.create_default_context()
        else:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        ctx = _client_ssl_contexts.setdefault(verify, ctx)
    return ctx


#: (scheme, host, port): what a pooled connection can be reused for.
_Key = tuple[str, str, int, bool]  # scheme, host, port, TLS verification on


@dataclass(eq=False)  # identity: connections live in sets
class _Conn:
    key: _Key
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    h11: h11.Connection = field(default_factory=lambda: h11.Connection(h11.CLIENT))
    idle_since: float = 0.0
    reused: bool = False

    def close(self) -> None:
        self.writer.transport.abort()


class UpstreamResponse:
    """Status and headers now; the body with :meth:`iter_body` (call exactly once)."""

    def __init__(self, pool: "UpstreamPool", conn: _Conn, head: h11.Response, timeouts: UpstreamTimeouts) -> None:
        self._pool, self._timeouts = pool, timeouts
        self._conn: _Conn | None = conn  # None once released
        self.status = head.status_code
        self.headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in head.headers.raw_items()]
        self.http_version = head.http_version.decode("ascii")
        self.reason = head.reason.decode("latin-1")  # nginx passes it on while the status is the upstream's
        self.body_bytes = 0
        self._done = False

    async def iter_body(self) -> AsyncIterator[bytes]:
        conn, read = self._conn, self._timeouts.read
        if conn is None:
            raise RuntimeError("the body of an upstream response can be read once")
        try:
            async for chunk in message_body(
                lambda: _next_event(conn, read), lambda: UpstreamInvalidResponse("upstream closed the connection in the body")
            ):
                self.body_bytes += len(chunk)
                yield chunk
            self._done = True
        finally:
            self.release()

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.iter_body()])

    def release(self) -> None:
        """Back to the pool if the exchange ended cleanly, else closed."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        self._pool._release(conn, reusable=self._done)


async def _next_event(conn: _Conn, timeout: float) -> object:
    while True:
        try:
            event = conn.h11.next_event()
        except h11.RemoteProtocolError as exc:
            raise UpstreamInvalidResponse(f"invalid HTTP from the upstream: {exc}") from None
        if event is not h11.NEED_DATA:
            return event
        try:
            async with asyncio.timeout(timeout):
                data = await conn.reader.read(READ_SIZE)
        except TimeoutError:
            raise UpstreamTimeout(f"no data from the upstream for {timeout:g} s") from None
        except (ConnectionError, OSError) as exc:
            raise UpstreamInvalidResponse(f"upstream connection failed: {exc}") from None
        conn.h11.receive_data(data)


class UpstreamPool:
    def __init__(self, *, max_idle_per_host: int = 32, idle_timeout: float = 60.0) -> None:
        self.max_idle_per_host = max_idle_per_host
        self.idle_timeout = idle_timeout  # Kong's upstream_keepalive_idle_timeout
        self._idle: dict[_Key, list[_Conn]] = defaultdict(list)
        self._busy: set[_Conn] = set()

    async def request(
        self,
        scheme: str,
        host: str,
        port: int,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: bytes | AsyncIterable[bytes],
        timeouts: UpstreamTimeouts = UpstreamTimeouts(),
        sni: str | None = None,
        body_length: int | None = None,
        verify: bool = False,
    ) -> UpstreamResponse:
        """Send one request; return once the response head arrived.

        ``body`` is bytes, or chunks as the client sends them (unbuffered;
        ``body_length`` is their announced total, else they go chunked).
        A reused connection that turns out to be dead before any response
        byte arrived is retried once on a fresh one (the upstream closed it
        while idle, which keep-alive allows at any time); a streamed body
        cannot be replayed, so it always gets a fresh connection.
        """
        key = (scheme, host, port, verify and scheme == "https")
        replayable = isinstance(body, (bytes, bytearray))
        for attempt in (0, 1):
            conn = self._take_idle(key) if attempt == 0 and replayable else None
            if conn is None:
                conn = await self._connect(key, timeouts, sni)
            self._busy.add(conn)
            try:
                return await self._exchange(conn, method, target, headers, body, timeouts, body_length)
            except UpstreamInvalidResponse:
                self._discard(conn)
                if conn.reused and attempt == 0:
                    continue
                raise
            except BaseException:
                self._discard(conn)
                raise
        raise AssertionError("unreachable")

    async def _exchange(
        self,
        conn: _Conn,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: bytes | AsyncIterable[bytes],
        timeouts: UpstreamTimeouts,
        body_length: int | None = None,
    ) -> UpstreamResponse:
        h = conn.h11
        headers = [(k, v) for k, v in strip_hop_by_hop(headers) if k.lower() not in _CLEARED_UPSTREAM]
        fixed = body if isinstance(body, (bytes, bytearray)) else None
        if fixed is None:
            # h11 frames the body: exactly this many bytes, or chunked.
            headers.append(("Content-Length", str(body_length)) if body_length is not None else ("Transfer-Encoding", "chunked"))
        elif fixed or method not in ("GET", "HEAD", "DELETE", "OPTIONS", "TRACE"):
            headers.append(("Content-Length", str(len(fixed))))
        try:
            out = h.send(h11.Request(method=method, target=target, headers=[(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers])) or b""
            if fixed:
                out += h.send(h11.Data(data=fixed)) or b""
            if fixed is not None:
                out += h.send(h11.EndOfMessage()) or b""
            await self._write(conn, out, timeouts)
            if not isinstance(body, (bytes, bytearray)):
                async for chunk in body:  # the client's pace: each chunk as it arrives
                    if chunk:
                        await self._write(conn, h.send(h11.Data(data=chunk)) or b"", timeouts)
                await self._write(conn, h.send(h11.EndOfMessage()) or b"", timeouts)
        except h11.LocalProtocolError as exc:
            raise UpstreamInvalidResponse(f"cannot send the request: {exc}") from None
        while True:
            event = await _next_event(conn, timeouts.read)
            if isinstance(event, h11.InformationalResponse):
                continue  # 100 Continue and friends: not for the client
            if isinstance(event, h11.Response):
                return UpstreamResponse(self, conn, event, timeouts)
            if isinstance(event, h11.ConnectionClosed):
                raise UpstreamInvalidResponse("upstream closed the connection before responding")
            raise UpstreamInvalidResponse(f"unexpected {type(event).__name__} from the upstream")

    @staticmethod
    async def _write(conn: _Conn, data: bytes, timeouts: UpstreamTimeouts) -> None:
        try:
            conn.writer.write(data)
            async with asyncio.timeout(timeouts.write):
                await conn.writer.drain()
        except TimeoutError:
            raise UpstreamTimeout(f"upstream did not read the request within {timeouts.write:g} s") from None
        except (ConnectionError, OSError) as exc:
            raise UpstreamInvalidResponse(f"upstream connection failed: {exc}") from None

    async def _connect(self, key: _Key, timeouts: UpstreamTimeouts, sni: str | None) -> _Conn:
        scheme, host, port, verify = key
        tls = scheme == "https"
        try:
            async with asyncio.timeout(timeouts.connect):
                reader, writer = await asyncio.open_connection(
                    host, port, ssl=ssl_context(verify) if tls else None, server_hostname=(sni or host) if tls else None
                )
        except TimeoutError:
            raise UpstreamTimeout(f"connecting to {host}:{port} timed out after {timeouts.connect:g} s") from None
        except (OSError, ssl.SSLError) as exc:
            raise UpstreamConnectError(f"cannot connect to {host}:{port}: {exc}") from None
        return _Conn(key, reader, writer)

    def _take_idle(self, key: _Key) -> _Conn | None:
        idle = self._idle.get(key)
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if now - conn.idle_since < self.idle_timeout and not conn.reader.at_eof() and not conn.writer.is_closing():
                conn.reused = True
                return conn
            conn.close()
        return None

    def _release(self, conn: _Conn, *, reusable: bool) -> None:
        self._busy.discard(conn)
        h = conn.h11
        if reusable and h.our_state is h11.DONE and h.their_state is h11.DONE:
            try:
                h.start_next_cycle()
            except h11.LocalProtocolError:
                reusable = False
        else:
            reusable = False
        idle = self._idle[conn.key]
        if not reusable or len(idle) >= self.max_idle_per_host:
            conn.close()
            return
        conn.idle_since = time.monotonic()
        idle.append(conn)

    def _discard(self, conn: _Conn) -> None:
        self._busy.discard(conn)
        conn.close()

    def close(self) -> None:
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()
        for conn in list(self._busy):
            conn.close()
        self._busy.clear()


# RFC 9110 §7.6.1: connection-specific headers are not forwarded.
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"}
)


# Request headers nginx's proxy module never forwards besides those (it sets
# Expect, like TE and Keep-Alive, to ""; it answers 100-continue itself and
# frames the body again).
_CLEARED_UPSTREAM = frozenset({"content-length", "expect"})


def strip_hop_by_hop(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    named: set[str] = set()
    for k, v in headers:
        if k.lower() == "connection":
            named.update(t.strip().lower() for t in v.split(","))
    return [(k, v) for k, v in headers if k.lower() not in _HOP_BY_HOP and k.lower() not in named]
