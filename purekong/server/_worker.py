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

from cryptography.hazmat.primitives import serialization

from purekong.engine import ClientHelloReceived, ServerConfig, ServerConnection
from purekong.pdk import WORKER_STATISTICS, ConnectionInfo
from purekong.runner import ConnectionPhases

from . import _asgi, _proxy
from ._config import LoadedConfig
from ._http import HTTPRequest, serve_connection
from ._plugin_threads import PluginThreads
from ._request import AccessLog, Client, Exchange, RequestHandler
from ._settings import Listener, ServeOptions
from ._streams import PlainStream, TLSStream

__all__ = ["Worker"]

_log = logging.getLogger("purekong.serve")


class Worker:
    def __init__(self, config: LoadedConfig, options: ServeOptions) -> None:
        self.config, self.options, self.limits = config, options, options.limits
        self.pool = _proxy.UpstreamPool()
        self.plugin_threads = PluginThreads(options.plugin_threads, options.plugin_timeout)
        self._servers: list[asyncio.Server] = []
        self._tasks: dict[asyncio.Task[None], Client | None] = {}  # None: still handshaking
        self._access_log: AccessLog | None = None
        self._handler: RequestHandler | None = None
        self._lifespans: list[_asgi.Lifespan] = []
        self._tls_config: ServerConfig | None = None
        if config.certificates:
            self._tls_config = ServerConfig(certificates=tuple(config.certificates), alpn_protocols=("http/1.1",))

    @property
    def connection_count(self) -> int:
        return len(self._tasks)

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self, sockets: list[tuple[Listener, socket.socket]]) -> None:
        if self.options.access_log is not None:
            self._access_log = AccessLog(self.options.access_log)
        self._handler = RequestHandler(self.config, self.pool, self._access_log, self.plugin_threads)
        for app in self.config.asgi_apps.values():
            lifespan = _asgi.Lifespan(app)
            await lifespan.startup()
            self._lifespans.append(lifespan)
        for listener, sock in sockets:
            server = await asyncio.start_server(functools.partial(self._accept, listener), sock=sock)
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
        self.plugin_threads.close()
        if self._access_log is not None:
            self._access_log.close()
            self._access_log = None

    # -- connections -------------------------------------------------------------------
    async def _accept(self, listener: Listener, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        stats = WORKER_STATISTICS  # nginx's stub_status counters, for kong.nginx.get_statistics
        stats.connections_accepted += 1
        if len(self._tasks) >= self.limits.max_connections:
            _log.warning("connection refused: %d connections open (--max-connections)", len(self._tasks))
            writer.transport.abort()
            return
        stats.connections_handled += 1
        self._tasks[task] = None
        stats.connections_active = len(self._tasks)
        try:
            await self._serve(listener, reader, writer, task)
        except asyncio.CancelledError:
            pass
        except Exception:
            _log.exception("connection failed")
        finally:
            self._tasks.pop(task, None)
            stats.connections_active = len(self._tasks)
            writer.transport.abort()  # idempotent; whatever happened, the fd goes

    async def _serve(self, listener: Listener, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, task: asyncio.Task[None]) -> None:
        peer = writer.get_extra_info("peername") or ("", 0)
        sockname = writer.get_extra_info("sockname") or ("", listener.port)
        client_ip, client_port, server_port = peer[0], peer[1], sockname[1]
        info = ConnectionInfo(client_ip=client_ip, client_port=client_port, server_port=server_port)
        stream: PlainStream | TLSStream
        if listener.ssl:
            assert self._tls_config is not None
            phases = ConnectionPhases(
                self.config.plugins.connection_runner,
                verify_depth=self.config.verify_depth,
                certificate_handlers=self.config.certificate_handlers,
                certificate_selector=self.config.certificates_for,
            )

            def on_hello(conn: ServerConnection, event: ClientHelloReceived) -> None:
                phases.on_client_hello(conn, event, client_ip=client_ip, client_port=client_port, server_port=server_port)

            stream = TLSStream(reader, writer, ServerConnection(self._tls_config), self.limits, on_hello)
            try:
                handshake = await stream.do_handshake()
            except Exception as exc:
                _log.info("TLS handshake with %s:%s failed: %s", client_ip, client_port, exc)
                return
            chosen = phases.certificates or self._tls_config.certificates
            cert_pem = chosen[0].chain[0].public_bytes(serialization.Encoding.PEM).decode()
            info = ConnectionInfo(tls=phases.tls_info(handshake), client_ip=client_ip, client_port=client_port, server_port=server_port)
            client = Client(listener, info, cert_pem, handshake)
        else:
            stream = PlainStream(reader, writer, self.limits)
            client = Client(listener, info)
        self._tasks[task] = client
        assert self._handler is not None
        handler = self._handler

        def exchange(req: HTTPRequest) -> Exchange:
            return handler.exchange(client, req)

        try:
            await serve_connection(stream, exchange, self.limits, client.state)
        finally:
            await stream.close()  # close_notify and FIN; _accept aborts if that hangs
