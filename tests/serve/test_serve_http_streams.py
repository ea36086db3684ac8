"""The connection streams (purekong.server._streams) on a real socket pair:
the one deadline timer per connection, the read buffer's bound, writes."""

from __future__ import annotations

import asyncio
import socket

from purekong.server import ClientTimeouts, Limits
from purekong.server._streams import PAUSE_AT, READ_SIZE, ClientGone, open_stream

LIMITS = Limits(timeouts=ClientTimeouts(idle=2.0, client=2.0))


async def _pair():
    server_sock, client_sock = socket.socketpair()
    stream = await open_stream(server_sock, LIMITS)
    reader, writer = await asyncio.open_connection(sock=client_sock)
    return stream, reader, writer


def test_receive_by_gives_none_at_its_deadline_and_data_before_it():
    async def scenario():
        stream, _, writer = await _pair()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 0.05
        assert await asyncio.wait_for(stream.receive_by(deadline), 5) is None
        assert loop.time() >= deadline
        writer.write(b"abc")
        assert await asyncio.wait_for(stream.receive_by(loop.time() + 5), 5) == b"abc"
        writer.close()
        assert await asyncio.wait_for(stream.receive_by(loop.time() + 5), 5) == b""
        stream.abort()

    asyncio.run(scenario())


def test_a_deadline_moved_later_is_kept_and_one_moved_earlier_is_not_missed():
    async def scenario():
        stream, _, writer = await _pair()
        loop = asyncio.get_running_loop()
        # Armed for 0.1 s; the next wait's deadline is later: the timer fires
        # early, is armed again, and the wait ends at its own deadline.
        waiting = asyncio.ensure_future(stream.receive_by(loop.time() + 0.1))
        await asyncio.sleep(0.01)
        waiting.cancel()
        later = loop.time() + 0.3
        assert await asyncio.wait_for(stream.receive_by(later), 5) is None
        assert loop.time() >= later
        # Armed for an hour; a nearer deadline still ends its wait.
        waiting = asyncio.ensure_future(stream.receive_by(loop.time() + 3600))
        await asyncio.sleep(0.01)
        waiting.cancel()
        assert await asyncio.wait_for(stream.receive_by(loop.time() + 0.05), 5) is None
        # A wait without deadline is not ended by the timer of an earlier one.
        stream_wait = asyncio.ensure_future(stream.receive())
        await asyncio.sleep(0.1)
        assert not stream_wait.done()
        writer.write(b"x")
        assert await asyncio.wait_for(stream_wait, 5) == b"x"
        writer.close()
        stream.abort()

    asyncio.run(scenario())


def test_a_fast_sender_is_read_whole_while_the_buffer_stays_bounded():
    async def scenario():
        stream, _, writer = await _pair()
        payload = bytes(range(256)) * 4096  # 1 MiB
        writer.write(payload)
        writer.write_eof()
        await asyncio.sleep(0.1)  # let it arrive while nobody reads
        assert stream._buffered <= PAUSE_AT + 262144  # paused past the mark (+ at most one socket read)
        got = bytearray()
        while chunk := await asyncio.wait_for(stream.receive(), 5):
            assert len(chunk) <= READ_SIZE
            got += chunk
        assert got == payload
        stream.abort()

    asyncio.run(scenario())


def test_send_to_a_gone_client_raises_client_gone():
    async def scenario():
        stream, _, writer = await _pair()
        writer.transport.abort()
        assert await asyncio.wait_for(stream.receive(), 5) == b""
        await asyncio.sleep(0.05)
        try:
            for _ in range(100):  # the reset shows on a write, or the transport is already closing
                await stream.send(b"x" * 65536)
        except ClientGone:
            pass
        else:
            raise AssertionError("sending to a reset socket never failed")
        stream.abort()

    asyncio.run(scenario())
