"""``purekong serve``'s processes: bind, fork, signals, the start-up summary.

:func:`bind` opens every listener before anything starts (errors show at
once). :func:`serve` prints the summary and runs ``--workers`` workers
(:class:`~._worker.Worker`, one asyncio loop each) on the inherited sockets:
in-process for one, forked for more (the kernel hands each connection to one
worker blocked in accept()). SIGTERM/SIGINT stop accepting, idle keep-alive
connections are closed, in-flight requests get ``grace`` seconds to finish,
then the exit status is 0.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import logging
import os
import signal
import socket
import sys
from typing import Callable

from purekong.gateway import ConfigError

from ._config import LoadedConfig
from ._metrics import SharedMetrics
from ._reload import ConfigSource
from ._settings import Listener, ServeConfigError, ServeOptions
from ._worker import Worker

__all__ = ["bind", "run_worker", "serve", "stderr_logging", "summary_lines"]

_log = logging.getLogger("purekong.serve")

#: Bound listeners: each with its socket, the port as bound (``:0`` resolved).
Sockets = list[tuple[Listener, socket.socket]]


def bind(listeners: list[Listener], flag: str = "--listen") -> Sockets:
    """Bind every listener now (so errors show before anything starts, naming ``flag``)."""
    out: list[tuple[Listener, socket.socket]] = []
    try:
        for listener in listeners:
            family = socket.AF_INET6 if ":" in listener.host else socket.AF_INET
            # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted
            # sockets whose proto says TCP, and Nagle + delayed ACKs cost 40 ms per response.
            sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            out.append((listener, sock))
            # SO_REUSEADDR only (past TIME_WAIT); never SO_REUSEPORT: a second,
            # unrelated purekong on a busy port must fail with "address already
            # in use", not share it. Our own workers inherit these sockets.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((listener.host, listener.port))
            sock.listen(1024)
            sock.setblocking(False)
    except OSError as exc:
        for _, sock in out:
            sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ServeConfigError(f"{flag} {listener}: address already in use (another process listens there)") from None
        raise ServeConfigError(f"{flag} {listener}: {exc.strerror or exc}") from None
    return [(dataclasses.replace(bound, port=sock.getsockname()[1]), sock) for bound, sock in out]


_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}
#: SIGHUP: re-read the configuration; SIGUSR2: load what POST /config accepted
#: in another worker (``_reload``). Blocked with the stop signals during start-up.
_RELOAD_SIGNALS = {signal.SIGHUP, signal.SIGUSR2}
_SIGNALS = _STOP_SIGNALS | _RELOAD_SIGNALS


def run_worker(config: LoadedConfig, options: ServeOptions, sockets: Sockets, source: ConfigSource | None = None,
               admin: socket.socket | None = None, shared: SharedMetrics | None = None) -> int:
    """One worker: serve until SIGTERM/SIGINT, then drain and return 0.

    Signals are blocked by :func:`serve` until the loop's handlers are in
    place, so a signal that arrives during start-up is handled, not fatal.
    """

    async def main() -> int:
        worker = Worker(config, options, source, shared)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in _STOP_SIGNALS:
            loop.add_signal_handler(signum, stop.set)
        if source is not None:
            loop.add_signal_handler(signal.SIGHUP, lambda: _reload_soon(worker, source.load, "SIGHUP"))
            loop.add_signal_handler(signal.SIGUSR2, lambda: _reload_soon(worker, source.load_posted, "POST /config"))
        else:
            for signum in _RELOAD_SIGNALS:
                loop.add_signal_handler(signum, lambda: _log.warning("nothing to reload"))
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)
        await worker.start(sockets, admin)
        await stop.wait()
        _log.info("worker %d stopping: %d connections open", os.getpid(), worker.connection_count)
        await worker.stop()
        return 0

    return asyncio.run(main())


def _reload_soon(worker: Worker, load: Callable[[], LoadedConfig], why: str) -> None:
    async def reload() -> None:
        try:
            config = load()
        except (ServeConfigError, ConfigError) as exc:
            worker.metrics.observe_reload(False)
            _log.error("%s: configuration refused, the old one stays: %s", why, exc)
            return
        await worker.reload(config)
        _log.info("%s: configuration reloaded (worker %d)", why, os.getpid())

    asyncio.get_running_loop().create_task(reload())


def serve(config: LoadedConfig, options: ServeOptions, sockets: Sockets, summary: list[str],
          source: ConfigSource | None = None, admin: socket.socket | None = None) -> int:
    """Run ``options.workers`` workers on the bound sockets; return the exit status."""
    signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
    # The summary goes to stdout when announced (the CLI), else to the log;
    # the log always gets its first line, so it records every start.
    for index, line in enumerate(summary):
        if options.announce:
            options.announce(line)
        if not options.announce or index == 0:
            _log.info("%s", line)
    if options.workers <= 1:
        return run_worker(config, options, sockets, source, admin)
    # Fork workers that inherit the listening sockets: the kernel hands each
    # new connection to one worker blocked in accept().
    children: list[int] = []
    # /metrics sums every worker's counters (each publishes into its slot).
    shared = SharedMetrics(options.workers) if admin is not None else None
    for index in range(options.workers):
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                _stop_with_parent()
                if shared is not None:
                    shared.index = index
                status = run_worker(config, options, sockets, source, admin, shared)
            except BaseException:
                _log.exception("worker %d failed", os.getpid())
            finally:
                os._exit(status)
        children.append(pid)
    for _, sock in sockets:
        sock.close()
    if admin is not None:
        admin.close()

    def forward(signum: int, _frame: object = None) -> None:
        for pid in children:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    def hangup(signum: int, _frame: object) -> None:
        # Validate once here, so an invalid file is reported once, not per worker.
        if source is not None:
            try:
                source.load()
            except (ServeConfigError, ConfigError) as exc:
                _log.error("SIGHUP: configuration refused, the old one stays: %s", exc)
                return
        forward(signal.SIGHUP)

    for signum in _STOP_SIGNALS:
        signal.signal(signum, lambda signum, frame: forward(signal.SIGTERM))
    signal.signal(signal.SIGHUP, hangup)
    signal.signal(signal.SIGUSR2, forward)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)
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


def summary_lines(config: LoadedConfig, options: ServeOptions, sockets: Sockets) -> list[str]:
    """The start-up summary: listeners, routes, plugins, certificates."""
    d = config.declarative
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
    for entity, inst in config.plugins.instances:
        scope = entity.scope + (f" {entity.route or entity.service or entity.consumer}" if entity.scope != "global" else "")
        lines.append(f"  plugin {entity.name} ({scope}, priority {inst.spec.priority})")
    for i, ck in enumerate(config.certificates):
        leaf = ck.chain[0]
        snis = next((c.snis for c in d.certificates if c.chain and c.chain[0] == leaf), ())
        label = "default" if i == 0 and not snis else ",".join(snis) or "no SNI"
        lines.append(f"  certificate {leaf.subject.rfc4514_string()} [{label}] expires {leaf.not_valid_after_utc:%Y-%m-%d}")
    if options.access_log:
        lines.append(f"  access log: {options.access_log}")
    return lines


def stderr_logging(level: int = logging.INFO) -> None:
    """Log lines of the ``purekong`` loggers to stderr (the CLI's default)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s [%(levelname)s] %(process)d %(name)s: %(message)s"))
    root = logging.getLogger("purekong")
    root.addHandler(handler)
    root.setLevel(level)
    # Access lines bare, as nginx's access log: they already carry the time.
    access = logging.StreamHandler(sys.stderr)
    access.setFormatter(logging.Formatter("%(message)s"))
    access_logger = logging.getLogger("purekong.access")
    access_logger.addHandler(access)
    access_logger.propagate = False
