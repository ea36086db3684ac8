"""One worker of ``purekong serve``: its listeners and connections.

:class:`Worker` owns the lifecycle (ASGI lifespans, the access log, the
upstream pool), accepts connections within ``--max-connections``, runs the
TLS handshake with Kong's connection phases (client_hello, certificate: the
certificate chosen by SNI, the TLS plugins' client-certificate requests), and
then hands the connection's stream (:mod:`._streams`) to the HTTP layer
(:mod:`._http`), whose requests each go through one :class:`~._request.Exchange`.

At shutdown (:meth:`Worker.stop`) it stops accepting, closes idle keep-alive
connections, and gives requests in flight ``grace`` seconds.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from purekong.engine import ClientHelloReceived, ServerConfig, ServerConnection
from purekong.pdk import WORKER_STATISTICS, ConnectionInfo
from purekong.runner import ConnectionPhases

from . import _asgi, _proxy
from ._config import LoadedConfig
from ._http import HTTPRequest, serve_connection
from ._http2 import serve_http2
from ._plugin_threads import PluginThreads
from ._access_log import RequestLog
from ._inspect import InspectDir, RecordedServerConnection
from ._metrics import Metrics, SharedMetrics
from ._reload import ConfigSource
from ._request import Client, Exchange, RequestHandler
from ._settings import Listener, ServeOptions
from ._streams import PlainStream, TLSStream

__all__ = ["ALPN_PROTOCOLS", "Worker"]

#: What the listeners offer over ALPN, in order of preference: nginx's list
#: (ngx_http_ssl_alpn_select: h2 when enabled, then HTTP/1.x down to 0.9).
ALPN_PROTOCOLS = ("h2", "http/1.1", "http/1.0", "http/0.9")

_log = logging.getLogger("purekong.serve")


@functools.lru_cache(maxsize=64)
def _pem(certificate: x509.Certificate) -> str:
    """A server certificate's PEM (what the ASGI tls extension shows), encoded once per certificate."""
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


class Worker:
    def __init__(self, config: LoadedConfig, options: ServeOptions, source: ConfigSource | None = None,
                 shared: SharedMetrics | None = None) -> None:
        self.config, self.options, self.limits = config, options, options.limits
        self.source = source  # where a reload reads from (SIGHUP, POST /config)
        self.pool = _proxy.UpstreamPool()
        self.plugin_threads = PluginThreads(options.plugin_threads, options.plugin_timeout)
        self._servers: list[asyncio.Server] = []
        self._tasks: dict[asyncio.Task[None], Client | None] = {}  # None: still handshaking
        self.metrics = Metrics()
        self.shared_metrics = shared  # with several workers: where each publishes its counters
        self._publisher: asyncio.Task[None] | None = None
        self._access_log: RequestLog | None = None
        self._handler: RequestHandler | None = None
        self._lifespans: dict[int, _asgi.Lifespan] = {}  # by id() of the app
        self._tls_config = self._tls_config_for(config)
        self._inspect = InspectDir(options.inspect_dir) if options.inspect_dir is not None else None

    @staticmethod
    def _tls_config_for(config: LoadedConfig) -> ServerConfig | None:
        if not config.certificates:
            return None
        return ServerConfig(certificates=tuple(config.certificates), alpn_protocols=ALPN_PROTOCOLS)

    @property
    def connection_count(self) -> int:
        return len(self._tasks)

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self, sockets: list[tuple[Listener, socket.socket]], admin: socket.socket | None = None) -> None:
        self._access_log = RequestLog(self.options.access_log, self.options.access_log_format, self.metrics)
        await self._start_lifespans(self.config)
        self._handler = RequestHandler(self.config, self.pool, self._access_log, self.plugin_threads)
        loop = asyncio.get_running_loop()
        for listener, sock in sockets:
            stream_class: type[PlainStream | TLSStream] = TLSStream if listener.ssl else PlainStream
            factory = functools.partial(stream_class, self.limits, functools.partial(self._opened, listener))
            self._servers.append(await loop.create_server(factory, sock=sock))
        if admin is not None:
            from ._admin import AdminServer

            factory = functools.partial(PlainStream, self.limits, AdminServer(self).opened)
            self._servers.append(await loop.create_server(factory, sock=admin))
        if self.shared_metrics is not None:
            self._publisher = asyncio.get_running_loop().create_task(self._publish_metrics())

    async def _publish_metrics(self) -> None:
        assert self.shared_metrics is not None
        while True:
            self.shared_metrics.publish(self.metrics)
            await asyncio.sleep(1.0)

    def metrics_view(self) -> Metrics:
        """What /metrics shows: this worker's counters, plus the others' latest."""
        if self.shared_metrics is None:
            return self.metrics
        return self.metrics.merged(self.shared_metrics.others())

    async def _start_lifespans(self, config: LoadedConfig) -> None:
        for app in config.asgi_apps.values():
            if id(app) not in self._lifespans:
                lifespan = _asgi.Lifespan(app)
                await lifespan.startup()
                self._lifespans[id(app)] = lifespan

    async def reload(self, config: LoadedConfig) -> None:
        """Switch to a new configuration: new connections and new requests on
        open ones use it; requests in flight finish on the old one; nothing
        is closed. (ASGI apps new to it get their lifespan startup first.)"""
        await self._start_lifespans(config)
        self.config = config
        self._tls_config = self._tls_config_for(config) or self._tls_config
        self._handler = RequestHandler(config, self.pool, self._access_log, self.plugin_threads)
        self.metrics.observe_reload(True)

    async def stop(self) -> None:
        """Stop accepting; close idle connections; give the rest ``grace`` seconds."""
        if self._publisher is not None:
            self._publisher.cancel()
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
        for lifespan in self._lifespans.values():
            await lifespan.shutdown()
        self.pool.close()
        self.plugin_threads.close()
        if self._access_log is not None:
            self._access_log.close()
            self._access_log = None

    # -- connections -------------------------------------------------------------------
    def _opened(self, listener: Listener, stream: PlainStream | TLSStream) -> None:
        """A connection was accepted (``connection_made``): count it, give a TLS
        stream its engine connection before any byte arrives, start its task."""
        stats = WORKER_STATISTICS  # nginx's stub_status counters, for kong.nginx.get_statistics
        stats.connections_accepted += 1
        self.metrics.connections_accepted += 1
        if len(self._tasks) >= self.limits.max_connections:
            _log.warning("connection refused: %d connections open (--max-connections)", len(self._tasks))
            stream.transport.abort()
            return
        stats.connections_handled += 1
        try:
            self._start(listener, stream)
        except Exception:  # noqa: BLE001 - in connection_made: asyncio would only log it, the socket left open
            _log.exception("connection failed")
            stream.transport.abort()

    def _start(self, listener: Listener, stream: PlainStream | TLSStream) -> None:
        peer = stream.transport.get_extra_info("peername") or ("", 0)
        sockname = stream.transport.get_extra_info("sockname") or ("", listener.port)
        address = (peer[0], peer[1], sockname[1])
        config = self.config  # this connection's handshake uses the configuration of now
        phases: ConnectionPhases | None = None
        if isinstance(stream, TLSStream):
            assert self._tls_config is not None
            phases = ConnectionPhases(
                config.plugins.connection_runner,
                verify_depth=config.verify_depth,
                certificate_handlers=config.certificate_handlers,
                certificate_selector=config.certificates_for,
            )

            def on_hello(conn: ServerConnection, event: ClientHelloReceived, phases: ConnectionPhases = phases) -> None:
                phases.on_client_hello(conn, event, client_ip=address[0], client_port=address[1], server_port=address[2])

            conn = ServerConnection(self._tls_config) if self._inspect is None else \
                self._inspect.connection(self._tls_config, (address[0], address[1]), (sockname[0], address[2]))
            stream.start(conn, on_hello)
        task = asyncio.get_running_loop().create_task(self._accept(listener, stream, address, phases))
        self._tasks[task] = None
        WORKER_STATISTICS.connections_active = self.metrics.connections_open = len(self._tasks)

    async def _accept(self, listener: Listener, stream: PlainStream | TLSStream, address: tuple[str, int, int],
                      phases: ConnectionPhases | None) -> None:
        task = asyncio.current_task()
        assert task is not None
        try:
            await self._serve(listener, stream, address, phases, task)
        except asyncio.CancelledError:
            pass
        except Exception:
            _log.exception("connection failed")
        finally:
            self._tasks.pop(task, None)
            WORKER_STATISTICS.connections_active = self.metrics.connections_open = len(self._tasks)
            stream.abort()  # idempotent; whatever happened, the fd goes

    async def _serve(self, listener: Listener, stream: PlainStream | TLSStream, address: tuple[str, int, int],
                     phases: ConnectionPhases | None, task: asyncio.Task[None]) -> None:
        client_ip, client_port, server_port = address
        if isinstance(stream, TLSStream):
            assert self._tls_config is not None and phases is not None
            try:
                handshake = await stream.do_handshake()
            except Exception as exc:
                self.metrics.observe_handshake(None, False)
                _log.info("TLS handshake with %s:%s failed: %s", client_ip, client_port, exc)
                await self._recorded(stream.conn)
                return
            chosen = phases.certificates or self._tls_config.certificates
            info = ConnectionInfo(tls=phases.tls_info(handshake), client_ip=client_ip, client_port=client_port, server_port=server_port)
            self.metrics.observe_handshake(info.tls.version, True, info.tls.client_verify)
            client = Client(listener, info, _pem(chosen[0].chain[0]), handshake)
        else:
            client = Client(listener, ConnectionInfo(client_ip=client_ip, client_port=client_port, server_port=server_port))
        self._tasks[task] = client

        def exchange(req: HTTPRequest) -> Exchange:
            assert self._handler is not None
            return self._handler.exchange(client, req)  # the configuration of now (SIGHUP)

        try:
            if client.handshake is not None and client.handshake.alpn_protocol == "h2":
                await serve_http2(stream, exchange, self.limits, client.state)
            else:
                await serve_connection(stream, exchange, self.limits, client.state)
        finally:
            await stream.close()  # close_notify and FIN; _accept aborts if that hangs
            if isinstance(stream, TLSStream):
                await self._recorded(stream.conn)

    async def _recorded(self, conn: ServerConnection) -> None:
        """--inspect: the connection's recording, written once it ended."""
        if self._inspect is not None and isinstance(conn, RecordedServerConnection):
            await self._inspect.save(conn)
