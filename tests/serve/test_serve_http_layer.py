"""The HTTP layer (purekong.server._http) on a real socket pair, without the gateway.

Each request is a RequestCycle: respond(), the reply is sent, then finish()
with how far it got. These tests pin that order, which the gateway's log
phase and access log rely on.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from purekong.server import ClientTimeouts, Limits
from purekong.server._http import HTTPRequest, Reply, Sent, serve_connection

from _serve_helpers import serve_on_socketpair

LIMITS = Limits(timeouts=ClientTimeouts(idle=2.0, client=2.0))


class Recorder:
    """A Handler (RequestCycle factory) that records each step."""

    def __init__(self, make_body: object = b"hello") -> None:
        self.steps: list[tuple[str, object]] = []
        self.make_body = make_body

    def __call__(self, request: HTTPRequest) -> "Recorder.Cycle":
        return Recorder.Cycle(self, request)

    class Cycle:
        def __init__(self, recorder: "Recorder", request: HTTPRequest) -> None:
            self.recorder, self.request = recorder, request

        async def respond(self) -> Reply:
            self.recorder.steps.append(("respond", self.request.target))
            body = self.recorder.make_body
            return Reply(200, [("Content-Type", "text/plain")], body() if callable(body) else body)

        async def finish(self, sent: Sent) -> None:
            self.recorder.steps.append(("finish", sent))


async def _serve(recorder: Recorder, client_side: bytes, *, read_all: bool = True) -> bytes:
    task, _, c_reader, c_writer = await serve_on_socketpair(serve_connection, recorder, LIMITS, client_side)
    data = b""
    if read_all:
        data = await asyncio.wait_for(c_reader.read(), 5)
    else:
        data = await asyncio.wait_for(c_reader.readuntil(b"\r\n\r\n"), 5)
    c_writer.transport.abort()
    await asyncio.wait_for(task, 5)
    return data


def test_finish_runs_after_the_reply_with_what_was_sent():
    recorder = Recorder()
    data = asyncio.run(_serve(recorder, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
    assert data.count(b"HTTP/1.1 200") == 2 and data.endswith(b"hello")
    assert recorder.steps == [("respond", "/a"), ("finish", Sent(5, True)), ("respond", "/b"), ("finish", Sent(5, True))]


def test_a_client_gone_mid_stream_finishes_incomplete():
    gate = asyncio.Event()

    def body() -> AsyncIterator[bytes]:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"first"
            await gate.wait()  # the client leaves before the rest
            yield b"never"

        return chunks()

    recorder = Recorder(body)

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        loop.call_later(0.5, gate.set)
        await _serve(recorder, b"GET /s HTTP/1.1\r\nHost: x\r\n\r\n", read_all=False)

    asyncio.run(scenario())
    assert recorder.steps[0] == ("respond", "/s")
    step, sent = recorder.steps[1]
    # "never" may still reach the kernel buffer; the end of the message cannot.
    assert step == "finish" and isinstance(sent, Sent) and not sent.complete and sent.body_bytes in (5, 10)


def test_a_malformed_request_is_answered_without_an_exchange():
    recorder = Recorder()
    data = asyncio.run(_serve(recorder, b"NOT HTTP\r\n\r\n"))
    assert data.startswith(b"HTTP/1.1 400") and b'{"message":"Bad request"}' in data
    assert recorder.steps == []


def test_a_reply_cut_by_cancellation_still_finishes():
    # Shutdown cancels connections still busy after the grace period.
    def body() -> AsyncIterator[bytes]:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"first"
            await asyncio.sleep(60)
            yield b"never"

        return chunks()

    recorder = Recorder(body)

    async def scenario() -> None:
        task, stream, c_reader, c_writer = await serve_on_socketpair(
            serve_connection, recorder, LIMITS, b"GET /c HTTP/1.1\r\nHost: x\r\n\r\n")
        await asyncio.wait_for(c_reader.readuntil(b"first"), 5)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        stream.abort()
        c_writer.transport.abort()

    asyncio.run(scenario())
    assert recorder.steps == [("respond", "/c"), ("finish", Sent(5, False))]
