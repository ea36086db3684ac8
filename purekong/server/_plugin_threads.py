"""Kong Python-PDK plugin phases, off the event loop.

Plugins in the wild call ``requests``, database clients and geocoders
synchronously. Run on the event loop, each such call would stall every
connection of the worker, and a plugin calling back into the same gateway
would deadlock it. So a request whose route has a Kong Python plugin runs its
phases (``Runner.run_request`` / ``run_response``) on one of a bounded number
of plugin threads, and the event loop waits for the result:

* a plugin that sleeps or waits on the network stalls only its own request;
* a plugin calling back into the same gateway works, even with one worker,
  while a plugin thread is free for the inner request;
* a plugin call that has not returned after ``timeout`` seconds is given up
  on: the request gets a 500 now and a log line names the plugin, the phase
  and the request. Python cannot stop a thread, so that thread stays busy
  until the plugin returns; its result is dropped and the rest of that
  request's phases do not run (``KongContext.abandoned``);
* the threads are daemon threads: a stuck plugin never holds up shutdown.

Native plugins (purekong's own, which never block) and routes without
plugins run inline, with no hand-off. PDK calls are safe from these threads:
each request's ``KongContext`` is only touched by the thread running its
phases, and what plugins share (``kong.nginx.shared``, the log) is locked.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from typing import Any, Callable, TypeVar

__all__ = ["PluginThreads", "PluginTimeout"]

_log = logging.getLogger("purekong.serve")

T = TypeVar("T")

#: Kong's own default for a plugin server's RPC, and a sensible bound for a phase.
DEFAULT_TIMEOUT = 60.0
DEFAULT_THREADS = 16


class PluginTimeout(Exception):
    """A plugin call ran longer than the per-phase timeout."""

    def __init__(self, plugin: str, phase: str, seconds: float) -> None:
        super().__init__(f"plugin {plugin!r} did not return from its {phase} phase within {seconds:g} s")
        self.plugin, self.phase = plugin, phase


class _Call:
    """One job on a plugin thread, and what the event loop knows of it."""

    def __init__(self, fn: Callable[[], Any], loop: asyncio.AbstractEventLoop) -> None:
        self.fn = fn
        self.loop = loop
        self.done: asyncio.Future[Any] = loop.create_future()
        self.current: tuple[str, str] | None = None  # (plugin, phase) running now
        self.started_at = time.monotonic()  # of the current plugin call
        self.progress = asyncio.Event()  # set when a new plugin call starts

    def plugin_started(self, plugin: str, phase: str) -> None:
        """Called on the plugin thread as each plugin call begins."""
        self.current, self.started_at = (plugin, phase), time.monotonic()
        self.loop.call_soon_threadsafe(self.progress.set)

    def finish(self, result: Any, error: BaseException | None) -> None:
        def settle() -> None:
            if self.done.done():
                return  # given up on already
            if error is not None:
                self.done.set_exception(error)
            else:
                self.done.set_result(result)

        try:
            self.loop.call_soon_threadsafe(settle)
        except RuntimeError:
            pass  # the loop is gone (shutdown): nobody waits for this any more


class PluginThreads:
    """A bounded pool of daemon threads for plugin phases, with a per-call timeout."""

    def __init__(self, size: int = DEFAULT_THREADS, timeout: float = DEFAULT_TIMEOUT) -> None:
        if size < 1:
            raise ValueError("the plugin thread pool needs at least one thread")
        self.size, self.timeout = size, timeout
        self._jobs: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def _ensure_threads(self) -> None:
        # Started on first use, so a configuration without Kong plugins has none.
        with self._lock:
            while len(self._threads) < self.size:
                thread = threading.Thread(target=self._work, name=f"purekong-plugin-{len(self._threads)}", daemon=True)
                thread.start()
                self._threads.append(thread)

    def _work(self) -> None:
        while True:
            call = self._jobs.get()
            if call is None:
                return
            try:
                result, error = call.fn(), None
            except BaseException as exc:  # handed to the waiting coroutine
                result, error = None, exc
            call.finish(result, error)

    async def run(self, fn: Callable[[Callable[[str, str], None]], T], what: str) -> T:
        """``fn(plugin_started)`` on a plugin thread; its result, or PluginTimeout.

        ``fn`` must call ``plugin_started(plugin, phase)`` as each plugin call
        begins (``KongContext.on_plugin_call``); the timeout runs per call.
        ``what`` names the request in the log line.
        """
        self._ensure_threads()
        loop = asyncio.get_running_loop()
        holder: list[_Call] = []
        call = _Call(lambda: fn(holder[0].plugin_started), loop)
        holder.append(call)
        self._jobs.put(call)
        while True:
            call.progress.clear()
            remaining = call.started_at + self.timeout - time.monotonic()
            if remaining <= 0:
                plugin, phase = call.current or ("?", "?")
                call.done.cancel()
                _log.error("plugin %r timed out in the %s phase after %g s (%s); the request gets a 500",
                           plugin, phase, self.timeout, what)
                raise PluginTimeout(plugin, phase, self.timeout)
            waiter = asyncio.ensure_future(call.progress.wait())
            finished, _ = await asyncio.wait({call.done, waiter}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if call.done in finished:
                return call.done.result()

    def close(self) -> None:
        """Let idle threads end; busy ones are daemons and die with the process."""
        for _ in self._threads:
            self._jobs.put(None)
        self._threads = []
