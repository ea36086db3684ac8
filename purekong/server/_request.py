"""One request through the gateway, from route to access log.

:class:`Exchange` is the single place a request flows through, in this order:

1. :meth:`Exchange.respond`: route (``purekong.gateway.Router``), then the
   route's runner (Kong's plugins iterator) for rewrite, access and balancer;
   a plugin may answer here. Otherwise the request goes to the service: an
   upstream over HTTP (:mod:`._proxy`) or an ASGI app (:mod:`._asgi`), with
   Kong's forwarding headers. The response phases (response, header_filter,
   body_filter, log) run on the buffered response, or, when no plugin needs
   to see it, the body is streamed and only its head is built now.
2. The HTTP layer (:mod:`._http`) sends the :class:`~._http.Reply`.
3. :meth:`Exchange.finish`: the last step, after the reply went out or
   failed to. A streamed response's log phase runs here (with its size as a
   :class:`~purekong.pdk.StreamedBody`), then the access log line is written.

Errors become Kong's error pages: 503 route without a service, 413 body too
large, 502 upstream failure, 504 upstream timeout.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterable, Callable, TypeVar, Union

from purekong._hostport import split_host_port, strip_brackets
from purekong.engine import HandshakeComplete
from purekong.gateway import RouteMatch, Service
from purekong.pdk import (
    JSON_CONTENT_TYPE,
    WORKER_STATISTICS,
    ConnectionInfo,
    KongContext,
    Request,
    Response,
    StreamedBody,
    UpstreamRequest,
    cjson_encode,
    default_message,
)
from purekong.runner import Outcome, Runner

from . import _asgi, _proxy, _websocket
from ._access_log import RequestLog
from ._config import LoadedConfig
from ._http import SERVER_TOKEN, BodyTooLarge, ConnectionState, HTTPRequest, Reply, Sent
from ._plugin_threads import PluginThreads, PluginTimeout
from ._settings import Listener

__all__ = ["Client", "Exchange", "RequestHandler", "VIA"]

_log = logging.getLogger("purekong.serve")

#: Kong's outbound Via (``proxy_http_version .. " " .. SERVER_HEADER``).
VIA = f"1.1 {SERVER_TOKEN}"

T = TypeVar("T")

# What the service answered: an upstream's response or an ASGI app's, same
# shape; or, to a WebSocket upgrade, either one's 101 and tunnel.
_ServiceResponse = Union[_proxy.UpstreamResponse, _asgi.ASGIResponse, _websocket.WebSocketResponse]


@dataclass
class Client:
    """One accepted connection as the request side sees it."""

    listener: Listener
    info: ConnectionInfo
    server_cert_pem: str | None = None
    handshake: HandshakeComplete | None = None
    state: ConnectionState = field(default_factory=ConnectionState)


class RequestHandler:
    """What the requests of one worker share: the configuration, the upstream
    pool and the request log (access lines and metrics). Makes one :class:`Exchange` per request."""

    def __init__(self, config: LoadedConfig, pool: _proxy.UpstreamPool, access_log: RequestLog | None,
                 plugin_threads: PluginThreads | None = None) -> None:
        self.config, self.pool, self.access_log = config, pool, access_log
        #: Where Kong Python plugins' phases run (None: inline, on the event loop).
        self.plugin_threads = plugin_threads
        # id(route or service) -> (it, its dict): built once per entity of this
        # configuration (a reload makes a new handler), copied per request.
        self._entity_dicts: dict[int, tuple[Any, dict[str, Any]]] = {}

    def entity_dict(self, entity: Any) -> dict[str, Any]:
        """A route or service as the PDK shows it (``kong.router.get_route()``):
        a fresh copy each time, since a plugin may change what it is given."""
        cached = self._entity_dicts.get(id(entity))
        if cached is None or cached[0] is not entity:
            cached = self._entity_dicts[id(entity)] = (entity, _entity_dict(entity))
        return {k: _copied(v) if type(v) is list else v for k, v in cached[1].items()}

    def exchange(self, client: Client, req: HTTPRequest) -> "Exchange":
        return Exchange(self, client, req)


class Exchange:
    """One request: :meth:`respond`, then (after the reply is sent) :meth:`finish`."""

    def __init__(self, handler: RequestHandler, client: Client, req: HTTPRequest) -> None:
        self.handler, self.client, self.req = handler, client, req
        self.started = time.time()
        self.outcome: Outcome | None = None
        #: A plugin call timed out: the client got a 500 and no phase runs any more.
        self.timed_out = False
        self.match: RouteMatch | None = None
        self._runner: Runner | None = None
        self._streamed: tuple[int, list[tuple[str, str]]] | None = None  # status and headers
        self._counted = False  # in WORKER_STATISTICS.connections_writing
        # Kong's ctx.KONG_* timestamps (seconds): access ended (the request goes
        # to the service), the service's head arrived, its body did.
        self._proxied_at: float | None = None
        self._head_at: float | None = None
        self._body_at: float | None = None
        self._upstream_via: str | None = None
        self._ctx: KongContext | None = None
        self._plugin_started: Callable[[str, str], None] | None = None  # the current plugin-thread job's

    # -- 1. respond ------------------------------------------------------------------
    async def respond(self) -> Reply:
        client, req, config = self.client, self.req, self.handler.config
        WORKER_STATISTICS.total_requests += 1
        WORKER_STATISTICS.connections_writing += 1  # until finish(): nginx's "writing"
        self._counted = True
        protocol = "https" if client.listener.ssl else "http"
        match = self.match = config.router.match(
            protocol=protocol, method=req.method, host=req.header("host"), path=req.target, sni=client.info.tls.server_name
        )
        runner = self._runner = config.plugins.runner_for(match, protocol)
        request = Request(
            method=req.method,
            target=req.target,
            headers=req.headers,
            body=req.body,
            http_version=req.http_version,
            route=self.handler.entity_dict(match.route) if match else None,
            service=self.handler.entity_dict(match.service) if match and match.service else None,
            start_time=self.started,
            forwarded_prefix=match.stripped_prefix if match and match.stripped_prefix != "/" else None,
        )
        try:
            outcome = self.outcome = await self._phases(lambda: runner.run_request(client.info, request, prepare=self._prepare))
            if not outcome.proxy:
                return self._buffered_reply(await self._phases(lambda: runner.run_response(outcome, log=False)))
        except PluginTimeout:
            return self._timed_out()
        assert match is not None
        if match.service is None:
            # Kong: a route without a service, and no plugin answered.
            return await self._error_reply(503, "no Service found with those values")
        return await self._forward(match, match.service, runner, outcome)

    async def _forward(self, match: RouteMatch, service: Service, runner: Runner, outcome: Outcome) -> Reply:
        req = self.req
        assert outcome.upstream is not None
        self._proxied_at = time.time()
        try:
            upstream = await self._call_service(match, service, outcome.upstream)
        except BodyTooLarge:
            return await self._error_reply(413, default_message(413))
        except _proxy.UpstreamError as exc:
            _log.error("upstream failure for %s %s (service %s): %s", req.method, req.target, service.name or service.id, exc)
            return await self._error_reply(exc.status, default_message(504) if exc.status == 504 else None)
        self._head_at = time.time()
        if isinstance(upstream, _websocket.WebSocketResponse):
            return self._upgraded(upstream)
        head = _proxy.strip_hop_by_hop(upstream.headers)
        vias = [v for k, v in head if k.lower() == "via"]
        self._upstream_via = ", ".join(vias) if vias else None
        reason = upstream.reason

        if any(runner.needs_phase(p) for p in ("response", "header_filter", "body_filter")):
            # A plugin may read or rewrite the response: buffer it (Kong does
            # too for the response phase).
            try:
                body = await upstream.read()
            except _proxy.UpstreamError as exc:
                _log.error("upstream failed mid-body for %s %s: %s", req.method, req.target, exc)
                return await self._error_reply(exc.status, None)
            self._body_at = time.time()
            head = [(k, v) for k, v in head if k.lower() != "content-length"]
            try:
                reply = self._buffered_reply(
                    await self._phases(lambda: runner.run_response(outcome, Response(upstream.status, head, body), log=False)))
            except PluginTimeout:
                return self._timed_out()
            if reply.status == upstream.status:
                reply.reason = reason
            return reply

        # Streaming: headers now (with the edits plugins queued in access), the
        # body as it arrives, the log phase in finish() once it is all out.
        first = outcome.context.begin_response(Response(upstream.status, head, b""))
        first.headers = self._kong_headers(first.headers)
        self._streamed = (first.status, list(first.headers))
        return Reply(first.status, list(first.headers), upstream.iter_body(), reason=reason if first.status == upstream.status else None)

    async def _call_service(self, match: RouteMatch, service: Service, up: UpstreamRequest) -> _ServiceResponse:
        req = self.req
        target = up.target
        if target == req.target:
            # Not rewritten by a plugin: the router's upstream path (strip_path,
            # service path), then the client's query string, as Kong.
            query = req.target.partition("?")[2]
            target = match.upstream_path + ("?" + query if query else "")
            up.target = target  # what the log reports as upstream_uri
        headers = self._forwarded_headers(up.headers, match, service)
        # kong.service.set_timeouts overrides the service's, for this request.
        timeouts = _proxy.UpstreamTimeouts((up.connect_timeout or service.connect_timeout) / 1000,
                                           (up.write_timeout or service.write_timeout) / 1000,
                                           (up.read_timeout or service.read_timeout) / 1000)
        # Unbuffered (--request-buffering off): the client's body goes on as it
        # arrives, unless a plugin replaced it.
        body: bytes | AsyncIterable[bytes] = up.body
        length = None
        if req.body_stream is not None and not up.body:
            body, length = req.body_stream, req.body_stream.length
        if service.protocol == "asgi":
            return await self._call_app(service, up.method, target, headers, timeouts, body)
        scheme = up.scheme or service.protocol
        # kong.service.set_target: this host and port instead of the service's.
        host = up.target_host or service.host
        port = up.target_port or service.port or (443 if scheme == "https" else 80)
        assert host is not None
        if _websocket.is_upgrade(req.method, req.headers):
            return await _websocket.open_upstream(scheme, host, port, target, _websocket.upgrade_headers(headers, req.headers),
                                                  timeouts, verify=bool(up.tls_verify))
        return await self.handler.pool.request(scheme, host, port, up.method, target, headers, body, timeouts,
                                               body_length=length, verify=bool(up.tls_verify))

    async def _call_app(
        self, service: Service, method: str, target: str, headers: list[tuple[str, str]], timeouts: _proxy.UpstreamTimeouts, body: bytes | AsyncIterable[bytes]
    ) -> _asgi.ASGIResponse | _websocket.WebSocketResponse:
        client = self.client
        app = self.handler.config.asgi_apps[service.id]
        extensions: dict[str, Any] = {}
        tls = client.info.tls
        if tls.is_tls and client.handshake is not None:
            extensions["tls"] = _asgi.tls_extension(server_cert_pem=client.server_cert_pem, handshake=client.handshake, client_verify=tls.client_verify)
            extensions["purekong.tls"] = {
                "version": tls.version,
                "cipher": tls.cipher,
                "sni": tls.server_name,
                "alpn": client.handshake.alpn_protocol,
                "resumed": client.handshake.resumed,
                "client_verify": tls.client_verify,
            }
        scope = _asgi.build_scope(
            method=method,
            target=target,
            headers=headers,
            http_version=self.req.http_version,
            scheme="https" if client.listener.ssl else "http",
            client=(client.info.client_ip, client.info.client_port),
            server=(client.listener.host, client.info.server_port),
            extensions=extensions,
            state=_asgi.Lifespan.state_of(app),
        )
        if _websocket.is_upgrade(self.req.method, self.req.headers):
            return await _websocket.call_app(app, _websocket.websocket_scope(scope, headers), headers, timeout=timeouts.read)
        return await _asgi.call_app(app, scope, body, timeout=timeouts.read)

    def _forwarded_headers(self, headers: list[tuple[str, str]], match: RouteMatch, service: Service) -> list[tuple[str, str]]:
        """Kong's upstream headers: Host, X-Forwarded-*, X-Real-IP (no trusted_ips)."""
        req, client = self.req, self.client
        names = {"host", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-forwarded-port",
                 "x-forwarded-path", "x-forwarded-prefix", "x-real-ip"}
        plugin_set = {k.lower(): v for k, v in headers if k.lower() == "host"}
        out = [(k, v) for k, v in headers if k.lower() not in names]
        client_host = req.header("host") or ""
        if match.upstream_host:
            host = match.upstream_host  # preserve_host
        elif "host" in plugin_set and plugin_set["host"] != client_host:
            host = plugin_set["host"]  # kong.service.request.set_header("Host", ...)
        elif service.protocol == "asgi":
            host = client_host or "localhost"
        else:
            default = 443 if service.protocol == "https" else 80
            host = (service.host or "") if not service.port or service.port == default else f"{service.host}:{service.port}"
        prior = req.header("x-forwarded-for")  # $proxy_add_x_forwarded_for
        ip = client.info.client_ip
        out.insert(0, ("Host", host))
        out += [
            ("X-Forwarded-For", f"{prior}, {ip}" if prior else ip),
            ("X-Forwarded-Proto", "https" if client.listener.ssl else "http"),
            ("X-Forwarded-Host", strip_brackets(split_host_port(client_host)[0]) if client_host else ""),
            ("X-Forwarded-Port", str(client.info.server_port)),
            ("X-Forwarded-Path", req.target.split("?", 1)[0]),
        ]
        if match.stripped_prefix and match.stripped_prefix != "/":
            out.append(("X-Forwarded-Prefix", match.stripped_prefix))
        out.append(("X-Real-IP", ip))
        return out

    # -- plugin phases -----------------------------------------------------------------
    def _prepare(self, ctx: KongContext) -> None:
        """What the PDK reads from the server, set on the request's context."""
        self._ctx = ctx
        ctx.find_consumer = self.handler.config.find_consumer
        ctx.on_plugin_call = self._on_plugin_call
        ctx.after_header_filter = self._kong_headers

    def _on_plugin_call(self, plugin: str, phase: str) -> None:
        if self._plugin_started is not None:
            self._plugin_started(plugin, phase)

    async def _phases(self, run: Callable[[], T]) -> T:
        """Run plugin phases: on a plugin thread when a Kong Python plugin may
        block (``_plugin_threads``), else inline. Raises PluginTimeout."""
        threads, runner = self.handler.plugin_threads, self._runner
        if threads is None or runner is None or not runner.runs_kong_plugins:
            return run()

        def job(started: Callable[[str, str], None]) -> T:
            self._plugin_started = started
            return run()

        return await threads.run(job, f"{self.req.method} {self.req.target} from {self.client.info.client_ip}")

    def _timed_out(self) -> Reply:
        """A plugin never returned: this request gets Kong's 500; its other phases do not run."""
        if self._ctx is not None:
            self._ctx.abandoned = True
        self.outcome = None  # no phase runs for it any more; the access line still says 500
        self._streamed = None
        self.timed_out = True
        return Reply(500, [("Content-Type", JSON_CONTENT_TYPE)], cjson_encode({"message": default_message(500)}))

    async def _error_reply(self, status: int, message: str | None) -> Reply:
        """Kong's error page for a failed proxy attempt, after the response phases.

        The runner reports "no upstream response" as its 502; the status is
        set before the phases run (so log plugins see the real one) and the
        body is Kong's message for it.
        """
        assert self._runner is not None and self.outcome is not None
        if status != 502:
            self.outcome.context.pending_status = status
        outcome, runner = self.outcome, self._runner
        try:
            response = await self._phases(lambda: runner.run_response(outcome, None, log=False))
        except PluginTimeout:
            return self._timed_out()
        if message is not None and response.status == status:
            response.body = cjson_encode({"message": message})
        return self._buffered_reply(response)

    def _upgraded(self, answer: _websocket.WebSocketResponse) -> Reply:
        """The service's answer to a WebSocket upgrade: its head now; the
        response phases when the tunnel ends (in :meth:`finish`, as a streamed
        response's), with the bytes sent to the client as the body."""
        assert self.outcome is not None
        head = [(k, v) for k, v in answer.headers if k.lower() not in ("connection", "keep-alive", "transfer-encoding")]
        first = self.outcome.context.begin_response(Response(answer.status, head, b""))
        first.headers = self._kong_headers(first.headers)
        self._streamed = (first.status, list(first.headers))
        same = first.status == answer.status
        return Reply(first.status, list(first.headers), answer.body, reason=answer.reason if same else None,
                     tunnel=answer.tunnel if same else None)

    def _buffered_reply(self, response: Response) -> Reply:
        assert self.outcome is not None and not isinstance(response.body, StreamedBody)
        headers = [(k, v) for k, v in response.headers if k.lower() not in ("content-length", "transfer-encoding")]
        return Reply(response.status, headers, bytes(response.body))

    @property
    def _proxied(self) -> bool:
        """Kong's ctx.KONG_PROXIED: the request went on to the service."""
        return self._proxied_at is not None

    def _kong_headers(self, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Kong's own response headers (``kong/runloop/handler.lua``, header_filter
        ``after``, with Kong's default ``headers = server_tokens, latency_tokens``);
        the runner calls it after the header_filter phase (so the log phase
        sees them), which is also when the log's size and latencies are noted.

        Proxied: X-Kong-Upstream-Latency, X-Kong-Proxy-Latency, ``Via`` (the
        upstream's, then ours) and ``Server`` unless the upstream sent one.
        Kong's own answers: X-Kong-Response-Latency, and ``Server`` replaced by
        ours (unless a plugin's ``Via`` is Kong's token).
        """
        self._note_log_fields()
        ms = self._latencies()
        own = {"x-kong-upstream-latency", "x-kong-proxy-latency", "x-kong-response-latency"}
        if self._proxied:
            out = [(k, v) for k, v in headers if k.lower() not in own | {"via"}]
            out += [("X-Kong-Upstream-Latency", str(ms["proxy"])), ("X-Kong-Proxy-Latency", str(ms["kong"])),
                    ("Via", f"{self._upstream_via}, {VIA}" if self._upstream_via else VIA)]
            if not any(k.lower() == "server" for k, _ in out):
                out.append(("Server", SERVER_TOKEN))
            return out
        out = [(k, v) for k, v in headers if k.lower() not in own]
        out.append(("X-Kong-Response-Latency", str(ms["kong"])))
        if not any(k.lower() == "via" and v == SERVER_TOKEN for k, v in out):
            out = [(k, v) for k, v in out if k.lower() != "server"] + [("Server", SERVER_TOKEN)]
        return out

    def _latencies(self) -> dict[str, int]:
        """Kong's serialized ``latencies`` but ``request`` (ms): kong (KONG_PROXY_LATENCY,
        or KONG_RESPONSE_LATENCY for Kong's own answers), proxy (KONG_WAITING_TIME,
        -1 when not proxied), receive (KONG_RECEIVE_TIME)."""
        def ms(a: float, b: float) -> int:
            return max(0, round((b - a) * 1000))

        now = time.time()
        if self._proxied_at is None:
            return {"kong": ms(self.started, now), "proxy": -1, "receive": 0}
        head_at = self._head_at or now
        return {"kong": ms(self.started, self._proxied_at), "proxy": ms(self._proxied_at, head_at),
                "receive": ms(head_at, self._body_at) if self._body_at is not None else 0}

    def _note_log_fields(self) -> None:
        """What kong.log.serialize reports that only the server knows."""
        assert self.outcome is not None
        ctx = self.outcome.context
        ctx.request_size = self.req.size
        ctx.latencies = self._latencies()

    # -- 3. finish ---------------------------------------------------------------------
    async def finish(self, sent: Sent) -> None:
        """The request's last step, once the reply went out (or failed to): the
        log phase (a streamed response's response phases too), then the access log."""
        if self._counted:
            WORKER_STATISTICS.connections_writing -= 1
            self._counted = False
        outcome = self.outcome
        if outcome is None:
            if self.timed_out and self.handler.access_log is not None:
                self.handler.access_log.write(self, sent)
            return
        if self._streamed is not None:
            if not sent.complete:
                _log.info("response to %s %s not completed (%d body bytes sent)", self.req.method, self.req.target, sent.body_bytes)
            assert self._runner is not None
            status, headers = self._streamed
            self._body_at = time.time()
            runner = self._runner
            try:
                await self._phases(lambda: runner.run_response(outcome, Response(status, headers, StreamedBody(sent.body_bytes))))
            except PluginTimeout:
                return  # logged by the plugin threads; the response already went out
        elif outcome.finished and not outcome.logged and self._runner is not None:
            runner = self._runner
            try:
                await self._phases(lambda: runner.run_log(outcome))
            except PluginTimeout:
                return
        if self.handler.access_log is not None:
            self.handler.access_log.write(self, sent)


def _copied(value: list[Any]) -> list[Any]:
    return [_copied(v) if type(v) is list else v for v in value]


def _entity_dict(entity: Any) -> dict[str, Any]:
    """A route or service as the PDK shows it (``kong.router.get_route()``)."""

    def plain(v: Any) -> Any:
        if isinstance(v, tuple):
            return [plain(x) for x in v]
        return v

    return {f.name: plain(getattr(entity, f.name)) for f in dataclasses.fields(entity) if getattr(entity, f.name) is not None}
