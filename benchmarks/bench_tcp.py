#!/usr/bin/env python3
"""Over real TCP on loopback: ``purekong tls-server`` vs a stdlib-ssl asyncio server.

    python3 benchmarks/bench_tcp.py [--quick]

Servers (each its own process, on 127.0.0.1, same ECDSA P-256 certificate,
TLS 1.3 as negotiated with the default settings, tickets off on both so every
connection is one full handshake and nothing else):

* ``purekong`` - ``purekong tls-server --no-session-reuse [--echo]``;
* ``stdlib``   - ``benchmarks/stdlib_tls_server.py`` with the same flags: the
  same replies on asyncio's stdlib ``ssl`` support (OpenSSL).

The load generator is the same for both: one separate process, Python's
``ssl`` (OpenSSL) client on asyncio.

* ``handshakes``: ``--concurrency`` tasks, each in a loop for ``--seconds``:
  connect, handshake, send a small HTTP request, read the reply (the JSON
  connection report, about 250 bytes) to EOF, close. Reported: completed
  connections per second of wall time, and per second of the *server's* CPU
  time (utime + stime from /proc over the window), which does not depend on
  how fast the client is: on 2 cores, the client can be the bottleneck for
  the faster server, so look at both.
* ``echo``: ``--connections`` connections (handshakes done before the clock
  starts), each with a writer pushing 16 KiB chunks (with asyncio flow
  control) and a reader counting the echoed bytes. Reported: MB/s
  (10**6 bytes) of payload echoed back per second of wall time; every byte is
  decrypted and re-encrypted by the server.

Each figure is the median of ``--runs`` windows against one server process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from _common import SERVERS, run_loadgen, start_server, stop_server  # noqa: E402

REQUEST = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"
CHUNK = 16 * 1024


def client_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # same work for both servers; certificates are not what is measured
    return ctx


# ---------------------------------------------------------------------------
# Load generator (runs in its own process)
# ---------------------------------------------------------------------------

async def handshake_load(port, concurrency, seconds):
    ctx = client_context()
    done = errors = 0
    deadline = time.monotonic() + seconds

    async def one_task():
        nonlocal done, errors
        while time.monotonic() < deadline:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx,
                                                               server_hostname="localhost")
                writer.write(REQUEST)
                reply = await reader.read()  # to EOF: the server closes after its reply
                writer.close()
                try:
                    await writer.wait_closed()
                except (ConnectionError, ssl.SSLError):
                    pass
                if reply.startswith(b"HTTP/1.0 200 OK"):
                    done += 1
                else:
                    errors += 1
            except (OSError, ssl.SSLError, asyncio.IncompleteReadError):
                errors += 1

    t0 = time.monotonic()
    await asyncio.gather(*(one_task() for _ in range(concurrency)))
    return {"completed": done, "errors": errors, "wall": time.monotonic() - t0}


async def echo_load(port, connections, seconds):
    ctx = client_context()
    pairs = [await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="localhost")
             for _ in range(connections)]
    # Warm both sides up (first records, buffers) before the clock starts.
    for reader, writer in pairs:
        writer.write(b"x" * CHUNK)
        await reader.readexactly(CHUNK)
    print("ready", flush=True)  # the parent starts sampling the server's CPU here
    payload = os.urandom(CHUNK)
    received = 0
    stop = False

    async def write_loop(writer):
        while not stop:
            writer.write(payload)
            await writer.drain()

    async def read_loop(reader):
        nonlocal received
        while not stop:
            data = await reader.read(65536)
            if not data:
                raise ConnectionError("server closed the connection")
            received += len(data)

    t0 = time.monotonic()
    tasks = [asyncio.create_task(write_loop(w)) for _, w in pairs] + \
            [asyncio.create_task(read_loop(r)) for r, _ in pairs]
    await asyncio.sleep(seconds)
    stop = True
    counted, wall = received, time.monotonic() - t0
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for _, writer in pairs:
        writer.close()
    return {"bytes": counted, "wall": wall}


def loadgen(mode, port, concurrency, seconds):
    if mode == "handshakes":
        print("ready", flush=True)
        result = asyncio.run(handshake_load(port, concurrency, seconds))
    else:
        result = asyncio.run(echo_load(port, concurrency, seconds))
    print(json.dumps(result), flush=True)


# ---------------------------------------------------------------------------
# Driver (parent)
# ---------------------------------------------------------------------------

def one_window(server, port, mode, concurrency, seconds):
    return run_loadgen(__file__, [mode, "--port", str(port), "--concurrency", str(concurrency),
                                  "--seconds", str(seconds)], server.pid, seconds)


def collect(directory, quick=False, servers=SERVERS):
    """``{server: {"handshakes": {...}, "echo": {...}}}`` with per-run lists."""
    runs = 3
    hs_seconds = 1.5 if quick else 4.0
    echo_seconds = 1.5 if quick else 3.0
    concurrency, connections = 32, 8
    data = {}
    for kind in servers:
        data[kind] = {}
        for mode in ("handshakes", "echo"):
            flags = ["--no-session-reuse", "--idle-timeout", "300"] + (["--echo"] if mode == "echo" else [])
            print("tcp: %-8s %-10s (%d runs x %.1f s) ..." % (kind, mode, runs, hs_seconds if mode == "handshakes"
                                                             else echo_seconds), file=sys.stderr, flush=True)
            entry = {"runs": []}
            try:
                server, port = start_server(kind, directory, flags)
            except RuntimeError as exc:
                data[kind][mode] = {"error": str(exc)}
                continue
            try:
                time.sleep(0.3)  # let it install its signal handlers
                for _ in range(runs):
                    if mode == "handshakes":
                        r = one_window(server, port, mode, concurrency, hs_seconds)
                        if "error" not in r:
                            r["per_second"] = r["completed"] / r["wall"]
                            r["per_server_cpu_second"] = r["completed"] / r["server_cpu"] if r["server_cpu"] else None
                            r["server_cpu_utilisation"] = r["server_cpu"] / r["wall"]
                    else:
                        r = one_window(server, port, mode, connections, echo_seconds)
                        if "error" not in r:
                            r["mb_per_second"] = r["bytes"] / r["wall"] / 1e6
                            r["mb_per_server_cpu_second"] = r["bytes"] / r["server_cpu"] / 1e6 if r["server_cpu"] else None
                            r["server_cpu_utilisation"] = r["server_cpu"] / r["wall"]
                    entry["runs"].append(r)
            finally:
                stop_server(server)
            good = [r for r in entry["runs"] if "error" not in r]
            if not good:
                entry["error"] = entry["runs"][0]["error"] if entry["runs"] else "no run"
            elif mode == "handshakes":
                entry["per_second"] = statistics.median(r["per_second"] for r in good)
                entry["per_server_cpu_second"] = statistics.median(r["per_server_cpu_second"] for r in good)
                entry["server_cpu_utilisation"] = statistics.median(r["server_cpu_utilisation"] for r in good)
                entry["errors"] = sum(r["errors"] for r in good)
                entry["concurrency"] = concurrency
            else:
                entry["mb_per_second"] = statistics.median(r["mb_per_second"] for r in good)
                entry["mb_per_server_cpu_second"] = statistics.median(r["mb_per_server_cpu_second"] for r in good)
                entry["server_cpu_utilisation"] = statistics.median(r["server_cpu_utilisation"] for r in good)
                entry["connections"] = connections
            data[kind][mode] = entry
    return data


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--loadgen", choices=("handshakes", "echo"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", type=int, default=32, help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=3.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.loadgen:
        return loadgen(args.loadgen, args.port, args.concurrency, args.seconds)
    from _common import write_certificates

    with tempfile.TemporaryDirectory() as directory:
        write_certificates(directory)
        data = collect(directory, args.quick)
    for kind, per in data.items():
        hs, echo = per.get("handshakes", {}), per.get("echo", {})
        print("%-9s handshakes/s %s (per server CPU s %s, server CPU %s)   echo MB/s %s (server CPU %s)" % (
            kind, "%.0f" % hs["per_second"] if "per_second" in hs else hs.get("error"),
            "%.0f" % hs["per_server_cpu_second"] if hs.get("per_server_cpu_second") else "-",
            "%.0f%%" % (100 * hs["server_cpu_utilisation"]) if "server_cpu_utilisation" in hs else "-",
            "%.1f" % echo["mb_per_second"] if "mb_per_second" in echo else echo.get("error"),
            "%.0f%%" % (100 * echo["server_cpu_utilisation"]) if "server_cpu_utilisation" in echo else "-"))


if __name__ == "__main__":
    main()
