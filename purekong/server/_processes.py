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
import logging
import os
import signal
import socket
import sys

from ._config import LoadedConfig
from ._settings import Listener, ServeConfigError, ServeOptions
from ._worker import Worker

__all__ = ["bind", "run_worker", "serve", "stderr_logging", "summary_lines"]

_log = logging.getLogger("purekong.serve")

#: Bound listeners: each with its socket, the port as bound (``:0`` resolved).
Sockets = list[tuple[Listener, socket.socket]]


def bind(listeners: list[Listener]) -> Sockets:
    """Bind every listener now (so errors show before anything starts)."""
    out: list[tuple[Listener, socket.socket]] = []
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
    return [(dataclasses.replace(bound, port=sock.getsockname()[1]), sock) for bound, sock in out]


_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def run_worker(config: LoadedConfig, options: ServeOptions, sockets: Sockets) -> int:
    """One worker: serve until SIGTERM/SIGINT, then drain and return 0.

    Stop signals are blocked by :func:`serve` until the loop's handlers are
    in place, so a signal that arrives during start-up is handled, not fatal.
    """

    async def main() -> int:
        worker = Worker(config, options)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in _STOP_SIGNALS:
            loop.add_signal_handler(signum, stop.set)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
        await worker.start(sockets)
        await stop.wait()
        _log.info("worker %d stopping: %d connections open", os.getpid(), worker.connection_count)
        await worker.stop()
        return 0

    return asyncio.run(main())


def serve(config: LoadedConfig, options: ServeOptions, sockets: Sockets, summary: list[str]) -> int:
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
        return run_worker(config, options, sockets)
    # Fork workers that inherit the listening sockets: the kernel hands each
    # new connection to one worker blocked in accept().
    children: list[int] = []
    for _ in range(options.workers):
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                _stop_with_parent()
                status = run_worker(config, options, sockets)
            except BaseException:
                _log.exception("worker %d failed", os.getpid())
            finally:
                os._exit(status)
        children.append(pid)
    for _, sock in sockets:
        sock.close()

    def forward(signum: int, _frame: object) -> None:
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
