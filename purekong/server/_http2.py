"""HTTP/2 over a TLS stream (ALPN ``h2``) with the ``h2`` library.

The same job as :mod:`._http`, for a protocol with many requests at once:
one ``h2.connection.H2Connection`` per socket, one reader (socket bytes in,
h2 events out), and one task per stream, which drives the same
:class:`~._http.RequestCycle` an HTTP/1.1 request does (``respond()``, the
reply sent, ``finish()``), so routing, Kong's plugins, the service call and
the access log are the HTTP/1.1 ones.

Rules, in the order a stream meets them:

=============================  ==============================================
HEADERS                        becomes an :class:`~._http.HTTPRequest`
                               (``:authority`` as ``Host`` when there is none,
                               split ``cookie`` fields joined with ``"; "`` as
                               nginx does, ``http_version`` ``"2.0"``)
DATA                           buffered (and its flow-control credit given
                               back) up to ``max_body_size``; past it, 413 and
                               RST_STREAM(NO_ERROR) (RFC 9113 §8.1)
END_STREAM                     the stream's task starts
RST_STREAM from the client     that stream's task is cancelled; its ``finish``
                               still runs
response                       HEADERS (``:status``, no connection-specific
                               fields), then DATA within the peer's flow-
                               control windows and frame size
server stopping (``draining``) GOAWAY(last stream id); streams in flight
                               finish, then the connection closes
no stream for ``idle``         GOAWAY, close (nginx's keepalive_timeout)
protocol error                 h2's GOAWAY with its error code, close
=============================  ==============================================

Limits (:class:`HTTP2Limits`, sent in our SETTINGS and enforced by h2 on what
comes in): 128 concurrent streams (nginx's ``http2_max_concurrent_streams``),
a header list of ``max_request_head`` bytes (64 KiB), 16 KiB frames (the
RFC's minimum, nginx's default), a 64 KiB initial window. HTTP/2 request
bodies are always buffered (``--request-buffering off`` applies to HTTP/1.1).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
from h2.errors import ErrorCodes
from hyperframe.frame import GoAwayFrame  # h2's own frame layer

from ._http import ConnectionState, Handler, HTTPRequest, Reply, RequestCycle, Sent, common_headers, error_reply, finish_cycle
from ._settings import Limits
from ._streams import ClientGone, Stream

__all__ = ["HTTP2Limits", "serve_http2"]

_log = logging.getLogger("purekong.serve")

# RFC 9113 §8.2.2: connection-specific fields are never sent over HTTP/2.
_CONNECTION_SPECIFIC = frozenset({"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"})


@dataclass(frozen=True)
class HTTP2Limits:
    """What our SETTINGS frame announces (h2 holds the client to it)."""

    max_concurrent_streams: int = 128
    max_frame_size: int = 16384
    initial_window_size: int = 65535

    def settings(self, limits: Limits) -> dict[h2.settings.SettingCodes, int]:
        codes = h2.settings.SettingCodes
        return {
            codes.MAX_CONCURRENT_STREAMS: self.max_concurrent_streams,
            codes.MAX_HEADER_LIST_SIZE: limits.max_request_head,
            codes.MAX_FRAME_SIZE: self.max_frame_size,
            codes.INITIAL_WINDOW_SIZE: self.initial_window_size,
            codes.ENABLE_PUSH: 0,
        }


class _Incoming:
    """A stream whose request is still arriving."""

    def __init__(self, request: HTTPRequest) -> None:
        self.request = request
        self.body = bytearray()


class _Connection:
    def __init__(self, stream: Stream, handler: Handler, limits: Limits, state: ConnectionState, h2_limits: HTTP2Limits) -> None:
        self.stream, self.handler, self.limits, self.state = stream, handler, limits, state
        config = h2.config.H2Configuration(client_side=False, header_encoding=None)
        self.conn = h2.connection.H2Connection(config=config)
        self.conn.local_settings = h2.settings.Settings(client=False, initial_values=h2_limits.settings(limits))
        self.incoming: dict[int, _Incoming] = {}
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self.window_opened = asyncio.Event()  # a WINDOW_UPDATE or SETTINGS arrived
        self.stream_done = asyncio.Event()  # a stream's task ended: the read timeout changes
        self.write_lock = asyncio.Lock()
        self.closed = False
        self.goaway_sent = False
        self.last_stream_id = 0  # in our GOAWAY: later streams are refused

    # -- writing -------------------------------------------------------------------
    async def flush(self) -> None:
        async with self.write_lock:
            data = self.conn.data_to_send()
            if data:
                await self.stream.send(data)

    async def goaway(self) -> None:
        """GOAWAY(NO_ERROR, the last stream we took). Written by hand: h2's
        ``close_connection`` also closes its state machine, and the streams
        in flight must still be answered (RFC 9113 §6.8's graceful shutdown)."""
        if self.goaway_sent or self.closed:
            return
        self.goaway_sent = True
        self.last_stream_id = self.conn.highest_inbound_stream_id
        frame = GoAwayFrame(stream_id=0, last_stream_id=self.last_stream_id, error_code=ErrorCodes.NO_ERROR)
        try:
            async with asyncio.timeout(1.0):
                async with self.write_lock:
                    await self.stream.send(self.conn.data_to_send() + frame.serialize())
        except (ClientGone, TimeoutError):
            pass

    # -- reading -------------------------------------------------------------------
    async def run(self) -> None:
        self.conn.initiate_connection()
        await self.flush()
        reader = asyncio.ensure_future(self._read_loop())
        drain = asyncio.ensure_future(self.state.wait_draining())
        try:
            await asyncio.wait({reader, drain}, return_when=asyncio.FIRST_COMPLETED)
            if drain.done() and not reader.done():
                # Shutdown: no new streams; those in flight may finish (the
                # worker gives them its grace period), reading goes on for
                # their flow control.
                await self.goaway()
                while self.tasks and not reader.done():
                    await asyncio.wait({reader, *self.tasks.values()}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (reader, drain, *self.tasks.values()):
                task.cancel()
            if self.tasks:
                await asyncio.wait(list(self.tasks.values()), timeout=2.0)
            await self.goaway()
            self.closed = True

    async def _read_loop(self) -> None:
        receiving: asyncio.Future[Any] | None = None
        try:
            while True:
                if receiving is None:
                    receiving = asyncio.ensure_future(self.stream.receive())
                self.state.idle = not self.tasks and not self.incoming
                # Idle: keepalive_timeout; a request still arriving: client_timeout;
                # responses in flight: their own deadlines. A stream ending
                # (stream_done) starts the count again.
                timeout = self.limits.timeouts.idle if self.state.idle else (self.limits.timeouts.client if not self.tasks else None)
                self.stream_done.clear()
                done_waiter: asyncio.Future[Any] = asyncio.ensure_future(self.stream_done.wait())
                try:
                    await asyncio.wait([receiving, done_waiter], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    done_waiter.cancel()
                if not receiving.done():
                    if self.stream_done.is_set():
                        continue
                    return  # the timeout: GOAWAY(NO_ERROR) on the way out
                data, receiving = receiving.result(), None
                if not await self._received(data):
                    return
        finally:
            if receiving is not None:
                receiving.cancel()

    async def _received(self, data: bytes) -> bool:
        """Feed h2; False once the connection is over."""
        if not data:
            self.closed = True
            return False
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            _log.info("HTTP/2 protocol error from the client: %s", exc)
            await self.flush()  # h2 queued its GOAWAY
            self.goaway_sent = True
            return False
        for event in events:
            self._on_event(event)
        await self.flush()
        return not any(isinstance(e, h2.events.ConnectionTerminated) for e in events)

    def _on_event(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.RequestReceived):
            assert event.stream_id is not None and event.headers is not None
            if self.goaway_sent and event.stream_id > self.last_stream_id:
                self.conn.reset_stream(event.stream_id, ErrorCodes.REFUSED_STREAM)  # retry elsewhere (§8.7)
                return
            request = _request(event.headers)
            self.incoming[event.stream_id] = _Incoming(request)
            self.state.requests += 1
            length = request.header("content-length")
            if self.limits.max_body_size and length is not None and length.isdigit() and int(length) > self.limits.max_body_size:
                self._refuse_body(event.stream_id)  # announced too large: refused before any of it
        elif isinstance(event, h2.events.DataReceived):
            assert event.stream_id is not None
            self._on_data(event.stream_id, event.data or b"", event.flow_controlled_length or 0)
        elif isinstance(event, h2.events.StreamEnded):
            assert event.stream_id is not None
            self._start(event.stream_id)
        elif isinstance(event, h2.events.StreamReset):
            assert event.stream_id is not None
            self.incoming.pop(event.stream_id, None)
            task = self.tasks.get(event.stream_id)
            if task is not None:
                task.cancel()
        elif isinstance(event, (h2.events.WindowUpdated, h2.events.RemoteSettingsChanged)):
            self.window_opened.set()
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.goaway_sent = True  # the client said goodbye: nothing more to say

    def _on_data(self, stream_id: int, data: bytes, credit: int) -> None:
        try:
            # The body is buffered here, so its credit goes straight back (the
            # size limit, not the window, bounds what we hold).
            self.conn.acknowledge_received_data(credit, stream_id)
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
            pass
        incoming = self.incoming.get(stream_id)
        if incoming is None:
            return
        incoming.body += data
        if self.limits.max_body_size and len(incoming.body) > self.limits.max_body_size:
            self._refuse_body(stream_id)

    def _refuse_body(self, stream_id: int) -> None:
        """413 now, then RST_STREAM(NO_ERROR): the rest of the body is not wanted."""
        del self.incoming[stream_id]
        self.tasks[stream_id] = asyncio.create_task(self._answer(stream_id, None, error_reply(413), reset=True))

    def _start(self, stream_id: int) -> None:
        incoming = self.incoming.pop(stream_id, None)
        if incoming is None:
            return
        request = incoming.request
        request.body = bytes(incoming.body)
        try:
            cycle: RequestCycle | None = self.handler(request)
        except Exception:
            _log.exception("handler failed for %s %s", request.method, request.target)
            cycle = None
        reply = None if cycle is not None else error_reply(500)
        self.tasks[stream_id] = asyncio.create_task(self._answer(stream_id, cycle, reply, request=request))

    # -- one stream ---------------------------------------------------------------
    async def _answer(self, stream_id: int, cycle: RequestCycle | None, reply: Reply | None, *,
                      request: HTTPRequest | None = None, reset: bool = False) -> None:
        sent = Sent()
        try:
            if reply is None:
                assert cycle is not None
                try:
                    reply = await cycle.respond()
                except ClientGone:
                    return
                except Exception:
                    _log.exception("handler failed for %s %s", request.method if request else "?", request.target if request else "?")
                    cycle, reply = None, error_reply(500)
            await self._send_reply(stream_id, reply, request, sent)
            if reset:
                self.conn.reset_stream(stream_id, ErrorCodes.NO_ERROR)
                await self.flush()
        except (ClientGone, h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError) as exc:
            _log.debug("HTTP/2 stream %d not completed: %s", stream_id, exc)
        finally:
            self.tasks.pop(stream_id, None)
            self.stream_done.set()
            if cycle is not None:
                await finish_cycle(cycle, sent)
            if reply is not None:
                aclose = getattr(reply.body, "aclose", None)
                if aclose is not None:
                    try:
                        await aclose()  # release the upstream connection
                    except Exception:  # noqa: BLE001 - cleanup must not mask the outcome
                        pass

    async def _send_reply(self, stream_id: int, reply: Reply, request: HTTPRequest | None, sent: Sent) -> None:
        no_body = reply.status in (204, 304) or (request is not None and request.method == "HEAD")
        headers = [(k.lower(), str(v)) for k, v in common_headers(reply.headers) if k.lower() not in _CONNECTION_SPECIFIC]
        body = reply.body
        if isinstance(body, (bytes, bytearray)) and not no_body and not any(k == "content-length" for k, _ in headers):
            headers.append(("content-length", str(len(body))))
        head = [(b":status", str(reply.status).encode())] + [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        if isinstance(body, (bytes, bytearray)):
            self.conn.send_headers(stream_id, head, end_stream=no_body or not body)
            await self.flush()
            if body and not no_body:
                await self._send_data(stream_id, bytes(body), sent)
                self.conn.end_stream(stream_id)
                await self.flush()
        else:
            self.conn.send_headers(stream_id, head, end_stream=no_body)
            await self.flush()
            async for chunk in body:
                if chunk and not no_body:
                    await self._send_data(stream_id, chunk, sent)
            if not no_body:
                self.conn.end_stream(stream_id)
                await self.flush()
        sent.complete = True

    async def _send_data(self, stream_id: int, data: bytes, sent: Sent) -> None:
        """``data`` as DATA frames, each within the stream's and the connection's window."""
        view = memoryview(data)
        while view:
            room = min(self.conn.local_flow_control_window(stream_id), self.conn.max_outbound_frame_size, len(view))
            if room <= 0:
                self.window_opened.clear()
                try:
                    async with asyncio.timeout(self.limits.timeouts.client):
                        await self.window_opened.wait()
                except TimeoutError:
                    raise ClientGone(f"the client opened no flow-control window for {self.limits.timeouts.client:g} s") from None
                continue
            self.conn.send_data(stream_id, bytes(view[:room]))
            view = view[room:]
            sent.body_bytes += room
            await self.flush()


def _request(raw: list[tuple[bytes, bytes]] | list[h2.events.Header]) -> HTTPRequest:
    pseudo: dict[str, str] = {}
    headers: list[tuple[str, str]] = []
    cookies: list[str] = []
    for k, v in raw:
        name = bytes(k).decode("latin-1") if isinstance(k, (bytes, bytearray)) else str(k)
        value = bytes(v).decode("latin-1") if isinstance(v, (bytes, bytearray)) else str(v)
        if name.startswith(":"):
            pseudo[name] = value
        elif name == "cookie":
            cookies.append(value)
        else:
            headers.append((name, value))
    if cookies:
        headers.append(("cookie", "; ".join(cookies)))
    if not any(k == "host" for k, _ in headers) and ":authority" in pseudo:
        headers.insert(0, ("host", pseudo[":authority"]))
    head_size = sum(len(k) + len(v) + 2 for k, v in raw)
    return HTTPRequest(method=pseudo.get(":method", "GET"), target=pseudo.get(":path", "/"), headers=headers, body=b"",
                       http_version="2.0", head_size=head_size)


async def serve_http2(stream: Stream, handler: Handler, limits: Limits, state: ConnectionState,
                      h2_limits: HTTP2Limits = HTTP2Limits()) -> None:
    """Serve HTTP/2 on ``stream`` (ALPN chose ``h2``) until either side ends it."""
    await _Connection(stream, handler, limits, state, h2_limits).run()
