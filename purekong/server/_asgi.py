"""ASGI 3 applications hosted in-process, as the upstream of a service.

A service with ``asgi = "module:attr"`` is called like an upstream: the
request after the plugins' ``kong.service.request`` edits goes in, the
response comes back as an :class:`ASGIResponse` with the same shape as
:class:`~purekong.server._proxy.UpstreamResponse` (status and headers first,
the body streamed), so plugins, logging and streaming work the same.

The scope carries the ASGI TLS extension (asgiref ``specs/tls.rst``) filled
in completely, because the engine sees what OpenSSL-based servers cannot
give: ``server_cert`` (the certificate chosen for this connection by SNI),
the client's chain exactly as sent, ``client_cert_name`` and
``client_cert_error`` (the ``FAILED:`` reason of ``$ssl_client_verify``).
purekong also adds ``extensions["purekong.tls"]`` with nginx's view
(version and cipher names, SNI, ALPN, ``client_verify``).
"""

from __future__ import annotations

import asyncio
import collections
import importlib
import logging
import sys
from pathlib import Path
from typing import Any, AsyncIterable, AsyncIterator, Callable
from urllib.parse import unquote

from cryptography import x509

from purekong.engine import HandshakeComplete

from ._http import BodyTooLarge
from ._proxy import UpstreamInvalidResponse, UpstreamTimeout

_log = logging.getLogger("purekong.serve")

#: An ASGI 3 application: ``await app(scope, receive, send)``.
ASGIApp = Callable[..., Any]

_TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}
_HTTP_VERSIONS = {"1.0": "1.0", "2.0": "2", "2": "2"}  # the scope's; anything else is "1.1"


def load_app(spec: str, *, search_first: Path | None = None) -> ASGIApp:
    """``"package.module:attribute"`` (dots after the colon walk attributes).

    The module is looked for in ``search_first`` (the configuration file's
    directory), then the working directory, then ``sys.path``; both stay on
    ``sys.path``, as uvicorn's ``--app-dir`` does, so the app's own imports work.
    """
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"expected 'module:attribute', got {spec!r}")
    for directory in (Path.cwd(), search_first):  # the config's directory ends up first
        if directory is not None and str(directory) not in sys.path:
            sys.path.insert(0, str(directory))
    try:
        obj = importlib.import_module(module_name)
    except Exception as exc:
        raise ValueError(f"cannot import {module_name!r}: {exc!r}") from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ValueError(f"{module_name!r} has no attribute {attr!r}") from None
    if not callable(obj):
        raise ValueError(f"{spec!r} is not callable")
    return obj


def tls_extension(*, server_cert_pem: str | None, handshake: HandshakeComplete, client_verify: str) -> dict[str, Any]:
    """``scope["extensions"]["tls"]`` per the ASGI TLS extension."""
    from purekong.engine import der_to_pem
    from purekong.engine._suites import BY_IANA

    chain = [der_to_pem(der) for der in (handshake.peer_certificates or ())]
    name = None
    if handshake.peer_certificates:
        try:
            name = x509.load_der_x509_certificate(handshake.peer_certificates[0]).subject.rfc4514_string()
        except ValueError:
            name = None
    suite = BY_IANA.get(handshake.cipher_suite)
    return {
        "server_cert": server_cert_pem,
        "client_cert_chain": chain,
        "client_cert_name": name,
        # The spec: None when verification succeeded (or no certificate); else the reason.
        "client_cert_error": client_verify[len("FAILED:"):] if client_verify.startswith("FAILED:") else None,
        "tls_version": _TLS_VERSIONS.get(handshake.version),
        "cipher_suite": suite.code if suite else None,
    }


def build_scope(
    *,
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    http_version: str,
    scheme: str,
    client: tuple[str, int],
    server: tuple[str, int],
    extensions: dict,
    state: dict[str, Any] | None = None,
) -> dict:
    """The ASGI HTTP scope, with every field uvicorn fills (``state``: a
    shallow copy of the app's lifespan state, per request, as uvicorn gives)."""
    path, _, query = target.partition("?")
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": _HTTP_VERSIONS.get(http_version, "1.1"),
        "method": method,
        "scheme": scheme,
        "path": unquote(path),
        "raw_path": path.encode("latin-1"),
        "query_string": query.encode("latin-1"),
        "root_path": "",
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
        "client": client,
        "server": server,
        "state": dict(state or {}),
        "extensions": extensions,
    }


class _BodyQueue:
    """The app's body messages on their way to the reader (unbounded, one
    reader): what an ``asyncio.Queue`` does here, without its bookkeeping."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: collections.deque[Any] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None

    def put(self, item: Any) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self, timeout: float) -> Any:
        """The next item; TimeoutError if none comes within ``timeout`` s."""
        if not self._items:  # usually there is one: the app runs ahead of the reader
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                async with asyncio.timeout(timeout):
                    await waiter
            finally:
                self._waiter = None
        return self._items.popleft()


class ASGIResponse:
    """An application's response: head now, body streamed from a queue."""

    def __init__(self, status: int, headers: list[tuple[str, str]], queue: _BodyQueue, task: asyncio.Task, disconnected: asyncio.Event, timeout: float) -> None:
        self.status, self.headers = status, headers
        self.http_version = "1.1"
        self.reason: str | None = None  # ASGI has none: the server's phrase
        self.body_bytes = 0
        self._queue, self._task, self._disconnected, self._timeout = queue, task, disconnected, timeout

    async def iter_body(self) -> AsyncIterator[bytes]:
        try:
            while True:
                try:
                    item = await self._queue.get(self._timeout)
                except TimeoutError:
                    raise UpstreamTimeout(f"the application sent nothing for {self._timeout:g} s") from None
                if isinstance(item, BaseException):
                    raise UpstreamInvalidResponse(f"the application failed mid-body: {item!r}")
                chunk, more = item
                if chunk:
                    self.body_bytes += len(chunk)
                    yield chunk
                if not more:
                    return
        finally:
            self.release()

    async def read(self) -> bytes:
        return b"".join([c async for c in self.iter_body()])

    def whole_body(self, length: int) -> bytes | None:
        """The whole body, taken now, when the app has already returned having
        sent all of it and it is ``length`` bytes (a small response usually has:
        one task step sent the head and the body); else None and the body is
        streamed (:meth:`iter_body`)."""
        items = self._queue._items
        if not self._task.done() or not items or isinstance(items[-1], BaseException) or items[-1][1]:
            return None
        # Only chunks are queued before the last one (an exception is always last).
        body = b"".join([chunk for chunk, _ in items])
        if len(body) != length:
            return None
        items.clear()
        self.body_bytes += len(body)
        self.release()
        return body

    def release(self) -> None:
        # The client got everything (or went away): the app's receive() now
        # returns http.disconnect; a task still running after that is cancelled.
        self._disconnected.set()
        if not self._task.done():
            self._task.get_loop().call_later(5.0, self._task.cancel)


async def call_app(app: ASGIApp, scope: dict[str, Any], body: bytes | AsyncIterable[bytes], *, timeout: float = 60.0) -> ASGIResponse:
    """Run ``app`` for one request; return once it sent ``http.response.start``.

    ``body`` is bytes, or (unbuffered requests) an async iterable of the
    chunks as the client sends them, handed out one ``http.request`` each.
    """
    loop = asyncio.get_running_loop()
    started: asyncio.Future = loop.create_future()
    queue = _BodyQueue()
    disconnected = asyncio.Event()
    whole = bytes(body) if isinstance(body, (bytes, bytearray)) else None
    chunks = None if isinstance(body, (bytes, bytearray)) else body.__aiter__()
    request_sent = False
    finished = False
    abandoned = False  # we stopped waiting for the head (timeout, cancelled): the app is being cancelled
    too_large: BodyTooLarge | None = None  # the client's body went over max_body_size

    async def receive() -> dict[str, Any]:
        nonlocal request_sent, too_large
        if not request_sent:
            if chunks is None:
                request_sent = True
                return {"type": "http.request", "body": whole, "more_body": False}
            try:
                return {"type": "http.request", "body": await chunks.__anext__(), "more_body": True}
            except StopAsyncIteration:
                request_sent = True
                return {"type": "http.request", "body": b"", "more_body": False}
            except BodyTooLarge as exc:  # the app sees a disconnect; the client gets 413
                request_sent, too_large = True, exc
                disconnected.set()
            except Exception:  # the client went away mid-body
                request_sent = True
                disconnected.set()
        await disconnected.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal finished
        kind = message.get("type")
        if kind == "http.response.start":
            if abandoned:
                return
            if started.done():
                raise RuntimeError("http.response.start sent twice")
            if too_large is not None:
                started.set_exception(too_large)  # whatever it answers, the client gets Kong's 413
                return
            status = int(message["status"])
            headers = [(bytes(k).decode("latin-1"), bytes(v).decode("latin-1")) for k, v in message.get("headers", [])]
            started.set_result((status, headers))
        elif kind == "http.response.body":
            if not started.done():
                raise RuntimeError("http.response.body before http.response.start")
            if finished or disconnected.is_set():
                return  # the client is gone: ASGI says sending then is a no-op
            more = bool(message.get("more_body", False))
            queue.put((bytes(message.get("body", b"")), more))
            finished = not more
        else:
            raise RuntimeError(f"unsupported ASGI message type {kind!r}")

    async def run() -> None:
        try:
            await app(scope, receive, send)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - the app's failure is the request's 502
            if too_large is not None:  # it failed on the disconnect: not its fault, no traceback
                _log.info("ASGI application ended on a request body over the limit: %r", exc)
                if not started.done():
                    started.set_exception(too_large)
                return
            _log.exception("ASGI application failed for %s %s", scope["method"], scope["path"])
            if not started.done():
                started.set_exception(UpstreamInvalidResponse(f"the application failed: {exc!r}"))
            elif not finished:
                queue.put(exc)
            return
        if not started.done():
            started.set_exception(too_large or UpstreamInvalidResponse("the application returned without a response"))
        elif not finished:
            queue.put((b"", False))

    def expire() -> None:
        if not started.done():
            started.set_exception(_HeadTimeout())

    task = asyncio.create_task(run())
    # One timer, not an asyncio.timeout: the app's start message or the timer
    # settles `started`; a cancelled wait leaves it to the app (abandoned).
    # The deadline counts from now, but the timer is armed only after the
    # app's first step (the next callback after it), if that step did not
    # send the head: most apps do, and then no timer is made per request.
    deadline = loop.time() + timeout
    timer: asyncio.TimerHandle | None = None

    def arm() -> None:
        nonlocal timer
        if not started.done() and not abandoned:
            timer = loop.call_at(deadline, expire)

    loop.call_soon(arm)
    try:
        status, headers = await started
    except _HeadTimeout:
        abandoned = True
        task.cancel()
        raise UpstreamTimeout(f"the application did not respond within {timeout:g} s") from None
    except BaseException:
        abandoned = True
        disconnected.set()
        task.cancel()
        raise
    finally:
        if timer is not None:
            timer.cancel()
    return ASGIResponse(status, headers, queue, task, disconnected, timeout)


class _HeadTimeout(Exception):
    """The app sent no ``http.response.start`` in time (call_app's timer)."""


class Lifespan:
    """The ASGI lifespan protocol, best effort: apps that don't speak it are fine.

    The lifespan scope's ``state`` (what an app's startup stores there) is
    kept per app, and each request scope gets a shallow copy of it.
    """

    _states: dict[int, dict[str, Any]] = {}  # id(app) -> its lifespan state

    @classmethod
    def state_of(cls, app: ASGIApp) -> dict[str, Any]:
        return cls._states.get(id(app), {})

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.state: dict[str, Any] = {}
        self._inbox: asyncio.Queue = asyncio.Queue()
        self._outbox: asyncio.Queue = asyncio.Queue()
        self._task: asyncio.Task | None = None
        self.supported = True

    async def startup(self, timeout: float = 30.0) -> None:
        async def receive() -> dict[str, Any]:
            return await self._inbox.get()

        async def send(message: dict[str, Any]) -> None:
            await self._outbox.put(message)

        async def run() -> None:
            try:
                await self.app({"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": self.state}, receive, send)
            except BaseException:  # noqa: BLE001 - "unsupported" per the spec
                self.supported = False
            await self._outbox.put(None)

        Lifespan._states[id(self.app)] = self.state
        self._task = asyncio.create_task(run())
        await self._inbox.put({"type": "lifespan.startup"})
        async with asyncio.timeout(timeout):
            message = await self._outbox.get()
        if message is None:
            self.supported = False
        elif message["type"] == "lifespan.startup.failed":
            raise RuntimeError(f"ASGI startup failed: {message.get('message', '')}")

    async def shutdown(self, timeout: float = 10.0) -> None:
        if not self.supported or self._task is None:
            return
        await self._inbox.put({"type": "lifespan.shutdown"})
        try:
            async with asyncio.timeout(timeout):
                await self._outbox.get()
        except TimeoutError:
            self._task.cancel()
