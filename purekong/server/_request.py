"""One request through the gateway, from route to access log.

:class:`Exchange` is the single place a request flows through, in this order:

1. :meth:`Exchange.respond`: route (``purekong.gateway.Router``), then the
   route's runner (Kong's plugins iterator) for rewrite, access and balancer;
   a plugin may answer here. Otherwise the request goes to the service: an
   upstream over HTTP (:mod:`._proxy`) or an ASGI app (:mod:`._asgi`), with
   Kong's forwarding headers. The response phases (response, header_filter,
   body_filter, log) run on the buffered response, or, when no plugin needs
   to see it, the body is streamed and only its head is built now.

   A route without plugins, when no access log serializes the request,
   takes the *plain* path: no ``Request``, Kong context or ``Outcome`` is
   built (nothing would read them). Kong's headers, the access line and the
   metrics come from the :class:`Exchange` itself, the same values the
   general path takes from the context. An error page or a WebSocket
   upgrade on that path builds the outcome then (:meth:`Exchange._outcome`)
   and carries on as the general path does.
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
from typing import Any, AsyncIterable, Awaitable, Callable, TypeVar, Union

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

# The request headers the exchange reads (routing, forwarding, the access
# line, the upgrade check), found in one pass per request.
_NOTED_HEADERS = frozenset({"host", "x-forwarded-for", "referer", "user-agent", "upgrade"})
# Kong sets these upstream itself (_forwarded_headers).
_FORWARDED_NAMES = frozenset({"host", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-forwarded-port",
                              "x-forwarded-path", "x-forwarded-prefix", "x-real-ip"})
_LATENCY_HEADERS = frozenset({"x-kong-upstream-latency", "x-kong-proxy-latency", "x-kong-response-latency"})
_LATENCY_AND_VIA = _LATENCY_HEADERS | {"via"}
_RESPONSE_PHASES = ("response", "header_filter", "body_filter")
# What each _phases call may run (a thread hand-off only if a Kong Python plugin implements one).
_REQUEST_PHASES = ("rewrite", "access", "balancer")
_RESPONSE_AND_LOG = (*_RESPONSE_PHASES, "log")
_LOG_PHASE = ("log",)
# Where an app's whole body goes out as bytes (one write), the same bytes as streamed.
_WHOLE_BODY_VERSIONS = frozenset({"1.0", "1.1"})


@dataclass
class Client:
    """One accepted connection as the request side sees it."""

    listener: Listener
    info: ConnectionInfo
    server_cert_pem: str | None = None
    handshake: HandshakeComplete | None = None
    state: ConnectionState = field(default_factory=ConnectionState)
    #: The ASGI TLS extensions of this connection's handshake, built by its
    #: first request to an app (keyed by the handshake and TLS info they describe).
    asgi_tls: tuple[Any, Any, dict[str, Any], dict[str, Any]] | None = field(default=None, repr=False)


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
        #: May a route without plugins skip the Kong context? Not when the
        #: access log file is kong.log.serialize() JSON: that reads it.
        self.plain_allowed = access_log is None or not access_log.serializes

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
        #: No plugin and no serialized log: no Kong context unless an error or upgrade needs one.
        self.plain = False
        self._upstream: UpstreamRequest | None = None  # the plain path's request to the service
        self._noted: dict[str, str] | None = None  # _NOTED_HEADERS' first values, lower-case names

    def header(self, name: str) -> str | None:
        """The request header ``name`` (lower case), as :meth:`HTTPRequest.header`; the
        ones the exchange reads come from one pass over the headers."""
        if name not in _NOTED_HEADERS:
            return self.req.header(name)
        noted = self._noted
        if noted is None:
            noted = self._noted = {}
            for k, v in self.req.headers:
                k = k.lower()
                if k in _NOTED_HEADERS and k not in noted:
                    noted[k] = v
        return noted.get(name)

    # -- 1. respond ------------------------------------------------------------------
    def respond(self) -> Awaitable[Reply]:
        """The reply, to await: the plain path's is the service call's own
        coroutine (:meth:`_forward`), the general path's :meth:`_respond`."""
        client, req, config = self.client, self.req, self.handler.config
        WORKER_STATISTICS.total_requests += 1
        WORKER_STATISTICS.connections_writing += 1  # until finish(): nginx's "writing"
        self._counted = True
        protocol = "https" if client.listener.ssl else "http"
        match = self.match = config.router.match(
            protocol=protocol, method=req.method, host=self.header("host"), path=req.target, sni=client.info.tls.server_name
        )
        runner = self._runner = config.plugins.runner_for(match, protocol)
        if not runner.plugins and match is not None and match.service is not None and self.handler.plain_allowed:
            # Nothing reads a Kong context: the request goes on as received.
            self.plain = True
            up = self._upstream = UpstreamRequest(method=req.method, target=req.target, headers=req.headers, body=req.body)
            return self._forward(match, match.service, runner, up)
        return self._respond(runner, match)

    async def _respond(self, runner: Runner, match: RouteMatch | None) -> Reply:
        """The general path: the request phases, then the service (or a plugin's answer)."""
        try:
            outcome = self.outcome = await self._phases(lambda: self._run_request(runner, match), _REQUEST_PHASES)
            if not outcome.proxy:
                return self._buffered_reply(await self._phases(lambda: runner.run_response(outcome, log=False), _RESPONSE_PHASES))
        except PluginTimeout:
            return self._timed_out()
        assert match is not None
        if match.service is None:
            # Kong: a route without a service, and no plugin answered.
            return await self._error_reply(503, "no Service found with those values")
        assert outcome.upstream is not None
        return await self._forward(match, match.service, runner, outcome.upstream)

    def _run_request(self, runner: Runner, match: RouteMatch | None) -> Outcome:
        """The Kong context and the request phases (rewrite, access, balancer)."""
        req = self.req
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
        return runner.run_request(self.client.info, request, prepare=self._prepare)

    def _outcome(self) -> Outcome:
        """The request's outcome; on the plain path, built now (the route has
        no plugins: no phase runs, only the context is made), its upstream
        request the one that went to the service."""
        if self.outcome is None:
            assert self._runner is not None and self._upstream is not None and not self._runner.plugins
            outcome = self.outcome = self._run_request(self._runner, self.match)
            outcome.upstream = outcome.context.upstream = self._upstream
        return self.outcome

    async def _forward(self, match: RouteMatch, service: Service, runner: Runner, up: UpstreamRequest) -> Reply:
        req = self.req
        self._proxied_at = time.time()
        try:
            upstream = await self._call_service(match, service, up)
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

        if not self.plain and any(runner.needs_phase(p) for p in _RESPONSE_PHASES):
            # A plugin may read or rewrite the response: buffer it (Kong does
            # too for the response phase).
            try:
                body = await upstream.read()
            except _proxy.UpstreamError as exc:
                _log.error("upstream failed mid-body for %s %s: %s", req.method, req.target, exc)
                return await self._error_reply(exc.status, None)
            self._body_at = time.time()
            head = [(k, v) for k, v in head if k.lower() != "content-length"]
            outcome = self._outcome()
            try:
                reply = self._buffered_reply(
                    await self._phases(lambda: runner.run_response(outcome, Response(upstream.status, head, body), log=False),
                                      _RESPONSE_PHASES))
            except PluginTimeout:
                return self._timed_out()
            if reply.status == upstream.status:
                reply.reason = reason
            return reply

        # Streaming: headers now (with the edits plugins queued in access), the
        # body as it arrives, the log phase in finish() once it is all out.
        if self.plain:  # no edits queued: the head as the service sent it
            status, headers = upstream.status, self._kong_headers(head)
        else:
            first = self._outcome().context.begin_response(Response(upstream.status, head, b""))
            status, headers = first.status, self._kong_headers(first.headers)
            first.headers = headers
        self._streamed = (status, list(headers))
        whole = None
        if isinstance(upstream, _asgi.ASGIResponse) and self.req.http_version in _WHOLE_BODY_VERSIONS:
            # An app that already sent all of its body: one write instead of a
            # stream, the same bytes when its Content-Length frames the body on
            # HTTP/1.x (HTTP/2 would end the stream on the last DATA frame).
            length = _content_length(headers)
            whole = upstream.whole_body(length) if length is not None else None
        return Reply(status, list(headers), whole if whole is not None else upstream.iter_body(),
                     reason=reason if status == upstream.status else None)

    def _call_service(self, match: RouteMatch, service: Service, up: UpstreamRequest) -> Awaitable[_ServiceResponse]:
        """The service's call, ready to await (a plain function giving the
        callee's coroutine: one coroutine less per request)."""
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
        upgrade = self.header("upgrade") is not None and _websocket.is_upgrade(req.method, req.headers)
        if service.protocol == "asgi":
            return self._call_app(service, up.method, target, headers, timeouts, body, upgrade)
        scheme = up.scheme or service.protocol
        # kong.service.set_target: this host and port instead of the service's.
        host = up.target_host or service.host
        port = up.target_port or service.port or (443 if scheme == "https" else 80)
        assert host is not None
        if upgrade:
            return _websocket.open_upstream(scheme, host, port, target, _websocket.upgrade_headers(headers, req.headers),
                                            timeouts, verify=bool(up.tls_verify))
        return self.handler.pool.request(scheme, host, port, up.method, target, headers, body, timeouts,
                                         body_length=length, verify=bool(up.tls_verify))

    def _call_app(
        self, service: Service, method: str, target: str, headers: list[tuple[str, str]], timeouts: _proxy.UpstreamTimeouts,
        body: bytes | AsyncIterable[bytes], upgrade: bool
    ) -> Awaitable[_asgi.ASGIResponse | _websocket.WebSocketResponse]:
        client = self.client
        app = self.handler.config.asgi_apps[service.id]
        extensions: dict[str, Any] = {}
        tls, handshake = client.info.tls, client.handshake
        if tls.is_tls and handshake is not None:
            cached = client.asgi_tls
            if cached is None or cached[0] is not handshake or cached[1] is not tls:
                cached = client.asgi_tls = (handshake, tls, _asgi.tls_extension(
                    server_cert_pem=client.server_cert_pem, handshake=handshake, client_verify=tls.client_verify), {
                    "version": tls.version,
                    "cipher": tls.cipher,
                    "sni": tls.server_name,
                    "alpn": handshake.alpn_protocol,
                    "resumed": handshake.resumed,
                    "client_verify": tls.client_verify,
                })
            # Copies: an app may change what it is given, the next request gets them whole.
            tls_ext = dict(cached[2])
            tls_ext["client_cert_chain"] = list(tls_ext["client_cert_chain"])
            extensions["tls"], extensions["purekong.tls"] = tls_ext, dict(cached[3])
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
        if upgrade:
            return _websocket.call_app(app, _websocket.websocket_scope(scope, headers), headers, timeout=timeouts.read)
        return _asgi.call_app(app, scope, body, timeout=timeouts.read)

    def _forwarded_headers(self, headers: list[tuple[str, str]], match: RouteMatch, service: Service) -> list[tuple[str, str]]:
        """Kong's upstream headers: Host, X-Forwarded-*, X-Real-IP (no trusted_ips)."""
        req, client = self.req, self.client
        out = []
        plugin_host = None  # the last Host in the request to proxy
        for k, v in headers:
            name = k.lower()
            if name not in _FORWARDED_NAMES:
                out.append((k, v))
            elif name == "host":
                plugin_host = v
        client_host = self.header("host") or ""
        if match.upstream_host:
            host = match.upstream_host  # preserve_host
        elif plugin_host is not None and plugin_host != client_host:
            host = plugin_host  # kong.service.request.set_header("Host", ...)
        elif service.protocol == "asgi":
            host = client_host or "localhost"
        else:
            default = 443 if service.protocol == "https" else 80
            host = (service.host or "") if not service.port or service.port == default else f"{service.host}:{service.port}"
        prior = self.header("x-forwarded-for")  # $proxy_add_x_forwarded_for
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

    async def _phases(self, run: Callable[[], T], phases: tuple[str, ...]) -> T:
        """Run plugin phases (``run`` runs at most ``phases``): on a plugin thread
        when a Kong Python plugin that may block implements one of them
        (``_plugin_threads``), else inline. Raises PluginTimeout."""
        threads, runner = self.handler.plugin_threads, self._runner
        if threads is None or runner is None or not runner.runs_kong_plugins_in(phases):
            self._plugin_started = None  # an earlier hand-off's: no thread to tell now
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
        assert self._runner is not None
        outcome, runner = self._outcome(), self._runner
        if status != 502:
            outcome.context.pending_status = status
        try:
            response = await self._phases(lambda: runner.run_response(outcome, None, log=False), _RESPONSE_PHASES)
        except PluginTimeout:
            return self._timed_out()
        if message is not None and response.status == status:
            response.body = cjson_encode({"message": message})
        return self._buffered_reply(response)

    def _upgraded(self, answer: _websocket.WebSocketResponse) -> Reply:
        """The service's answer to a WebSocket upgrade: its head now; the
        response phases when the tunnel ends (in :meth:`finish`, as a streamed
        response's), with the bytes sent to the client as the body."""
        head = [(k, v) for k, v in answer.headers if k.lower() not in ("connection", "keep-alive", "transfer-encoding")]
        first = self._outcome().context.begin_response(Response(answer.status, head, b""))
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
    def streamed_status(self) -> int | None:
        """The status of a streamed response (its head went out before the body)."""
        return self._streamed[0] if self._streamed is not None else None

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
        ms = self._latencies()
        if self.outcome is not None:
            self._note_log_fields(ms)
        if self._proxied:
            out = [(k, v) for k, v in headers if k.lower() not in _LATENCY_AND_VIA]
            out += [("X-Kong-Upstream-Latency", str(ms["proxy"])), ("X-Kong-Proxy-Latency", str(ms["kong"])),
                    ("Via", f"{self._upstream_via}, {VIA}" if self._upstream_via else VIA)]
            if not any(k.lower() == "server" for k, _ in out):
                out.append(("Server", SERVER_TOKEN))
            return out
        out = [(k, v) for k, v in headers if k.lower() not in _LATENCY_HEADERS]
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

    def _note_log_fields(self, latencies: dict[str, int]) -> None:
        """What kong.log.serialize reports that only the server knows."""
        assert self.outcome is not None
        ctx = self.outcome.context
        ctx.request_size = self.req.size
        ctx.latencies = latencies

    # -- 3. finish ---------------------------------------------------------------------
    def finish(self, sent: Sent) -> Awaitable[None] | None:
        """The request's last step, once the reply went out (or failed to): the
        log phase (a streamed response's response phases too), then the access log.
        With no phase to run (the plain path, a timed-out request) it is done
        on return; else it gives the coroutine that runs the phases."""
        if self._counted:
            WORKER_STATISTICS.connections_writing -= 1
            self._counted = False
        if self.outcome is None:
            # Timed out, or the plain path streamed the service's response: no phase to run.
            if self.plain and self._streamed is not None and not sent.complete:
                _log.info("response to %s %s not completed (%d body bytes sent)", self.req.method, self.req.target, sent.body_bytes)
            if (self.timed_out or self.plain) and self.handler.access_log is not None:
                self.handler.access_log.write(self, sent)
            return None
        return self._finish_phases(self.outcome, sent)

    async def _finish_phases(self, outcome: Outcome, sent: Sent) -> None:
        if self._streamed is not None:
            if not sent.complete:
                _log.info("response to %s %s not completed (%d body bytes sent)", self.req.method, self.req.target, sent.body_bytes)
            assert self._runner is not None
            status, headers = self._streamed
            self._body_at = time.time()
            runner = self._runner
            try:
                await self._phases(lambda: runner.run_response(outcome, Response(status, headers, StreamedBody(sent.body_bytes))),
                                  _RESPONSE_AND_LOG)
            except PluginTimeout:
                return  # logged by the plugin threads; the response already went out
        elif outcome.finished and not outcome.logged and self._runner is not None:
            runner = self._runner
            try:
                await self._phases(lambda: runner.run_log(outcome), _LOG_PHASE)
            except PluginTimeout:
                return
        if self.handler.access_log is not None:
            self.handler.access_log.write(self, sent)


def _content_length(headers: list[tuple[str, str]]) -> int | None:
    """The one Content-Length that frames a response with these headers (None:
    none, several, not a number, or Transfer-Encoding frames it instead)."""
    length = None
    for k, v in headers:
        name = k.lower()
        if name == "transfer-encoding" or (name == "content-length" and length is not None):
            return None
        if name == "content-length":
            if not v.isdigit():
                return None
            length = int(v)
    return length


def _copied(value: list[Any]) -> list[Any]:
    return [_copied(v) if type(v) is list else v for v in value]


def _entity_dict(entity: Any) -> dict[str, Any]:
    """A route or service as the PDK shows it (``kong.router.get_route()``)."""

    def plain(v: Any) -> Any:
        if isinstance(v, tuple):
            return [plain(x) for x in v]
        return v

    return {f.name: plain(getattr(entity, f.name)) for f in dataclasses.fields(entity) if getattr(entity, f.name) is not None}
