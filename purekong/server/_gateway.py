"""``purekong serve``: Kong's configuration model on purekong's engine.

Start-up turns the configuration into plain objects, all validated before a
socket is opened (nothing starts half-configured):

* :class:`ServeOptions` - kong.conf's server settings (listeners, limits,
  timeouts, logs, workers);
* a ``Declarative`` (services, routes, plugins, certificates, consumers) and
  its ``Router``;
* :class:`Plan` - per route and protocol the plugins that apply (Kong's
  plugins iterator: global, service, route and consumer scopes, a plugin's
  ``protocols``), as one :class:`~purekong.runner.Runner` each, plus the
  connection-phase runner for the certificate phase.

Then each worker runs :class:`Gateway`: asyncio listeners, one task per
connection (:mod:`._http`), and per request: route -> rewrite/access/balancer
(runner) -> upstream (:mod:`._proxy`) or ASGI app (:mod:`._asgi`) ->
response/header_filter/body_filter/log -> the client -> the access log.

Signals: SIGTERM/SIGINT stop accepting, idle keep-alive connections are
closed, in-flight requests get ``grace`` seconds to finish, then exit 0.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from cryptography.hazmat.primitives import serialization

from purekong.engine import CertifiedKey, ClientHelloReceived, ServerConfig, ServerConnection
from purekong import gateway
from purekong.gateway import Declarative, PluginsIterator, RouteMatch, Router, Service
from purekong.pdk import ConnectionInfo, Request, Response, cjson_encode
from purekong.runner import ConnectionPhases, Runner, configure

from . import _asgi, _proxy
from ._http import BodyTooLarge, ConnectionState, HTTPRequest, Limits, PlainStream, Reply, TLSStream, serve_connection

_log = logging.getLogger("purekong.serve")

VIA = "1.1 purekong"


class ServeConfigError(Exception):
    """Bad configuration: the message names the entry and the field."""


# -- settings ------------------------------------------------------------------------


@dataclass(frozen=True)
class Listener:
    host: str
    port: int
    ssl: bool

    @classmethod
    def parse(cls, text: str) -> "Listener":
        """kong.conf's ``proxy_listen`` entry: ``HOST:PORT`` or ``HOST:PORT ssl``."""
        parts = text.split()
        if not parts or any(p not in ("ssl",) for p in parts[1:]):
            raise ServeConfigError(f"listen {text!r}: expected 'HOST:PORT' or 'HOST:PORT ssl'")
        host, sep, port = parts[0].rpartition(":")
        if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ServeConfigError(f"listen {text!r}: port must be a number from 0 to 65535")
        host = host.strip("[]") or "0.0.0.0"
        return cls(host, int(port), "ssl" in parts[1:])

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.ssl else 'http'}://{host}:{self.port}"


@dataclass
class ServeOptions:
    listeners: list[Listener] = field(default_factory=list)
    declarative: Path | None = None
    plugins_dir: Path | None = None
    access_log: Path | None = None
    workers: int = 1
    verify_depth: int | None = None
    state_dir: Path | None = None
    limits: Limits = field(default_factory=Limits)
    grace: float = 10.0  # seconds in-flight requests get at shutdown
    #: Called with each line of the startup summary (the CLI prints them).
    announce: Callable[[str], None] | None = None


# -- routing -------------------------------------------------------------------------


def load_declarative(path: Path) -> Declarative:
    """The declarative file, validated by purekong.gateway (every problem listed)."""
    try:
        return gateway.load_declarative(path)
    except gateway.ConfigError as exc:
        raise ServeConfigError(str(exc)) from None


# -- plugins -------------------------------------------------------------------------


def _builtins():
    """purekong.plugins (mtls-auth, tls-handshake-modifier, tls-metadata-headers), if present."""
    try:
        import purekong.plugins as builtins
    except ImportError:
        return None
    return builtins


@dataclass
class Plan:
    """Everything a worker needs, built and validated before listening."""

    declarative: Declarative
    router: Router
    plugins: PluginsIterator
    certificate_handlers: list  # the built-in TLS plugins' certificate-phase hooks
    certificates: list[CertifiedKey]  # the default (first) and the declarative ones
    cert_by_id: dict[str, CertifiedKey]
    asgi_apps: dict[str, Any]
    verify_depth: int | None


def build_plan(declarative: Declarative, options: ServeOptions, *, default_cert: CertifiedKey | None, extra_plugins: dict | None = None) -> Plan:
    builtins = _builtins()
    specs: dict = {}
    if options.plugins_dir is not None:
        from purekong.runner import load_plugins_dir

        if not options.plugins_dir.is_dir():
            raise ServeConfigError(f"--plugins-dir {options.plugins_dir}: not a directory")
        specs.update(load_plugins_dir(options.plugins_dir))
    specs.update(extra_plugins or {})

    instances = []
    for index, entity in enumerate(declarative.plugins):
        where = f"plugins[{index}] (name={entity.name})"
        if not entity.enabled:
            continue
        spec = specs.get(entity.name)
        if spec is None and builtins is not None and entity.name in builtins.BUILTIN_PLUGINS:
            try:
                instances.append((entity, builtins.build_plugin(entity, declarative)))
            except builtins.PluginConfigError as exc:
                raise ServeConfigError(f"{where}: {exc}") from None
            continue
        if spec is None:
            known = ", ".join(sorted([*specs, *(builtins.BUILTIN_PLUGINS if builtins else ())])) or "none"
            raise ServeConfigError(f"{where}: name: unknown plugin {entity.name!r} (available: {known})")
        try:
            inst = configure(spec, entity.config)
        except Exception as exc:
            raise ServeConfigError(f"{where}: config: {exc}") from None
        instances.append((entity, inst))

    apps = {}
    for service in declarative.services:
        if service.protocol == "asgi":
            try:
                apps[service.id] = _asgi.load_app(service.asgi or "")
            except ValueError as exc:
                raise ServeConfigError(f"services (name={service.name or service.id}): asgi: {exc}") from None

    certs, by_id = [], {}
    for cert in declarative.certificates:
        try:
            ck = CertifiedKey(tuple(cert.chain), cert.key)
        except ValueError as exc:
            raise ServeConfigError(f"certificates (id={cert.id}): {exc}") from None
        certs.append(ck)
        by_id[cert.id] = ck
    if default_cert is not None:
        certs.insert(0, default_cert)

    handlers = []
    if builtins is not None:
        try:
            handlers = builtins.certificate_handlers(declarative)
        except builtins.PluginConfigError as exc:
            raise ServeConfigError(f"plugins: {exc}") from None
    return Plan(
        declarative=declarative,
        router=Router(declarative),
        plugins=PluginsIterator(instances),
        certificate_handlers=handlers,
        certificates=certs,
        cert_by_id=by_id,
        asgi_apps=apps,
        verify_depth=options.verify_depth,
    )


# -- one worker ----------------------------------------------------------------------


class _StreamedBody(bytes):
    """An empty body that reports the streamed size to ``len()``.

    A streamed response's bytes are gone by the log phase; Kong's serializer
    only needs their count (``response.size``).
    """

    def __new__(cls, size: int):
        obj = super().__new__(cls, b"")
        obj._size = size
        return obj

    def __len__(self) -> int:
        return self._size


@dataclass
class _Client:
    """One accepted connection as the request side sees it."""

    listener: Listener
    info: ConnectionInfo
    server_cert_pem: str | None = None
    handshake: Any = None
    state: ConnectionState = field(default_factory=ConnectionState)


class Gateway:
    def __init__(self, plan: Plan, options: ServeOptions) -> None:
        self.plan, self.options, self.limits = plan, options, options.limits
        self.pool = _proxy.UpstreamPool()
        self._servers: list[asyncio.base_events.Server] = []
        self._tasks: dict[asyncio.Task, _Client | None] = {}
        self._access_fd: int | None = None
        self._lifespans: list[_asgi.Lifespan] = []
        self._tls_config: ServerConfig | None = None
        if plan.certificates:
            self._tls_config = ServerConfig(certificates=tuple(plan.certificates), alpn_protocols=("http/1.1",))

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self, sockets: list[tuple[Listener, socket.socket]]) -> None:
        if self.options.access_log is not None:
            self._access_fd = os.open(self.options.access_log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        for app in self.plan.asgi_apps.values():
            lifespan = _asgi.Lifespan(app)
            await lifespan.startup()
            self._lifespans.append(lifespan)
        for listener, sock in sockets:
            server = await asyncio.start_server(lambda r, w, listener=listener: self._accept(listener, r, w), sock=sock)
            self._servers.append(server)

    async def stop(self) -> None:
        """Stop accepting; close idle connections; give the rest ``grace`` seconds."""
        for server in self._servers:
            server.close()
        for task, client in list(self._tasks.items()):
            if client is not None:
                client.state.draining = True
                if client.state.idle:
                    task.cancel()
            else:
                task.cancel()  # still handshaking
        if self._tasks:
            done, pending = await asyncio.wait(list(self._tasks), timeout=self.options.grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=2.0)
        for lifespan in self._lifespans:
            await lifespan.shutdown()
        self.pool.close()
        if self._access_fd is not None:
            os.close(self._access_fd)
            self._access_fd = None

    # -- connections -------------------------------------------------------------------
    async def _accept(self, listener: Listener, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if len(self._tasks) >= self.limits.max_connections:
            _log.warning("connection refused: %d connections open (--max-connections)", len(self._tasks))
            writer.transport.abort()
            return
        self._tasks[task] = None
        try:
            await self._serve(listener, reader, writer, task)
        except asyncio.CancelledError:
            pass
        except Exception:
            _log.exception("connection failed")
        finally:
            self._tasks.pop(task, None)
            writer.transport.abort()  # idempotent; whatever happened, the fd goes

    async def _serve(self, listener: Listener, reader, writer, task) -> None:
        peer = writer.get_extra_info("peername") or ("", 0)
        sockname = writer.get_extra_info("sockname") or ("", listener.port)
        client_ip, client_port, server_port = peer[0], peer[1], sockname[1]
        if listener.ssl:
            phases = ConnectionPhases(
                self.plan.plugins.connection_runner,
                verify_depth=self.plan.verify_depth,
                certificate_handlers=self.plan.certificate_handlers,
                certificate_selector=self._certificates_for,
            )

            def on_hello(conn: ServerConnection, event: ClientHelloReceived) -> None:
                phases.on_client_hello(conn, event, client_ip=client_ip, client_port=client_port, server_port=server_port)

            stream = TLSStream(reader, writer, ServerConnection(self._tls_config), self.limits, on_hello)
            try:
                handshake = await stream.do_handshake()
            except Exception as exc:
                _log.info("TLS handshake with %s:%s failed: %s", client_ip, client_port, exc)
                return
            tls = phases.tls_info(handshake)
            chosen = phases.certificates or self._tls_config.certificates
            cert_pem = chosen[0].chain[0].public_bytes(serialization.Encoding.PEM).decode()
            client = _Client(listener, ConnectionInfo(tls=tls, client_ip=client_ip, client_port=client_port, server_port=server_port), cert_pem, handshake)
        else:
            stream = PlainStream(reader, writer, self.limits)
            client = _Client(listener, ConnectionInfo(client_ip=client_ip, client_port=client_port, server_port=server_port))
        self._tasks[task] = client
        try:
            await serve_connection(stream, lambda req: self._handle(client, req), self.limits, client.state)
        finally:
            await stream.close()  # close_notify and FIN; _accept aborts if that hangs

    def _certificates_for(self, sni: str | None) -> tuple[CertifiedKey, ...]:
        cert = gateway.certificate_for(self.plan.declarative, sni)
        if cert is not None and cert.id in self.plan.cert_by_id:
            return (self.plan.cert_by_id[cert.id],)
        return (self.plan.certificates[0],)  # the default certificate

    # -- one request -------------------------------------------------------------------
    async def _handle(self, client: _Client, req: HTTPRequest) -> Reply:
        started = time.time()
        protocol = "https" if client.listener.ssl else "http"
        match = self.plan.router.match(
            protocol=protocol, method=req.method, host=req.header("host"), path=req.target, sni=client.info.tls.server_name
        )
        runner = self.plan.plugins.runner_for(match, protocol)
        request = Request(
            method=req.method,
            target=req.target,
            headers=req.headers,
            body=req.body,
            http_version=req.http_version,
            route=_entity_dict(match.route) if match else None,
            service=_entity_dict(match.service) if match and match.service else None,
            start_time=started,
        )
        outcome = runner.run_request(client.info, request)
        if not outcome.proxy:
            return self._buffered_reply(runner.run_response(outcome), outcome)
        assert match is not None
        if match.service is None:
            # Kong: a route without a service, and no plugin answered.
            return self._error_reply(runner, outcome, 503, "no Service found with those values")

        service = match.service
        proxy_started = time.time()
        try:
            upstream = await self._call_upstream(client, req, match, outcome.upstream)
        except BodyTooLarge:
            return self._error_reply(runner, outcome, 413, "Payload too large")
        except _proxy.UpstreamError as exc:
            _log.error("upstream failure for %s %s (service %s): %s", req.method, req.target, service.name or service.id, exc)
            message = "The upstream server is timing out" if exc.status == 504 else None
            return self._error_reply(runner, outcome, exc.status, message)
        latency = int((time.time() - proxy_started) * 1000)
        head = _proxy.strip_hop_by_hop(upstream.headers)
        head += [("Via", VIA), ("X-Kong-Upstream-Latency", str(latency)), ("X-Kong-Proxy-Latency", str(int((proxy_started - started) * 1000)))]

        if any(runner.needs_phase(p) for p in ("response", "header_filter", "body_filter")):
            # A plugin may read or rewrite the response: buffer it (Kong does
            # too for the response phase).
            try:
                body = await upstream.read()
            except _proxy.UpstreamError as exc:
                _log.error("upstream failed mid-body for %s %s: %s", req.method, req.target, exc)
                return self._error_reply(runner, outcome, exc.status, None)
            head = [(k, v) for k, v in head if k.lower() != "content-length"]
            response = runner.run_response(outcome, Response(upstream.status, head, body))
            return self._buffered_reply(response, outcome)

        # Streaming: headers now (with the edits plugins queued in access), the
        # body as it arrives, the log phase once it is all out.
        first = outcome.context.begin_response(Response(upstream.status, head, b""))
        headers, status = list(first.headers), first.status

        async def done(sent: int, complete: bool) -> None:
            if not complete:
                _log.info("response to %s %s not completed (%d body bytes sent)", req.method, req.target, sent)
            runner.run_response(outcome, Response(status, headers, _StreamedBody(sent)))
            self._access(outcome)

        return Reply(status, headers, upstream.iter_body(), done=done)

    def _error_reply(self, runner: Runner, outcome, status: int, message: str | None) -> Reply:
        """Kong's error page for a failed proxy attempt, after the response phases.

        The runner reports "no upstream response" as its 502; the status is
        set before the phases run (so log plugins see the real one) and the
        body is Kong's message for it.
        """
        if status != 502:
            outcome.context.pending_status = status
        response = runner.run_response(outcome, None)
        if message is not None and response.status == status:
            response.body = cjson_encode({"message": message})
        return self._buffered_reply(response, outcome)

    async def _call_upstream(self, client: _Client, req: HTTPRequest, match: RouteMatch, up) -> Any:
        service = match.service
        target = up.target
        if target == req.target:
            # Not rewritten by a plugin: the router's upstream path (strip_path,
            # service path), then the client's query string, as Kong.
            query = req.target.partition("?")[2]
            target = match.upstream_path + ("?" + query if query else "")
            up.target = target  # what the log reports as upstream_uri
        headers = self._forwarded_headers(client, req, up.headers, match)
        timeouts = _proxy.Timeouts(service.connect_timeout / 1000, service.write_timeout / 1000, service.read_timeout / 1000)
        # Unbuffered (--request-buffering off): the client's body goes on as it
        # arrives, unless a plugin replaced it.
        body, length = up.body, None
        if req.body_stream is not None and not up.body:
            body, length = req.body_stream, req.body_stream.length
        if service.protocol == "asgi":
            return await self._call_app(client, req, service, up, target, headers, timeouts, body)
        scheme = up.scheme or service.protocol
        port = service.port or (443 if scheme == "https" else 80)
        return await self.pool.request(scheme, service.host, port, up.method, target, headers, body, timeouts, body_length=length)

    async def _call_app(self, client: _Client, req: HTTPRequest, service: Service, up, target, headers, timeouts, body):
        extensions: dict = {}
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
            method=up.method,
            target=target,
            headers=headers,
            http_version=req.http_version,
            scheme="https" if client.listener.ssl else "http",
            client=(client.info.client_ip, client.info.client_port),
            server=(client.listener.host, client.info.server_port),
            extensions=extensions,
        )
        return await _asgi.call_app(self.plan.asgi_apps[service.id], scope, body, timeout=timeouts.read)

    def _forwarded_headers(self, client: _Client, req: HTTPRequest, headers, match: RouteMatch) -> list[tuple[str, str]]:
        """Kong's upstream headers: Host, X-Forwarded-*, X-Real-IP (no trusted_ips)."""
        service = match.service
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
            host = service.host if not service.port or service.port == default else f"{service.host}:{service.port}"
        prior = req.header("x-forwarded-for")  # $proxy_add_x_forwarded_for
        ip = client.info.client_ip
        out.insert(0, ("Host", host))
        out += [
            ("X-Forwarded-For", f"{prior}, {ip}" if prior else ip),
            ("X-Forwarded-Proto", "https" if client.listener.ssl else "http"),
            ("X-Forwarded-Host", _strip_port(client_host) if client_host else ""),
            ("X-Forwarded-Port", str(client.info.server_port)),
            ("X-Forwarded-Path", req.target.split("?", 1)[0]),
        ]
        if match.stripped_prefix and match.stripped_prefix != "/":
            out.append(("X-Forwarded-Prefix", match.stripped_prefix))
        out.append(("X-Real-IP", ip))
        return out

    def _buffered_reply(self, response: Response, outcome) -> Reply:
        headers = [(k, v) for k, v in response.headers if k.lower() not in ("content-length", "transfer-encoding")]
        if not any(k.lower() == "via" for k, _ in headers) and outcome.proxy and outcome.context.upstream_response is not None:
            headers.append(("Via", VIA))

        def done(sent: int, complete: bool) -> None:
            self._access(outcome)

        return Reply(response.status, headers, bytes(response.body), done=done)

    def _access(self, outcome) -> None:
        if self._access_fd is None:
            return
        try:
            entry = outcome.context.serialize()
        except Exception:
            _log.exception("cannot serialize the request for the access log")
            return
        line = (json.dumps(entry, separators=(",", ":"), ensure_ascii=False, default=str) + "\n").encode()
        try:
            os.write(self._access_fd, line)  # one write: lines from workers never interleave
        except OSError as exc:
            _log.error("access log write failed: %s", exc)


def _strip_port(host: str) -> str:
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _entity_dict(entity) -> dict:
    def plain(v):
        if isinstance(v, tuple):
            return [plain(x) for x in v]
        return v

    return {f.name: plain(getattr(entity, f.name)) for f in dataclasses.fields(entity) if getattr(entity, f.name) is not None}


# -- processes -----------------------------------------------------------------------


def bind(listeners: list[Listener]) -> list[tuple[Listener, socket.socket]]:
    """Bind every listener now (so errors show before anything starts)."""
    out = []
    try:
        for listener in listeners:
            family = socket.AF_INET6 if ":" in listener.host else socket.AF_INET
            # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted
            # sockets whose proto says TCP, and Nagle + delayed ACKs cost 40 ms per response.
            sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            out.append((listener, sock))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if hasattr(socket, "SO_REUSEPORT"):
                # Lets a new generation bind while the old one drains.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((listener.host, listener.port))
            sock.listen(1024)
            sock.setblocking(False)
    except OSError as exc:
        for _, sock in out:
            sock.close()
        raise ServeConfigError(f"listen {listener}: {exc.strerror or exc}") from None
    return [(dataclasses.replace(l, port=s.getsockname()[1]), s) for l, s in out]


_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def run_worker(plan: Plan, options: ServeOptions, sockets) -> int:
    """One worker: serve until SIGTERM/SIGINT, then drain and return 0.

    Stop signals are blocked by :func:`serve` until the loop's handlers are
    in place, so a signal that arrives during start-up is handled, not fatal.
    """

    async def main() -> int:
        gateway = Gateway(plan, options)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in _STOP_SIGNALS:
            loop.add_signal_handler(signum, stop.set)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
        await gateway.start(sockets)
        await stop.wait()
        _log.info("worker %d stopping: %d connections open", os.getpid(), len(gateway._tasks))
        await gateway.stop()
        return 0

    return asyncio.run(main())


def serve(plan: Plan, options: ServeOptions, sockets, summary: list[str]) -> int:
    """Run ``options.workers`` workers on the bound sockets; return the exit status."""
    signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    # The summary goes to stdout when announced (the CLI), else to the log;
    # the log always gets its first line, so it records every start.
    for index, line in enumerate(summary):
        if options.announce:
            options.announce(line)
        if not options.announce or index == 0:
            _log.info("%s", line)
    if options.workers <= 1:
        return run_worker(plan, options, sockets)
    # Fork workers that inherit the listening sockets: the kernel hands each
    # new connection to one worker blocked in accept().
    children = []
    for _ in range(options.workers):
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                _stop_with_parent()
                status = run_worker(plan, options, sockets)
            except BaseException:
                _log.exception("worker %d failed", os.getpid())
            finally:
                os._exit(status)
        children.append(pid)
    for _, sock in sockets:
        sock.close()

    def forward(signum, _frame):
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    for signum in _STOP_SIGNALS:
        signal.signal(signum, forward)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    status = 0
    for pid in children:
        _, code = os.waitpid(pid, 0)  # PEP 475: retried after the handler runs
        if os.waitstatus_to_exitcode(code) != 0:
            _log.error("worker %d exited with status %d", pid, os.waitstatus_to_exitcode(code))
            status = 1
    return status


def _stop_with_parent() -> None:
    """Linux: a worker gets SIGTERM (and drains) if the parent dies, even by SIGKILL."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: workers outlive a killed parent, as with nginx


def summary_lines(plan: Plan, options: ServeOptions, sockets) -> list[str]:
    d = plan.declarative
    lines = [f"purekong serve: {len(sockets)} listener(s), {options.workers} worker(s), pid {os.getpid()}"]
    for listener, _ in sockets:
        lines.append(f"  listening on {listener}")
    for route in d.routes:
        service = d.service(route.service)
        target = "-" if service is None else (f"asgi {service.asgi}" if service.protocol == "asgi" else f"{service.protocol}://{service.host}:{service.port or ''}{service.path or ''}")
        what = " ".join(filter(None, [
            ",".join(route.protocols), ",".join(route.methods), ",".join(route.hosts), ",".join(route.paths), ("sni=" + ",".join(route.snis)) if route.snis else "",
        ]))
        lines.append(f"  route {route.name or route.id}: {what} -> {target}")
    for entity, inst in plan.plugins.instances:
        scope = entity.scope + (f" {entity.route or entity.service or entity.consumer}" if entity.scope != "global" else "")
        lines.append(f"  plugin {entity.name} ({scope}, priority {inst.spec.priority})")
    for i, ck in enumerate(plan.certificates):
        leaf = ck.chain[0]
        snis = next((c.snis for c in d.certificates if c.chain and c.chain[0] == leaf), ())
        label = "default" if i == 0 and not snis else ",".join(snis) or "no SNI"
        lines.append(f"  certificate {leaf.subject.rfc4514_string()} [{label}] expires {leaf.not_valid_after_utc:%Y-%m-%d}")
    if options.access_log:
        lines.append(f"  access log: {options.access_log}")
    return lines


def stderr_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s [%(levelname)s] %(process)d %(name)s: %(message)s"))
    root = logging.getLogger("purekong")
    root.addHandler(handler)
    root.setLevel(level)
