"""WebSockets: a client's upgrade to an ASGI app (wsproto), or tunnelled to an upstream.

An HTTP/1.1 request with ``Upgrade: websocket`` goes through the same
:class:`~._request.Exchange` as any other: Kong's rewrite and access phases
run on the upgrade request (a plugin may answer it, and then no upgrade
happens), the service is called, and the answer is a reply whose ``tunnel``
takes the connection over once the HTTP layer has sent ``101 Switching
Protocols``. The response phases (header_filter, body_filter, log) run when
the WebSocket ends, as Kong's do for a proxied upgrade (nginx logs it when
the connection closes), with the bytes sent to the client as the body size.

* **ASGI app** (:func:`call_app`): the ASGI WebSocket scope (spec 2.4, the
  fields uvicorn fills, the TLS extension); the 101 goes out when the app
  sends ``websocket.accept``; a ``websocket.close`` before that is a 403 (as
  uvicorn answers). Frames are wsproto's (pings answered, close handshake).
* **upstream** (:func:`open_upstream`): the upgrade request goes to the
  service over its own connection (not the keep-alive pool) with ``Upgrade``
  and ``Connection: upgrade`` kept, as Kong's ``$upstream_upgrade`` does; an
  upstream 101 makes both sockets one byte tunnel, as nginx's is (plugins
  do not see frames). Each direction waits at most the service's
  ``read_timeout`` for data (nginx's ``proxy_read_timeout``).

Not supported: WebSockets over HTTP/2 (RFC 8441; SETTINGS_ENABLE_CONNECT_PROTOCOL
stays 0), permessage-deflate on ASGI connections (no extension is offered back).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import ssl
from typing import Any, Awaitable, Callable
from urllib.parse import unquote

import h11
import wsproto.connection
import wsproto.events
import wsproto.utilities
from wsproto import ConnectionType

from ._asgi import ASGIApp
from ._proxy import READ_SIZE, UpstreamConnectError, UpstreamInvalidResponse, UpstreamTimeout, UpstreamTimeouts, ssl_context, strip_hop_by_hop
from ._streams import ClientGone, Stream

__all__ = ["Tunnel", "WebSocketResponse", "accept_key", "call_app", "is_upgrade", "open_upstream", "upgrade_headers", "websocket_scope"]

_log = logging.getLogger("purekong.serve")

#: Runs the connection after the 101: ``await tunnel(stream, leftover)``
#: (``leftover``: client bytes already read past the request head); returns
#: the bytes sent to the client.
Tunnel = Callable[[Stream, bytes], Awaitable[int]]

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3


def is_upgrade(method: str, headers: list[tuple[str, str]]) -> bool:
    """A WebSocket opening handshake (RFC 6455 §4.1): GET, ``Upgrade: websocket``, ``Connection: upgrade``."""
    if method != "GET":
        return False
    upgrade = ",".join(v for k, v in headers if k.lower() == "upgrade").lower()
    connection = ",".join(v for k, v in headers if k.lower() == "connection").lower()
    return "websocket" in (t.strip() for t in upgrade.split(",")) and "upgrade" in (t.strip() for t in connection.split(","))


def upgrade_headers(forwarded: list[tuple[str, str]], client: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The upgrade request's headers upstream: the forwarded ones without
    hop-by-hop fields, then the client's ``Upgrade`` and ``Connection: upgrade``
    (Kong's ``$upstream_upgrade``/``$upstream_connection``)."""
    upgrade = next((v for k, v in client if k.lower() == "upgrade"), "websocket")
    return [*strip_hop_by_hop(forwarded), ("Upgrade", upgrade), ("Connection", "upgrade")]


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode("latin-1") + _GUID).digest()).decode()


class WebSocketResponse:
    """The service's answer to an upgrade: 101 and a tunnel, or an ordinary response."""

    def __init__(self, status: int, headers: list[tuple[str, str]], *, reason: str | None = None,
                 body: bytes = b"", tunnel: Tunnel | None = None) -> None:
        self.status, self.headers, self.reason, self.body, self.tunnel = status, headers, reason, body, tunnel


# -- ASGI ----------------------------------------------------------------------------


def websocket_scope(http_scope: dict[str, Any], headers: list[tuple[str, str]]) -> dict[str, Any]:
    """The ASGI WebSocket scope from the HTTP one :func:`._asgi.build_scope` made."""
    protocols = ",".join(v for k, v in headers if k.lower() == "sec-websocket-protocol")
    scope = {k: v for k, v in http_scope.items() if k not in ("method", "type", "asgi")}
    scope.update(type="websocket", asgi={"version": "3.0", "spec_version": "2.4"}, http_version="1.1",
                 scheme="wss" if http_scope["scheme"] == "https" else "ws",
                 subprotocols=[p.strip() for p in protocols.split(",") if p.strip()])
    return scope


async def call_app(app: ASGIApp, scope: dict[str, Any], headers: list[tuple[str, str]], *, timeout: float) -> WebSocketResponse:
    """Run ``app`` on the upgrade until it accepts (101 and a tunnel) or refuses (403)."""
    key = next((v for k, v in headers if k.lower() == "sec-websocket-key"), "")
    session = _AppSession(app, scope)
    first = await session.start(timeout)
    if first.get("type") != "websocket.accept":
        return WebSocketResponse(403, [("Content-Type", "text/plain"), ("Content-Length", "0")])
    out = [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", accept_key(key))]
    if first.get("subprotocol"):
        out.append(("Sec-WebSocket-Protocol", str(first["subprotocol"])))
    out += [(bytes(k).decode("latin-1"), bytes(v).decode("latin-1")) for k, v in first.get("headers", [])]
    return WebSocketResponse(101, out, tunnel=session.run)


class _AppSession:
    """One ASGI WebSocket connection: the app's receive/send over wsproto."""

    def __init__(self, app: ASGIApp, scope: dict[str, Any]) -> None:
        self.app, self.scope = app, scope
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.first: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.ready = asyncio.Event()  # the 101 went out: frames may follow
        self.ws: wsproto.connection.Connection | None = None  # once the 101 went out
        self.stream: Stream | None = None
        self.sent = 0
        self.closed = False  # a close frame went out
        self.task: asyncio.Task[None] | None = None

    async def start(self, timeout: float) -> dict[str, Any]:
        await self.inbox.put({"type": "websocket.connect"})
        self.task = asyncio.create_task(self._run_app())
        try:
            async with asyncio.timeout(timeout):
                return await asyncio.shield(self.first)
        except TimeoutError:
            self.task.cancel()
            raise UpstreamTimeout(f"the application did not accept the WebSocket within {timeout:g} s") from None

    async def _run_app(self) -> None:
        try:
            await self.app(self.scope, self.inbox.get, self._send)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the app's failure ends its connection
            _log.exception("ASGI application failed on WebSocket %s", self.scope["path"])
        if not self.first.done():
            self.first.set_result({"type": "websocket.close", "code": 1006})
        elif self.ready.is_set() and not self.closed:
            await self._write(wsproto.events.CloseConnection(code=1000))
            self.closed = True

    async def _send(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if not self.first.done():
            if kind not in ("websocket.accept", "websocket.close"):
                raise RuntimeError(f"expected websocket.accept or websocket.close, got {kind!r}")
            self.first.set_result(message)
            return
        if kind == "websocket.accept":
            raise RuntimeError("websocket.accept sent twice")
        await self.ready.wait()
        if self.closed:
            raise ClientGone("the WebSocket is closed")  # the spec: an error after the close
        if kind == "websocket.send":
            text = message.get("text")
            event = wsproto.events.TextMessage(data=text) if text is not None else wsproto.events.BytesMessage(data=bytes(message.get("bytes") or b""))
            await self._write(event)
        elif kind == "websocket.close":
            await self._write(wsproto.events.CloseConnection(code=int(message.get("code", 1000)), reason=message.get("reason") or ""))
            self.closed = True
        else:
            raise RuntimeError(f"unsupported ASGI message type {kind!r}")

    async def _write(self, event: wsproto.events.Event) -> None:
        assert self.stream is not None and self.ws is not None
        data = self.ws.send(event)
        self.sent += len(data)
        await self.stream.send(data)

    async def run(self, stream: Stream, leftover: bytes) -> int:
        """The connection after the 101: client frames to the app until either side closes."""
        self.stream = stream
        ws = self.ws = wsproto.connection.Connection(ConnectionType.SERVER, trailing_data=leftover)
        self.ready.set()
        text: list[str] = []
        data = bytearray()
        try:
            while True:
                for event in ws.events():
                    if isinstance(event, wsproto.events.TextMessage):
                        text.append(event.data)
                        if event.message_finished:
                            await self.inbox.put({"type": "websocket.receive", "text": "".join(text)})
                            text = []
                    elif isinstance(event, wsproto.events.BytesMessage):
                        data += event.data
                        if event.message_finished:
                            await self.inbox.put({"type": "websocket.receive", "bytes": bytes(data)})
                            data = bytearray()
                    elif isinstance(event, wsproto.events.Ping):
                        await self._write(event.response())
                    elif isinstance(event, wsproto.events.CloseConnection):
                        if not self.closed:
                            self.closed = True
                            await self._write(event.response())
                        await self.inbox.put({"type": "websocket.disconnect", "code": event.code, "reason": event.reason or ""})
                        return self.sent
                if ws.state is wsproto.connection.ConnectionState.CLOSED:
                    return self.sent
                chunk = await stream.receive()
                if not chunk:
                    await self.inbox.put({"type": "websocket.disconnect", "code": 1006, "reason": ""})
                    return self.sent
                ws.receive_data(chunk)
        except (ClientGone, wsproto.utilities.LocalProtocolError, wsproto.utilities.RemoteProtocolError) as exc:
            _log.debug("WebSocket %s ended: %s", self.scope["path"], exc)
            await self.inbox.put({"type": "websocket.disconnect", "code": 1006, "reason": ""})
            return self.sent
        finally:
            await self._end_app()

    async def _end_app(self) -> None:
        """The app saw the disconnect; give it a moment to return, then cancel it."""
        if self.task is not None and not self.task.done():
            try:
                await asyncio.wait_for(asyncio.shield(self.task), 5.0)
            except (TimeoutError, Exception):  # noqa: BLE001 - logged by _run_app
                self.task.cancel()


# -- upstream ------------------------------------------------------------------------


async def open_upstream(scheme: str, host: str, port: int, target: str, headers: list[tuple[str, str]],
                        timeouts: UpstreamTimeouts, *, verify: bool = False) -> WebSocketResponse:
    """Send the upgrade request to the upstream on a new connection; its answer."""
    tls = scheme in ("https", "wss")
    try:
        async with asyncio.timeout(timeouts.connect):
            reader, writer = await asyncio.open_connection(host, port, ssl=ssl_context(verify) if tls else None,
                                                           server_hostname=host if tls else None)
    except TimeoutError:
        raise UpstreamTimeout(f"connecting to {host}:{port} timed out after {timeouts.connect:g} s") from None
    except (OSError, ssl.SSLError) as exc:
        raise UpstreamConnectError(f"cannot connect to {host}:{port}: {exc}") from None
    conn = h11.Connection(h11.CLIENT)
    try:
        writer.write(conn.send(h11.Request(method="GET", target=target, headers=[(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers])) or b"")
        writer.write(conn.send(h11.EndOfMessage()) or b"")
        async with asyncio.timeout(timeouts.read):
            await writer.drain()
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(await reader.read(READ_SIZE))
                    continue
                if isinstance(event, h11.InformationalResponse) and event.status_code == 101:
                    break
                if isinstance(event, h11.Response):
                    body = b""
                    while not isinstance(event, h11.EndOfMessage):
                        nxt = conn.next_event()
                        if nxt is h11.NEED_DATA:
                            conn.receive_data(await reader.read(READ_SIZE))
                        elif isinstance(nxt, h11.Data):
                            body += nxt.data
                        elif isinstance(nxt, (h11.EndOfMessage, h11.ConnectionClosed)):
                            break
                    writer.transport.abort()
                    return WebSocketResponse(event.status_code, _decoded(event.headers.raw_items()), reason=event.reason.decode("latin-1"), body=body)
                if isinstance(event, h11.ConnectionClosed):
                    raise UpstreamInvalidResponse("upstream closed the connection before responding")
    except TimeoutError:
        writer.transport.abort()
        raise UpstreamTimeout(f"no answer to the upgrade from the upstream for {timeouts.read:g} s") from None
    except (h11.ProtocolError, ConnectionError, OSError) as exc:
        writer.transport.abort()
        raise UpstreamInvalidResponse(f"invalid answer to the upgrade from the upstream: {exc}") from None
    leftover = conn.trailing_data[0]
    head = _decoded(event.headers.raw_items())

    async def tunnel(stream: Stream, client_leftover: bytes) -> int:
        return await _pipe(stream, client_leftover, reader, writer, leftover, timeouts.read)

    return WebSocketResponse(101, head, reason=event.reason.decode("latin-1"), tunnel=tunnel)


def _decoded(items: Any) -> list[tuple[str, str]]:
    return [(bytes(k).decode("latin-1"), bytes(v).decode("latin-1")) for k, v in items]


async def _pipe(stream: Stream, client_leftover: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                upstream_leftover: bytes, timeout: float) -> int:
    """Bytes both ways until either side ends or is silent for ``timeout``; the bytes sent to the client."""
    to_client = 0

    async def client_to_upstream() -> None:
        data = client_leftover
        while True:
            if data:
                writer.write(data)
                await writer.drain()
            async with asyncio.timeout(timeout):
                data = await stream.receive()
            if not data:
                return

    async def upstream_to_client() -> None:
        nonlocal to_client
        data = upstream_leftover
        while True:
            if data:
                await stream.send(data)
                to_client += len(data)
            async with asyncio.timeout(timeout):
                data = await reader.read(READ_SIZE)
            if not data:
                return

    tasks = [asyncio.ensure_future(client_to_upstream()), asyncio.ensure_future(upstream_to_client())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)  # a reset or a timeout just ends it
        writer.transport.abort()
    return to_client
