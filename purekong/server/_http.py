"""HTTP/1.x over a stream (:mod:`._streams`) with h11.

:func:`serve_connection` speaks HTTP/1.1 (and 1.0) with h11 (the model h11
documents: one ``h11.Connection`` per socket, read events, answer,
``start_next_cycle`` for keep-alive). It knows nothing about Kong: each
request becomes a :class:`RequestCycle` (from the ``handler``), whose
``respond()`` gives the :class:`Reply` and whose ``finish()`` runs once the
reply went out. HTTP/2 (:mod:`._http2`) drives the same cycle per stream.

Every wait has a deadline (:class:`~._settings.Limits`), and every path out of
:func:`serve_connection` closes the socket, so a client that stalls, resets
or sends garbage costs one task for at most one timeout and leaves no file
descriptor behind.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus
from typing import AsyncIterator, Awaitable, Callable, Protocol

import h11

from purekong import __version__
from purekong.pdk import JSON_CONTENT_TYPE, cjson_encode, default_message

from ._settings import Limits
from ._streams import ClientGone, Stream

__all__ = ["BodyStream", "BodyTooLarge", "ConnectionState", "HTTPRequest", "Reply", "RequestCycle",
           "SERVER_TOKEN", "Sent", "common_headers", "error_reply", "finish_cycle", "http_date", "message_body", "reason_phrase", "serve_connection"]

_log = logging.getLogger("purekong.serve")

# -- status lines and the headers on every response ---------------------------------

#: Kong's ``Server`` token (``kong/<version>``, its SERVER_HEADER), ours.
SERVER_TOKEN = f"purekong/{__version__}"
_SERVER_TOKEN_BYTES = SERVER_TOKEN.encode("latin-1")

# nginx's status lines (ngx_http_status_lines) where they differ from the
# IANA registry Python carries; 494 is nginx's own code (its page title).
_NGINX_REASONS = {302: "Moved Temporarily", 413: "Request Entity Too Large", 414: "Request-URI Too Large",
                  416: "Requested Range Not Satisfiable", 494: "Request Header Or Cookie Too Large"}
_REASONS = {int(s): s.phrase for s in HTTPStatus} | _NGINX_REASONS


def reason_phrase(status: int) -> str:
    """The reason phrase of purekong's own status lines (nginx's; the registry's
    for codes nginx has no line for, so that parsers needing one, like h2load's,
    count the response; "Unknown" past both)."""
    return _REASONS.get(status, "Unknown")


_date_cache: tuple[int, str] = (0, "")


def http_date() -> str:
    """The ``Date`` header's value now (IMF-fixdate), computed once a second."""
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, formatdate(now, usegmt=True))
    return _date_cache[1]


def common_headers(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """What nginx adds to every response: ``Date`` and ``Server``, unless the
    response (a proxied one: Kong passes the upstream's) already has them."""
    names = {k.lower() for k, _ in headers}
    extra = [(k, v) for k, v in (("Date", http_date()), ("Server", SERVER_TOKEN)) if k.lower() not in names]
    return extra + headers


@dataclass
class HTTPRequest:
    method: str
    target: str
    headers: list[tuple[str, str]]  # names in the client's case
    body: bytes
    http_version: str
    #: Without request buffering: the body, chunk by chunk (``body`` is b"").
    body_stream: "BodyStream | None" = None
    #: Bytes of the request line and headers as received (for ``$request_length``).
    head_size: int = 0

    @property
    def size(self) -> int:
        """nginx's ``$request_length``: request line, headers and body (as received so far)."""
        return self.head_size + (self.body_stream.received if self.body_stream is not None else len(self.body))

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)


@dataclass
class Reply:
    """What the handler answers: a status, headers and a body.

    ``body`` is bytes, or an async iterator of chunks (streamed: chunked
    encoding unless a Content-Length header says otherwise).
    """

    status: int
    headers: list[tuple[str, str]]
    body: bytes | AsyncIterator[bytes] = b""
    close: bool = False  # close the connection after this response
    #: The status line's reason phrase; None: :func:`reason_phrase` (a proxied
    #: response keeps the upstream's, as nginx does while the status is its).
    reason: str | None = None
    #: A 101's: takes the connection over once the 101 is sent (``tunnel(stream,
    #: leftover)``, the bytes it sent to the client back); see :mod:`._websocket`.
    tunnel: Callable[[Stream, bytes], Awaitable[int]] | None = None


@dataclass
class Sent:
    """How a reply went out: the body bytes sent, and whether all of it was
    (filled in as it goes, so a reply cut short still says how far it got)."""

    body_bytes: int = 0
    complete: bool = False


class RequestCycle(Protocol):
    """One request as the HTTP layer drives it: ``respond()``, the reply is
    sent, then ``finish()`` (``server/_request.py``'s ``Exchange`` is one)."""

    def respond(self) -> Awaitable[Reply]:
        """The reply to send (an ``async def`` gives one)."""
        ...

    def finish(self, sent: Sent) -> Awaitable[None] | None:
        """After the reply went out (or failed to): the request's last step;
        an awaitable when it has something to wait on (an ``async def`` does),
        else done on return (None)."""
        ...


#: Makes the request cycle for each request of a connection.
Handler = Callable[["HTTPRequest"], RequestCycle]


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


#: The connection's next h11 event within a timeout (None: the timeout passed).
_NextEvent = Callable[[float], Awaitable[object]]
_SendEvent = Callable[[h11.Event], Awaitable[None]]


class BodyTooLarge(Exception):
    """A streamed request body went over ``max_body_size`` (answer 413 if you still can)."""


class BodyStream:
    """A request body as it arrives (unbuffered requests): ``async for chunk in stream``.

    Iterate it at most once. ``ClientGone`` when the client stalls or goes
    away mid-body, ``BodyTooLarge`` past the limit. ``length`` is the
    client's Content-Length, if it sent one.
    """

    def __init__(self, conn: h11.Connection, next_event: _NextEvent, send: _SendEvent, limits: Limits, length: int | None) -> None:
        self._conn, self._next_event, self._send, self._limits = conn, next_event, send, limits
        self.length = length
        self.received = 0
        self.complete = False
        self._started = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        if self._started:
            raise RuntimeError("a request body stream can be read once")
        self._started = True
        if self._conn.they_are_waiting_for_100_continue:
            await self._send(h11.InformationalResponse(status_code=100, headers=[]))
        async for chunk in _client_body(self._next_event, self._limits):
            self.received += len(chunk)
            if self._limits.max_body_size and self.received > self._limits.max_body_size:
                raise BodyTooLarge(f"request body over {self._limits.max_body_size} bytes")
            yield chunk
        self.complete = True


async def message_body(next_event: Callable[[], Awaitable[object]], closed: Callable[[], Exception]) -> AsyncIterator[bytes]:
    """The data of one h11 message, chunk by chunk, up to its EndOfMessage.

    ``next_event()`` is the connection's next h11 event (it raises on a
    timeout); ``closed()`` the exception for a peer that closed mid-body.
    Both sides use it: the client's request body and the upstream's response body.
    """
    while True:
        event = await next_event()
        if isinstance(event, h11.Data):
            yield bytes(event.data)
        elif isinstance(event, h11.EndOfMessage):
            return
        elif isinstance(event, h11.ConnectionClosed):
            raise closed()


def _client_body(next_event: _NextEvent, limits: Limits) -> AsyncIterator[bytes]:
    """A request body, each read within the client timeout."""

    async def next_body_event() -> object:
        event = await next_event(limits.timeouts.client)
        if event is None:
            raise ClientGone("client stalled in the request body")
        return event

    return message_body(next_body_event, lambda: ClientGone("client closed in the request body"))


def error_reply(status: int, message: str | None = None, *, close: bool = False) -> Reply:
    """The server's own error page, with Kong's body for ``status``."""
    body = cjson_encode({"message": message or default_message(status)})
    headers = [("Content-Type", JSON_CONTENT_TYPE), ("Content-Length", str(len(body)))]
    return Reply(status, headers, body, close=close)


_NO_BODY_STATUSES = frozenset({204, 304})


class ConnectionState:
    """What the gateway can see of a connection (for shutdown)."""

    def __init__(self) -> None:
        self.idle = True  # between requests: safe to close at shutdown
        self.requests = 0
        self._drain = asyncio.Event()

    @property
    def draining(self) -> bool:
        """The server is stopping: close after this response (HTTP/2: GOAWAY now)."""
        return self._drain.is_set()

    @draining.setter
    def draining(self, value: bool) -> None:
        if value:
            self._drain.set()
        else:
            self._drain.clear()

    async def wait_draining(self) -> None:
        await self._drain.wait()


async def serve_connection(stream: Stream, handler: Handler, limits: Limits, state: ConnectionState | None = None) -> None:
    """Serve HTTP/1.1 requests on ``stream`` until either side closes it."""
    state = state or ConnectionState()
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=limits.max_request_head)

    fed = 0  # bytes handed to h11 since this request began (for the head limit)
    receive_by = stream.receive_by
    loop_time = asyncio.get_running_loop().time

    async def next_event(timeout: float, ends: float | None = None) -> object:
        """The next h11 event, each read within ``timeout`` (None once it passes);
        for a request head, never past ``ends``, when the whole head must be in.
        A deadline is a float handed to the stream (its one timer per connection)."""
        nonlocal fed
        while True:
            event = conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            deadline = loop_time() + timeout
            if ends is not None and deadline > ends:
                deadline = ends
            data = await receive_by(deadline)
            if data is None:
                return None
            fed += len(data)
            conn.receive_data(data)  # b"" = EOF; h11 turns it into ConnectionClosed or an error

    async def send(event: h11.Event) -> None:
        data = conn.send(event)
        if data:
            await stream.send(data)

    while True:
        state.idle = True
        if state.draining:
            return
        reply: Reply | None = None
        fed = len(conn.trailing_data[0])  # a pipelined request already buffered
        try:
            # The whole head within the deadline (nginx's client_header_timeout;
            # a byte now and then does not keep a connection alive), after up to
            # idle_timeout of keep-alive silence.
            per_read = limits.timeouts.idle if state.requests else limits.timeouts.client
            ends = loop_time() + (limits.timeouts.idle if state.requests else 0) + limits.timeouts.client
            event = await next_event(per_read, ends)
            state.idle = False
            if event is None or isinstance(event, h11.ConnectionClosed):
                return  # idle timeout, or the client closed between requests
            assert isinstance(event, h11.Request), event
            # h11 only limits a head that is still incomplete; a whole one that
            # arrived in one go is measured here (what was fed, minus what h11
            # has not parsed yet).
            head_size = fed - len(conn.trailing_data[0])
            if head_size > limits.max_request_head:
                raise _BadRequest(494, "request head too large")
            if limits.request_buffering or _has_no_body(event):
                request = await _read_request(conn, event, next_event, send, limits)
            else:
                request = _streamed_request(conn, event, next_event, send, limits)
            request.head_size = head_size
        except h11.RemoteProtocolError as exc:
            # h11 hints 431 for an oversized head; Kong (nginx) answers 494 there.
            status = 494 if exc.error_status_hint == 431 else 400
            reply = error_reply(status, close=True)
            request = None
        except _BadRequest as exc:
            reply = error_reply(exc.status, close=True)
            request = None
        except ClientGone:
            return
        state.requests += 1
        cycle: RequestCycle | None = None
        if request is not None:
            try:
                cycle = handler(request)
                reply = await cycle.respond()
            except ClientGone:
                return
            except Exception:
                _log.exception("handler failed for %s %s", request.method, request.target)
                cycle, reply = None, error_reply(500)
        assert reply is not None
        if reply.tunnel is not None and conn.their_state is h11.MIGHT_SWITCH_PROTOCOL:
            await _switch_protocols(conn, stream, reply, cycle)
            return  # the connection was the tunnel's
        if state.draining:
            reply.close = True
        if request is not None and request.body_stream is not None and not request.body_stream.complete:
            reply.close = True  # the rest of the body is still on the wire: this connection is done
        sent = Sent()
        try:
            await _send_reply(conn, stream.send, reply, request, sent)
        finally:
            # The request's last step, however the reply ended (even when the
            # task is cancelled at shutdown).
            if cycle is not None:
                pending = _finish_now(cycle, sent)
                if pending is not None:
                    await finish_cycle(cycle, sent, pending)
        if not sent.complete or reply.close or conn.our_state is h11.MUST_CLOSE or conn.their_state is not h11.DONE:
            return
        try:
            conn.start_next_cycle()
        except h11.LocalProtocolError:
            return


def _head_fields(head: h11.Request, limits: Limits) -> tuple[list[tuple[str, str]], int | None]:
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in head.headers.raw_items()]
    text = next((v for k, v in headers if k.lower() == "content-length"), None)
    length = int(text) if text is not None and text.isdigit() else None  # h11 validated it
    if limits.max_body_size and length is not None and length > limits.max_body_size:
        raise _BadRequest(413, "body too large")
    return headers, length


def _has_no_body(head: h11.Request) -> bool:
    names = dict(head.headers)  # h11 gives the names lower-cased
    return b"transfer-encoding" not in names and names.get(b"content-length", b"0") == b"0"


def _streamed_request(conn: h11.Connection, head: h11.Request, next_event: _NextEvent, send: _SendEvent, limits: Limits) -> HTTPRequest:
    headers, length = _head_fields(head, limits)
    return HTTPRequest(
        method=head.method.decode("ascii"),
        target=head.target.decode("latin-1"),
        headers=headers,
        body=b"",
        http_version=head.http_version.decode("ascii"),
        body_stream=BodyStream(conn, next_event, send, limits, length),
    )


async def _read_request(conn: h11.Connection, head: h11.Request, next_event: _NextEvent, send: _SendEvent, limits: Limits) -> HTTPRequest:
    headers, _ = _head_fields(head, limits)
    if conn.they_are_waiting_for_100_continue:
        await send(h11.InformationalResponse(status_code=100, headers=[]))
    # The events read directly rather than through _client_body's generators:
    # most requests have no body, their EndOfMessage already parsed.
    body = bytearray()
    while True:
        event = await next_event(limits.timeouts.client)
        if type(event) is h11.Data:
            body += event.data
            if limits.max_body_size and len(body) > limits.max_body_size:
                raise _BadRequest(413, "body too large")
        elif type(event) is h11.EndOfMessage:
            break
        elif event is None:
            raise ClientGone("client stalled in the request body")
        elif type(event) is h11.ConnectionClosed:
            raise ClientGone("client closed in the request body")
    return HTTPRequest(
        method=head.method.decode("ascii"),
        target=head.target.decode("latin-1"),
        headers=headers,
        body=bytes(body),
        http_version=head.http_version.decode("ascii"),
    )


def _response_head(reply: Reply) -> h11.Response:
    """``reply``'s head for h11, in one pass over its headers: nginx's Date and
    Server first unless the reply has them (:func:`common_headers`), the reply's
    own headers but Connection and Keep-Alive (ours to set; an upgrade token
    stays, as in Kong's 426 "Connection: Upgrade"; keep-alive is h11's default),
    then Content-Length for a whole body without framing, then Connection."""
    headers: list[tuple[bytes, bytes]] = []
    date = server = framed = upgrade = False
    for name, value in reply.headers:
        lower = name.lower()
        if lower == "connection":
            upgrade = upgrade or "upgrade" in value.lower()
            continue
        if lower == "keep-alive":
            continue
        if lower == "date":
            date = True
        elif lower == "server":
            server = True
        elif lower == "content-length" or lower == "transfer-encoding":
            framed = True
        headers.append((name.encode("latin-1"), (value if type(value) is str else str(value)).encode("latin-1")))
    if not server:
        headers.insert(0, (b"Server", _SERVER_TOKEN_BYTES))
    if not date:
        headers.insert(0, (b"Date", http_date().encode("latin-1")))
    body = reply.body
    if isinstance(body, (bytes, bytearray)) and not framed and reply.status not in _NO_BODY_STATUSES:
        headers.append((b"Content-Length", str(len(body)).encode("ascii")))
    if reply.close or upgrade:
        headers.append((b"Connection", b", ".join([b"upgrade"] * upgrade + [b"close"] * reply.close)))
    reason = reply.reason if reply.reason is not None else reason_phrase(reply.status)
    return validated_response(reply.status, headers, reason.encode("latin-1"))


# Header fields h11 has already validated one by one (its name and value
# rules, a lone Content-Length's or Transfer-Encoding's value): a keep-alive
# connection sends the same few fields again and again (Kong's own among
# them), and h11's two regular expressions per field were most of the head's
# cost. Bounded: cleared when full (Date alone adds one a second).
_VALID_FIELDS: set[tuple[bytes, bytes]] = set()
_VALID_FIELDS_MAX = 4096


def validated_response(status: int, headers: list[tuple[bytes, bytes]], reason: bytes) -> h11.Response:
    """``h11.Response(status_code=status, headers=headers, reason=reason)`` (a
    CR or LF from a plugin or an app never reaches the wire), each field
    checked by h11 once (remembered in ``_VALID_FIELDS``), not per response.

    A field seen for the first time is checked by h11's own validation of a
    head holding it alone; the whole head then goes through h11's
    normalisation of already-checked fields (lower-cased names, the checks
    between fields: several Content-Lengths, several Transfer-Encodings).
    A field h11 refuses is refused by the full validating construction, so
    the error is h11's own, as before."""
    if type(status) is not int:
        return h11.Response(status_code=status, headers=headers, reason=reason)  # h11 makes it one
    valid = _VALID_FIELDS
    for field in headers:
        if field not in valid:
            try:
                h11.Response(status_code=200, headers=[field])
            except h11.LocalProtocolError:
                return h11.Response(status_code=status, headers=headers, reason=reason)  # raises h11's error
            if len(valid) >= _VALID_FIELDS_MAX:
                valid.clear()
            valid.add(field)
    return h11.Response(status_code=status, headers=headers, reason=reason, _parsed=True)


async def _send_reply(conn: h11.Connection, send_bytes: Callable[[bytes], Awaitable[None]], reply: Reply, request: HTTPRequest | None, sent: Sent) -> None:
    """Send ``reply``, recording in ``sent`` how far it got (not complete: the connection must end)."""
    body = reply.body
    try:
        if conn.our_state not in (h11.SEND_RESPONSE, h11.IDLE):
            return  # e.g. a protocol error before h11 saw a request line
        no_body = reply.status in _NO_BODY_STATUSES or (request is not None and request.method == "HEAD")
        head = _response_head(reply)
        if isinstance(body, (bytes, bytearray)):
            # One write (one TLS record) for the whole response.
            data = conn.send(head) or b""
            if body and not no_body:
                data += conn.send(h11.Data(data=bytes(body))) or b""
                sent.body_bytes = len(body)
            await send_bytes(data + (conn.send(h11.EndOfMessage()) or b""))
        else:
            # Streamed: the head goes out with the first chunk, then each chunk
            # as it arrives (a slow upstream must not hold the head back either,
            # so at most the first chunk is waited for).
            pending = conn.send(head) or b""
            async for chunk in body:
                if chunk and not no_body:
                    pending += conn.send(h11.Data(data=chunk)) or b""
                    sent.body_bytes += len(chunk)
                    await send_bytes(pending)
                    pending = b""
            await send_bytes(pending + (conn.send(h11.EndOfMessage()) or b""))
        sent.complete = True
    except (ClientGone, h11.LocalProtocolError) as exc:
        _log.debug("response not completed: %s", exc)
    except Exception as exc:  # noqa: BLE001 - the service failed mid-body: this connection ends
        _log.error("response to %s %s failed mid-body: %s", request.method if request else "?", request.target if request else "?", exc)
    finally:
        aclose = getattr(body, "aclose", None)
        if aclose is not None:
            try:
                await aclose()  # release the upstream connection
            except Exception:  # noqa: BLE001 - cleanup must not mask the real outcome
                pass


async def _switch_protocols(conn: h11.Connection, stream: Stream, reply: Reply, cycle: RequestCycle | None) -> None:
    """Send the 101, hand the connection to ``reply.tunnel``, finish the request when it ends."""
    assert reply.tunnel is not None
    sent = Sent()
    skip = ("connection", "keep-alive", "content-length", "transfer-encoding")
    headers = common_headers([(k, v) for k, v in reply.headers if k.lower() not in skip]) + [("Connection", "Upgrade")]
    try:
        await stream.send(conn.send(h11.InformationalResponse(
            status_code=101, reason=(reply.reason or reason_phrase(101)).encode("latin-1"),
            headers=[(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers])) or b"")
        sent.body_bytes = await reply.tunnel(stream, conn.trailing_data[0])
        sent.complete = True
    except ClientGone as exc:
        _log.debug("upgraded connection ended: %s", exc)
    finally:
        if cycle is not None:
            await finish_cycle(cycle, sent)


def _finish_now(cycle: RequestCycle, sent: Sent) -> Awaitable[None] | None:
    """``cycle.finish(sent)`` up to what it must wait on (returned), its failure logged, never raised."""
    try:
        return cycle.finish(sent)
    except Exception:
        _log.exception("finishing the request failed")
        return None


async def finish_cycle(cycle: RequestCycle, sent: Sent, pending: Awaitable[None] | None = None) -> None:
    """``cycle.finish(sent)`` (or the awaitable it already gave, ``pending``), its failure logged, never raised."""
    try:
        if pending is None:
            pending = cycle.finish(sent)
        if pending is not None:
            await pending
    except Exception:
        _log.exception("finishing the request failed")
