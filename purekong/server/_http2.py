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
                               control windows and frame size; the frames of
                               one event-loop turn leave in one write
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
from hpack import NeverIndexedHeaderTuple  # h2's own HPACK layer
from hyperframe.frame import GoAwayFrame  # h2's own frame layer

from ._http import SERVER_TOKEN, ConnectionState, Handler, HTTPRequest, Reply, RequestCycle, Sent, error_reply, finish_cycle, http_date
from ._settings import Limits
from ._streams import ClientGone, Stream

__all__ = ["HTTP2Limits", "serve_http2"]

_log = logging.getLogger("purekong.serve")

# RFC 9113 §8.2.2: connection-specific fields are never sent over HTTP/2.
_CONNECTION_SPECIFIC = frozenset({b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"})
# Kept out of HPACK's table (h2's rule, after Firefox and nghttp2), with cookies under 20 bytes.
_NEVER_INDEXED = frozenset({b"authorization", b"proxy-authorization"})
_SERVER = SERVER_TOKEN.encode()

#: What comes in is h2's to check; what goes out, _response_head's (one pass instead of h2's nine).
_H2_CONFIG = h2.config.H2Configuration(client_side=False, header_encoding=None,
                                       normalize_outbound_headers=False, validate_outbound_headers=False)


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

    __slots__ = ("request", "chunks", "size")

    def __init__(self, request: HTTPRequest) -> None:
        self.request = request
        self.chunks: list[bytes] = []
        self.size = 0


class _Connection:
    def __init__(self, stream: Stream, handler: Handler, limits: Limits, state: ConnectionState, h2_limits: HTTP2Limits) -> None:
        self.stream, self.handler, self.limits, self.state = stream, handler, limits, state
        self.conn = h2.connection.H2Connection(config=_H2_CONFIG)
        self.conn.local_settings = h2.settings.Settings(client=False, initial_values=h2_limits.settings(limits))
        self.loop = asyncio.get_running_loop()
        self.incoming: dict[int, _Incoming] = {}
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self.window_opened = asyncio.Event()  # a WINDOW_UPDATE or SETTINGS arrived
        self.closed = False
        self.goaway_sent = False
        self.last_stream_id = 0  # in our GOAWAY: later streams are refused
        self.on_event = {
            h2.events.RequestReceived: self._on_request,
            h2.events.StreamEnded: self._on_stream_ended,
            h2.events.StreamReset: self._on_reset,
            h2.events.WindowUpdated: self._on_window,
            h2.events.RemoteSettingsChanged: self._on_window,
            h2.events.ConnectionTerminated: self._on_terminated,
        }
        # Writing: one round at a time (see _write_soon).
        self.next_round: asyncio.Future[Exception | None] | None = None
        self.writer: asyncio.Task[None] | None = None
        self.after_h2 = b""  # our own GOAWAY, written after h2's frames
        # Reading: one deadline, moved lazily (see _rearm).
        self.reader: asyncio.Task[None] | None = None
        self.deadline: float | None = None
        self.timer: asyncio.TimerHandle | None = None

    # -- writing -------------------------------------------------------------------
    # Streams and the reader queue frames in h2 and ask for a write; the frames
    # queued during one turn of the event loop (every stream answered in that
    # turn, the reader's acknowledgements) leave in one ``data_to_send()`` and
    # one ``stream.send()``. Those asking while a round is being written get
    # the next one, so each waiter's frames are on the wire (or the client is
    # gone) when its wait ends: the windows and the socket's back-pressure
    # hold every stream, as one write per frame did.
    def _write_soon(self) -> asyncio.Future[Exception | None]:
        """The round that will carry what h2 holds now (its result: the write's error, if any)."""
        round_ = self.next_round
        if round_ is None:
            round_ = self.next_round = self.loop.create_future()
            if self.writer is None:
                self.writer = self.loop.create_task(self._write_rounds())
        return round_

    async def _write(self) -> None:
        await self._written(self._write_soon())

    async def _written(self, round_: asyncio.Future[Exception | None]) -> None:
        # shield: a stream cancelled while waiting (RST_STREAM) must not cancel the others' round
        error = round_.result() if round_.done() else await asyncio.shield(round_)
        if error is not None:
            raise ClientGone(str(error))

    async def _write_rounds(self) -> None:
        round_: asyncio.Future[Exception | None] | None = None
        try:
            while (round_ := self.next_round) is not None:
                self.next_round = None
                data = self.conn.data_to_send() + self.after_h2
                self.after_h2 = b""
                error: Exception | None = None
                if data:
                    try:
                        await self.stream.send(data)
                    except (ClientGone, ConnectionError, OSError) as exc:
                        error = exc
                round_.set_result(error)
        finally:
            self.writer = None
            for pending in (round_, self.next_round):  # cancelled mid-write: nobody waits forever
                if pending is not None and not pending.done():
                    pending.set_result(ClientGone("connection closed"))
            self.next_round = None

    async def goaway(self) -> None:
        """GOAWAY(NO_ERROR, the last stream we took). Written by hand: h2's
        ``close_connection`` also closes its state machine, and the streams
        in flight must still be answered (RFC 9113 §6.8's graceful shutdown)."""
        if self.goaway_sent or self.closed:
            return
        self.goaway_sent = True
        self.last_stream_id = self.conn.highest_inbound_stream_id
        self.after_h2 += GoAwayFrame(stream_id=0, last_stream_id=self.last_stream_id, error_code=ErrorCodes.NO_ERROR).serialize()
        try:
            async with asyncio.timeout(1.0):
                await self._write()
        except (ClientGone, TimeoutError):
            pass

    # -- reading -------------------------------------------------------------------
    async def run(self) -> None:
        self.conn.initiate_connection()
        reader = self.reader = asyncio.ensure_future(self._read_loop())
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
            if self.timer is not None:
                self.timer.cancel()
            for task in (reader, drain, *self.tasks.values()):
                task.cancel()
            if self.tasks:
                await asyncio.wait(list(self.tasks.values()), timeout=2.0)
            await self.goaway()
            self.closed = True
            for handle in (self.writer, self.timer):
                if handle is not None:
                    handle.cancel()

    async def _read_loop(self) -> None:
        try:
            await self._write()  # our SETTINGS
            while True:
                self._rearm()
                if not await self._received(await self.stream.receive()):
                    return
        except ClientGone:
            return

    def _rearm(self) -> None:
        """After a read or a stream's end, the wait that applies now: idle,
        keepalive_timeout; a request still arriving, client_timeout;
        responses in flight, their own deadlines. One timer per connection,
        moved only when it would fire too late; when it fires early it
        re-arms for the deadline, and past it the reader is cancelled
        (GOAWAY(NO_ERROR) on the way out)."""
        self.state.idle = idle = not self.tasks and not self.incoming
        timeout = self.limits.timeouts.idle if idle else (self.limits.timeouts.client if not self.tasks else None)
        if timeout is None or (self.reader is not None and self.reader.done()):  # the reading is over: no timer left behind
            self.deadline = None
            return
        self.deadline = deadline = self.loop.time() + timeout
        if self.timer is not None and self.timer.when() > deadline:
            self.timer.cancel()
            self.timer = None
        if self.timer is None:
            self.timer = self.loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self.timer = None
        if self.deadline is None:
            return
        if self.loop.time() < self.deadline:
            self.timer = self.loop.call_at(self.deadline, self._on_timer)
        elif self.reader is not None:
            self.reader.cancel()

    async def _received(self, data: bytes) -> bool:
        """Feed h2 one read's bytes and handle its events; False once the connection is over."""
        if not data:
            self.closed = True
            return False
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            _log.info("HTTP/2 protocol error from the client: %s", exc)
            self.goaway_sent = True
            await self._write()  # h2 queued its GOAWAY
            return False
        credit: dict[int, int] = {}
        for event in events:
            if type(event) is h2.events.DataReceived:
                sid = event.stream_id
                assert sid is not None
                credit[sid] = credit.get(sid, 0) + (event.flow_controlled_length or 0)
                self._on_data(sid, event.data or b"")
            else:
                handler = self.on_event.get(type(event))
                if handler is not None:
                    handler(event)
        # The bodies are buffered here, so their credit goes straight back (the
        # size limit, not the window, bounds what we hold): once per stream per
        # read, h2 sending WINDOW_UPDATEs when half a window is used.
        for sid, size in credit.items():
            self.conn.acknowledge_received_data(size, sid)
        await self._write()
        return not any(type(e) is h2.events.ConnectionTerminated for e in events)

    def _on_request(self, event: Any) -> None:
        stream_id = event.stream_id
        if self.goaway_sent and stream_id > self.last_stream_id:
            self.conn.reset_stream(stream_id, ErrorCodes.REFUSED_STREAM)  # retry elsewhere (§8.7)
            return
        request = _request(event.headers)
        self.incoming[stream_id] = _Incoming(request)
        self.state.requests += 1
        length = request.header("content-length")
        if self.limits.max_body_size and length is not None and length.isdigit() and int(length) > self.limits.max_body_size:
            self._refuse_body(stream_id)  # announced too large: refused before any of it

    def _on_data(self, stream_id: int, data: bytes) -> None:
        incoming = self.incoming.get(stream_id)
        if incoming is None:
            return
        incoming.chunks.append(data)
        incoming.size += len(data)
        if self.limits.max_body_size and incoming.size > self.limits.max_body_size:
            self._refuse_body(stream_id)

    def _on_stream_ended(self, event: Any) -> None:
        self._start(event.stream_id)

    def _on_reset(self, event: Any) -> None:
        self.incoming.pop(event.stream_id, None)
        task = self.tasks.get(event.stream_id)
        if task is not None:
            task.cancel()

    def _on_window(self, event: Any) -> None:
        self.window_opened.set()

    def _on_terminated(self, event: Any) -> None:
        self.goaway_sent = True  # the client said goodbye: nothing more to say

    def _refuse_body(self, stream_id: int) -> None:
        """413 now, then RST_STREAM(NO_ERROR): the rest of the body is not wanted."""
        del self.incoming[stream_id]
        self.tasks[stream_id] = asyncio.create_task(self._answer(stream_id, None, error_reply(413), reset=True))

    def _start(self, stream_id: int) -> None:
        incoming = self.incoming.pop(stream_id, None)
        if incoming is None:
            return
        request = incoming.request
        request.body = b"".join(incoming.chunks)
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
                await self._write()
        except (ClientGone, h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError) as exc:
            _log.debug("HTTP/2 stream %d not completed: %s", stream_id, exc)
        finally:
            self.tasks.pop(stream_id, None)
            self._rearm()
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
        body = reply.body
        if isinstance(body, (bytes, bytearray)):
            data = b"" if no_body else bytes(body)
            self.conn.send_headers(stream_id, _response_head(reply, None if no_body else len(data)), end_stream=not data)
            if data:
                await self._send_data(stream_id, data, sent, end_stream=True)  # END_STREAM on the last DATA frame
            await self._write()
        else:
            self.conn.send_headers(stream_id, _response_head(reply, None), end_stream=no_body)
            # The head leaves now (the app may take its time), with the chunks
            # ready in this turn. One round in flight per stream: a chunk waits
            # for the round that carries the previous one to be written.
            pending = self._write_soon()
            async for chunk in body:
                if chunk and not no_body:
                    if pending is not self.next_round:  # being written, not still collecting
                        await self._written(pending)
                    await self._send_data(stream_id, chunk, sent)
                    pending = self._write_soon()
            if not no_body:
                self.conn.end_stream(stream_id)
                pending = self._write_soon()
            await self._written(pending)
        sent.complete = True

    async def _send_data(self, stream_id: int, data: bytes, sent: Sent, *, end_stream: bool = False) -> None:
        """Queue ``data`` as DATA frames, each within the stream's and the
        connection's window; the caller writes them. Out of window, what is
        queued is written, then the client has ``client_timeout`` to open it."""
        conn, offset, size = self.conn, 0, len(data)
        while offset < size:
            room = min(conn.local_flow_control_window(stream_id), conn.max_outbound_frame_size, size - offset)
            if room <= 0:
                await self._write()
                if conn.local_flow_control_window(stream_id) > 0:
                    continue
                self.window_opened.clear()
                try:
                    async with asyncio.timeout(self.limits.timeouts.client):
                        await self.window_opened.wait()
                except TimeoutError:
                    raise ClientGone(f"the client opened no flow-control window for {self.limits.timeouts.client:g} s") from None
                continue
            end = offset + room
            conn.send_data(stream_id, data[offset:end], end_stream=end_stream and end == size)
            sent.body_bytes += room
            offset = end


def _response_head(reply: Reply, length: int | None) -> list[tuple[bytes, bytes]]:
    """The HEADERS of ``reply`` in one pass: ``:status``; nginx's ``Date`` and
    ``Server`` unless the reply has them (as :func:`~._http.common_headers`);
    its fields; ``content-length: length`` last unless it has one (``length``
    None: none added).

    h2's own outbound normalisation and validation are off (``_H2_CONFIG``):
    this does what they would do to a response, in the same loop: names
    lowercased, names and values stripped, the connection-specific fields
    dropped (RFC 9113 §8.2.2), credentials and short cookies never indexed
    by HPACK, a ``te`` other than ``trailers`` or a pseudo-header field
    refused (h2's ProtocolError). ``test_serve_http2_head`` holds it to h2's
    bytes."""
    fields: list[tuple[bytes, bytes]] = []
    date = server = True
    for k, v in reply.headers:
        name = k.lower()
        if name == "date":
            date = False
        elif name == "server":
            server = False
        elif name == "content-length":
            length = None
        field = name.encode("latin-1").strip()
        if field in _CONNECTION_SPECIFIC:
            continue
        value = str(v).encode("latin-1").strip()
        if not field or field[0] == 58:  # b":"
            raise h2.exceptions.ProtocolError(f"pseudo-header or empty field name in a response: {field!r}")
        if field in _NEVER_INDEXED or (field == b"cookie" and len(value) < 20):
            fields.append(NeverIndexedHeaderTuple(field, value))
        elif field == b"te" and value.lower() != b"trailers":
            raise h2.exceptions.ProtocolError(f"Invalid value for TE header: {value!r}")
        else:
            fields.append((field, value))
    head = [(b":status", b"%d" % reply.status)]
    if date:
        head.append((b"date", http_date().encode()))
    if server:
        head.append((b"server", _SERVER))
    head += fields
    if length is not None:
        head.append((b"content-length", b"%d" % length))
    return head


def _request(raw: list[Any]) -> HTTPRequest:
    """An :class:`HTTPRequest` from h2's header list (bytes: ``header_encoding=None``)."""
    pseudo: dict[str, str] = {}
    headers: list[tuple[str, str]] = []
    cookies: list[str] = []
    head_size = 0
    host = False
    for k, v in raw:
        head_size += len(k) + len(v) + 2
        name, value = k.decode("latin-1"), v.decode("latin-1")
        if name[0] == ":":
            pseudo[name] = value
        elif name == "cookie":
            cookies.append(value)
        else:
            host = host or name == "host"
            headers.append((name, value))
    if cookies:
        headers.append(("cookie", "; ".join(cookies)))
    if not host and ":authority" in pseudo:
        headers.insert(0, ("host", pseudo[":authority"]))
    return HTTPRequest(method=pseudo.get(":method", "GET"), target=pseudo.get(":path", "/"), headers=headers, body=b"",
                       http_version="2.0", head_size=head_size)


async def serve_http2(stream: Stream, handler: Handler, limits: Limits, state: ConnectionState,
                      h2_limits: HTTP2Limits = HTTP2Limits()) -> None:
    """Serve HTTP/2 on ``stream`` (ALPN chose ``h2``) until either side ends it."""
    await _Connection(stream, handler, limits, state, h2_limits).run()
