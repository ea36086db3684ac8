"""``_asgi.call_app``'s deadline for the app's head: armed only when the
app's first step did not send ``http.response.start``, counted from the call
either way."""

from __future__ import annotations

import asyncio

import pytest

from purekong.server import _asgi
from purekong.server._proxy import UpstreamTimeout


async def _hello(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"hi"})


def _counting_timers(loop: asyncio.AbstractEventLoop, monkeypatch) -> list[float]:
    """The deadlines of the head timers call_app arms on ``loop`` from now on."""
    armed: list[float] = []
    call_at = loop.call_at

    def counted(when, callback, *args, **kwargs):
        if getattr(callback, "__name__", "") == "expire":  # call_app's, not asyncio.sleep's
            armed.append(when)
        return call_at(when, callback, *args, **kwargs)

    monkeypatch.setattr(loop, "call_at", counted)
    return armed


def _scope() -> dict:
    return _asgi.build_scope(method="GET", target="/", headers=[], http_version="1.1", scheme="https",
                             client=("127.0.0.1", 1), server=("127.0.0.1", 2), extensions={})


def test_an_app_answering_in_its_first_step_arms_no_timer(monkeypatch):
    async def main():
        armed = _counting_timers(asyncio.get_running_loop(), monkeypatch)
        response = await _asgi.call_app(_hello, _scope(), b"", timeout=5.0)
        assert (response.status, await response.read()) == (200, b"hi")
        return armed

    assert asyncio.run(main()) == []


def test_a_slow_app_gets_the_deadline_counted_from_the_call(monkeypatch):
    async def slow(scope, receive, send):
        await asyncio.sleep(0.02)
        await _hello(scope, receive, send)

    async def never(scope, receive, send):
        await asyncio.Event().wait()

    async def main():
        loop = asyncio.get_running_loop()
        armed = _counting_timers(loop, monkeypatch)
        before = loop.time()
        response = await _asgi.call_app(slow, _scope(), b"", timeout=5.0)  # answers in its second step
        assert response.status == 200 and len(armed) == 1 and before + 5.0 <= armed[0] <= loop.time() + 5.0
        started = loop.time()
        with pytest.raises(UpstreamTimeout, match="did not respond within 0.05 s"):
            await _asgi.call_app(never, _scope(), b"", timeout=0.05)
        assert loop.time() - started >= 0.05

    asyncio.run(main())


def test_a_wait_cancelled_before_the_app_ran_leaves_no_timer(monkeypatch):
    async def main():
        loop = asyncio.get_running_loop()
        armed = _counting_timers(loop, monkeypatch)
        errors: list[dict] = []
        loop.set_exception_handler(lambda _, context: errors.append(context))
        waiting = asyncio.ensure_future(_asgi.call_app(_hello, _scope(), b"", timeout=0.01))
        await asyncio.sleep(0)  # call_app has created the app's task and waits on its head
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await asyncio.sleep(0.05)  # past the deadline: nothing fires, nothing is left unretrieved
        return armed, errors

    armed, errors = asyncio.run(main())
    assert armed == [] and errors == []
