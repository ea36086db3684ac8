"""200 concurrent connections against ``purekong serve``: good clients mixed
with stalled, truncated, resetting and garbage-sending ones.

Every good request must succeed, and once the bad clients are gone (the
gateway runs with short timeouts here) its open file descriptors must be
back to what they were before the storm: no leaked socket, no leaked task
holding one.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import ssl
import struct
import time

from _serve_helpers import TIMEOUT, certificates_yml, start_gateway, write_plugins

GOOD_TLS, GOOD_PLAIN = 40, 40
BAD_KINDS = ("silent", "half-hello", "reset-hello", "garbage-tls", "garbage-plain", "half-head", "reset-body", "slow-reader")
BAD_EACH = 15  # 8 kinds x 15 = 120; 200 connections in all


def _fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _connections(pid: int) -> int:
    """How many accepted TCP connections (any state but LISTEN) process ``pid`` holds."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:  # closed meanwhile
            continue
        if link.startswith("socket:["):
            inodes.add(link[len("socket:["):-1])
    held = 0
    for table in ("tcp", "tcp6"):
        with open(f"/proc/{pid}/net/{table}") as f:
            for row in f.read().splitlines()[1:]:
                fields = row.split()
                held += fields[9] in inodes and fields[3] != "0A"  # 0A: LISTEN
    return held


def _wait_for_connections(pid: int, count: int) -> None:
    deadline = time.monotonic() + TIMEOUT
    while _connections(pid) != count and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _connections(pid) == count


def _idle_fd_count(pid: int, port: int) -> int:
    """The gateway's fd count once it has served one request and closed it.

    The summary's "ready" line can come before the event loop has opened its
    own descriptors; a request answered proves it runs.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 ")
    _wait_for_connections(pid, 0)
    return _fd_count(pid)


def _client_hello(ctx: ssl.SSLContext) -> bytes:
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def _rst(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _good(port: int, ctx: ssl.SSLContext | None, i: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="localhost" if ctx else None)
    body = f"request {i}".encode()
    writer.write(b"POST /app/%d HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (i, len(body), body))
    await writer.drain()
    data = await reader.read()
    writer.close()
    return data


async def _bad(kind: str, https: int, http: int, hello: bytes) -> None:
    port = http if kind in ("garbage-plain", "half-head", "reset-body", "slow-reader") else https
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        if kind == "silent":
            await asyncio.sleep(random.uniform(0, 4))
        elif kind == "half-hello":
            writer.write(hello[: len(hello) // 2])
            await writer.drain()
            await asyncio.sleep(random.uniform(0, 4))
        elif kind == "reset-hello":
            writer.write(hello[:60])
            await writer.drain()
            await asyncio.sleep(random.uniform(0, 0.5))
            _rst(writer)
            return
        elif kind in ("garbage-tls", "garbage-plain"):
            writer.write(os.urandom(random.randint(1, 3000)))
            await writer.drain()
            await asyncio.wait_for(reader.read(), TIMEOUT)
        elif kind == "half-head":
            writer.write(b"GET /app HTTP/1.1\r\nHost: localhost\r\nX-Partial: ")
            await writer.drain()
            await asyncio.sleep(random.uniform(0, 4))
        elif kind == "reset-body":
            writer.write(b"POST /app HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100)
            await writer.drain()
            await asyncio.sleep(random.uniform(0, 0.5))
            _rst(writer)
            return
        elif kind == "slow-reader":
            # Asks, never reads the answer, then vanishes.
            writer.write(b"GET /app HTTP/1.1\r\nHost: localhost\r\n\r\n" * 20)
            await writer.drain()
            await asyncio.sleep(random.uniform(0, 2))
            _rst(writer)
            return
    except (ConnectionError, OSError, asyncio.TimeoutError):
        pass
    writer.transport.abort()


async def _storm(https: int, http: int, ca: str) -> list:
    ctx = ssl.create_default_context(cafile=ca)
    hello = _client_hello(ssl.create_default_context(cafile=ca))
    jobs = [_good(https, ctx, i) for i in range(GOOD_TLS)]
    jobs += [_good(http, None, GOOD_TLS + i) for i in range(GOOD_PLAIN)]
    jobs += [_bad(kind, https, http, hello) for kind in BAD_KINDS for _ in range(BAD_EACH)]
    random.shuffle(jobs)
    results = await asyncio.wait_for(asyncio.gather(*jobs, return_exceptions=True), TIMEOUT * 2)
    return results


def test_two_hundred_mixed_connections_leak_nothing(tmp_path, files):
    write_plugins(tmp_path)
    config = tmp_path / "kong.yml"
    config.write_text('_format_version: "3.0"\nservices:\n- name: app\n  asgi: tls_app:app\n  routes:\n'
                      '  - name: app\n    paths: [/app]\n' + certificates_yml(files))
    g = start_gateway(tmp_path, [
        "-c", str(config), "--listen", "127.0.0.1:0 ssl", "--listen", "127.0.0.1:0", "--state-dir", str(tmp_path / "st"),
        "--handshake-timeout", "2", "--client-timeout", "2", "--idle-timeout", "2",
    ])
    try:
        baseline = _idle_fd_count(g.proc.pid, g.http)
        results = asyncio.run(_storm(g.https, g.http, files.path("ca.pem")))
        good = [r for r in results if isinstance(r, bytes)]
        errors = [r for r in results if isinstance(r, BaseException)]
        assert not errors, errors[:3]
        assert len(good) == GOOD_TLS + GOOD_PLAIN
        for data in good:
            assert data.startswith(b"HTTP/1.1 200 "), data[:200]
            assert b'"body": "request ' in data
        deadline = time.monotonic() + TIMEOUT
        while _fd_count(g.proc.pid) != baseline and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _fd_count(g.proc.pid) == baseline, sorted(os.readlink(f"/proc/{g.proc.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{g.proc.pid}/fd"))
        assert g.proc.poll() is None
    finally:
        assert g.stop() == 0, g.stderr()[-3000:]
    # Every connection task ended too: none was left to cancel at shutdown.
    assert "stopping: 0 connections open" in g.stderr()
    assert "Traceback" not in g.stderr(), g.stderr()[-3000:]


def test_max_connections(tmp_path, files):
    g = start_gateway(tmp_path, ["--listen", "127.0.0.1:0", "--state-dir", str(tmp_path / "st"), "--max-connections", "2"])
    try:
        _idle_fd_count(g.proc.pid, g.http)  # serving, no connection open
        held = [socket.create_connection(("127.0.0.1", g.http), timeout=TIMEOUT) for _ in range(2)]
        _wait_for_connections(g.proc.pid, 2)  # both accepted: the gateway is full
        with socket.create_connection(("127.0.0.1", g.http), timeout=TIMEOUT) as extra:
            assert extra.recv(100) == b""  # closed at once
        held.pop().close()
        deadline = time.monotonic() + TIMEOUT
        while True:  # the server notices the close, then has room again
            with socket.create_connection(("127.0.0.1", g.http), timeout=TIMEOUT) as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\nConnection: close\r\n\r\n")
                data = s.recv(100)
            if data or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert data.startswith(b"HTTP/1.1 200 ")
        for s in held:
            s.close()
    finally:
        assert g.stop() == 0
    assert "connection refused: 2 connections open (--max-connections)" in g.stderr()
