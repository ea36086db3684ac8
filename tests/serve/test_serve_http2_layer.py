"""The HTTP/2 layer (purekong.server._http2) on a real socket pair, without the gateway.

An h2 client on one end, ``serve_http2`` on the other with a handler that
records each request cycle. Hypothesis sends well-formed requests followed
by arbitrary bytes: whatever arrives, the connection ends (a GOAWAY or the
socket closed, never a hang), nothing escapes the layer, and every request
that was started is finished exactly once.
"""

from __future__ import annotations

import asyncio

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
from hypothesis import given
from hypothesis import strategies as st

from purekong.server import ClientTimeouts, Limits
from purekong.server._http import HTTPRequest, Reply, Sent
from purekong.server._http2 import serve_http2

from _serve_helpers import serve_on_socketpair

LIMITS = Limits(timeouts=ClientTimeouts(idle=0.2, client=0.5), max_body_size=4096)  # short: each example ends by them


class Recorder:
    def __init__(self) -> None:
        self.responded: list[str] = []
        self.finished: list[tuple[str, bool]] = []

    def __call__(self, request: HTTPRequest) -> "Recorder.Cycle":
        return Recorder.Cycle(self, request)

    class Cycle:
        def __init__(self, recorder: "Recorder", request: HTTPRequest) -> None:
            self.recorder, self.request = recorder, request

        async def respond(self) -> Reply:
            self.recorder.responded.append(self.request.target)
            return Reply(200, [("Content-Type", "text/plain")], b"x" * 100)

        async def finish(self, sent: Sent) -> None:
            self.recorder.finished.append((self.request.target, sent.complete))


async def _exchange(client: h2.connection.H2Connection, client_bytes: bytes) -> tuple[Recorder, list[h2.events.Event], BaseException | None]:
    recorder = Recorder()
    task, stream, c_reader, c_writer = await serve_on_socketpair(serve_http2, recorder, LIMITS, client_bytes)
    events: list[h2.events.Event] = []
    try:
        data = await asyncio.wait_for(c_reader.read(), 10)  # until the server closes
        try:
            events = client.receive_data(data)
        except h2.exceptions.ProtocolError:
            pass  # the server's frames after an error of ours need not make sense to h2's client
    finally:
        c_writer.transport.abort()
    error = None
    try:
        await asyncio.wait_for(task, 10)
    except BaseException as exc:  # noqa: BLE001 - what the test is about
        error = exc
    finally:
        stream.abort()
    return recorder, events, error


def _requests(count: int, body: bytes) -> tuple[h2.connection.H2Connection, bytes]:
    """The client (to read the answers with) and the bytes it sends."""
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    client.initiate_connection()
    for i in range(count):
        sid = client.get_next_available_stream_id()
        client.send_headers(sid, [(":method", "POST" if body else "GET"), (":path", f"/r{i}"), (":scheme", "https"),
                                  (":authority", "localhost")], end_stream=not body)
        if body:
            client.send_data(sid, body[: client.local_flow_control_window(sid)], end_stream=True)
    return client, client.data_to_send()


@given(count=st.integers(0, 3), body=st.binary(max_size=5000), garbage=st.binary(max_size=200))
def test_any_bytes_after_valid_requests_end_the_connection_cleanly(count, body, garbage):
    client, data = _requests(count, body)
    recorder, events, error = asyncio.run(_exchange(client, data + garbage))
    assert error is None, repr(error)
    # Every request that got a cycle was finished once, whatever came after it.
    assert sorted(t for t, _ in recorder.finished) == sorted(recorder.responded)
    assert len(set(recorder.responded)) == len(recorder.responded)


def test_valid_requests_are_answered_and_the_idle_connection_gets_goaway():
    recorder, events, error = asyncio.run(_exchange(*_requests(3, b"")))
    assert error is None
    assert sorted(recorder.responded) == ["/r0", "/r1", "/r2"] and all(done for _, done in recorder.finished)
    statuses = [dict(e.headers)[b":status"] for e in events if isinstance(e, h2.events.ResponseReceived)]
    assert statuses == [b"200"] * 3
    assert isinstance(events[-1], h2.events.ConnectionTerminated) and events[-1].error_code == 0  # idle timeout


def test_a_body_over_the_limit_gets_413_without_a_cycle():
    recorder, events, error = asyncio.run(_exchange(*_requests(1, b"z" * 5000)))  # 4096 allowed
    assert error is None and recorder.responded == []
    statuses = [dict(e.headers)[b":status"] for e in events if isinstance(e, h2.events.ResponseReceived)]
    assert statuses == [b"413"]


class Streamer:
    """Each request answered with a streamed body: ``CHUNKS`` chunks, the stream's own byte pattern."""

    CHUNKS, SIZE = 8, 40000

    def __init__(self) -> None:
        self.finished: list[tuple[str, int, bool]] = []

    def __call__(self, request: HTTPRequest) -> "Streamer.Cycle":
        return Streamer.Cycle(self, request)

    @staticmethod
    def body(target: str) -> bytes:
        return b"".join(bytes([65 + int(target[2:]) % 26, i]) * (Streamer.SIZE // 2) for i in range(Streamer.CHUNKS))

    class Cycle:
        def __init__(self, streamer: "Streamer", request: HTTPRequest) -> None:
            self.streamer, self.request = streamer, request

        async def respond(self) -> Reply:
            async def chunks():
                body = Streamer.body(self.request.target)
                for i in range(0, len(body), Streamer.SIZE):
                    await asyncio.sleep(0)
                    yield body[i:i + Streamer.SIZE]
            return Reply(200, [("Content-Type", "application/octet-stream")], chunks())

        async def finish(self, sent: Sent) -> None:
            self.streamer.finished.append((self.request.target, sent.body_bytes, sent.complete))


async def _streamed(count: int, window: int) -> tuple[Streamer, dict[int, bytes], set[int]]:
    streamer = Streamer()
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    client.initiate_connection()
    client.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window})
    for i in range(count):
        client.send_headers(client.get_next_available_stream_id(), [(":method", "GET"), (":path", f"/s{i}"), (":scheme", "https"),
                                                                    (":authority", "localhost")], end_stream=True)
    task, stream, c_reader, c_writer = await serve_on_socketpair(serve_http2, streamer, LIMITS)
    bodies: dict[int, bytes] = {}
    ended: set[int] = set()
    try:
        while len(ended) < count:
            c_writer.write(client.data_to_send())
            data = await asyncio.wait_for(c_reader.read(65536), 10)
            assert data, "the server closed before every stream ended"
            for event in client.receive_data(data):
                if isinstance(event, h2.events.DataReceived):
                    bodies[event.stream_id] = bodies.get(event.stream_id, b"") + event.data
                    client.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded):
                    ended.add(event.stream_id)
    finally:
        c_writer.transport.abort()
        await asyncio.wait_for(task, 10)
    return streamer, bodies, ended


def test_streamed_bodies_on_several_streams_through_small_windows_arrive_whole():
    """Writes are batched across streams; the windows (16 KiB per stream here,
    64 KiB for the connection) still hold each stream, and every byte arrives in order."""
    streamer, bodies, ended = asyncio.run(_streamed(5, 16384))
    assert ended == {1, 3, 5, 7, 9}
    for i, sid in enumerate(sorted(bodies)):
        assert bodies[sid] == Streamer.body(f"/s{i}")
    total = Streamer.CHUNKS * Streamer.SIZE
    assert sorted(streamer.finished) == [(f"/s{i}", total, True) for i in range(5)]
