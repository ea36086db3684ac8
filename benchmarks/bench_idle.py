#!/usr/bin/env python3
"""One server process holding many idle TLS connections (10,000 by default).

    python3 benchmarks/bench_idle.py [--quick] [--connections N]

Starts ``purekong tls-server --echo`` (and, for comparison, the stdlib-ssl
reference server ``benchmarks/stdlib_tls_server.py --echo``) on 127.0.0.1
with default TLS settings (tickets on), an ECDSA P-256 certificate and long
timeouts, its RLIMIT_NOFILE raised. Then:

1. warm-up: a few connections echo a byte and close, so that lazily loaded
   code is in the baseline; the server's RSS (VmRSS) is the baseline;
2. ``--clients`` client processes (stdlib ``ssl`` on asyncio, RLIMIT_NOFILE
   raised) open N connections in total, at most 32 handshakes in flight per
   process, and keep them open without sending anything;
3. after a short idle pause: the server's RSS again; each client checks that
   every connection is still open (no EOF, not closing) and echoes one byte on
   a sample (every 50th connection), then all close.

Reported: connections established and still alive, the sample echo result,
the server's RSS and (RSS - baseline) / N. One run (it is a capacity check,
not a rate); everything has timeouts and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import select
import signal
import ssl
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from _common import SERVERS, child_env, raise_nofile, rss_bytes, start_server, stop_server  # noqa: E402

SAMPLE_EVERY = 50
CLIENT_DEADLINE = 300  # seconds: a client process never outlives this


def client_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


# ---------------------------------------------------------------------------
# Client process
# ---------------------------------------------------------------------------

async def hold(port, n, concurrency):
    ctx = client_context()
    gate = asyncio.Semaphore(concurrency)
    errors = []

    async def open_one():
        async with gate:
            try:
                return await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port, ssl=ctx,
                                                                      server_hostname="localhost"), 60)
            except (OSError, ssl.SSLError, asyncio.TimeoutError) as exc:
                errors.append("%s: %s" % (type(exc).__name__, exc))
                return None

    t0 = time.monotonic()
    conns = [c for c in await asyncio.gather(*(open_one() for _ in range(n))) if c is not None]
    print(json.dumps({"opened": len(conns), "errors": len(errors), "first_error": errors[0] if errors else None,
                      "seconds": time.monotonic() - t0}), flush=True)

    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)  # "check"
    alive = sum(1 for reader, writer in conns if not reader.at_eof() and not writer.is_closing())

    async def echo(reader, writer):
        try:
            writer.write(b"!")
            return await asyncio.wait_for(reader.readexactly(1), 20) == b"!"
        except (OSError, ssl.SSLError, asyncio.IncompleteReadError, asyncio.TimeoutError):
            return False

    sample = conns[::SAMPLE_EVERY]
    echoed = await asyncio.gather(*(echo(r, w) for r, w in sample))
    print(json.dumps({"alive": alive, "echo_tried": len(sample), "echo_ok": sum(echoed)}), flush=True)

    await loop.run_in_executor(None, sys.stdin.readline)  # "close"
    for _, writer in conns:
        writer.transport.abort()  # no need for close_notify: we are tearing down


def client_main(port, n, concurrency):
    raise_nofile()
    signal.alarm(CLIENT_DEADLINE)  # SIGALRM kills us if the parent is gone or stuck
    asyncio.run(hold(port, n, concurrency))


# ---------------------------------------------------------------------------
# Parent
# ---------------------------------------------------------------------------

async def warm_up(port, count=20):
    ctx = client_context()
    for _ in range(count):
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="localhost")
        writer.write(b"!")
        await reader.readexactly(1)
        writer.close()
        try:
            await writer.wait_closed()
        except (OSError, ssl.SSLError):
            pass


def read_json_line(proc, timeout):
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline() if ready else ""
    if not line:
        raise RuntimeError("client process gave no answer within %.0f s" % timeout)
    return json.loads(line)


def run_one(kind, directory, total, clients, concurrency=32):
    server, port = start_server(kind, directory, ["--echo", "--idle-timeout", "3600", "--handshake-timeout", "120"])
    procs = []
    try:
        time.sleep(0.3)
        asyncio.run(warm_up(port))
        time.sleep(0.5)
        baseline = rss_bytes(server.pid)
        t0 = time.monotonic()
        shares = [total // clients + (1 if i < total % clients else 0) for i in range(clients)]
        for share in shares:
            procs.append(subprocess.Popen(
                [sys.executable, os.path.abspath(__file__), "--client", "--port", str(port), "--n", str(share),
                 "--concurrency", str(concurrency)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=child_env()))
        opened = [read_json_line(p, CLIENT_DEADLINE - 60) for p in procs]
        open_seconds = time.monotonic() - t0
        time.sleep(3)  # idle for a moment: nothing moves on any connection
        rss = rss_bytes(server.pid)
        for p in procs:
            p.stdin.write("check\n")
            p.stdin.flush()
        checked = [read_json_line(p, 60) for p in procs]
        result = {
            "target_connections": total,
            "established": sum(o["opened"] for o in opened),
            "connect_errors": sum(o["errors"] for o in opened),
            "first_error": next((o["first_error"] for o in opened if o["first_error"]), None),
            "alive": sum(c["alive"] for c in checked),
            "echo_tried": sum(c["echo_tried"] for c in checked),
            "echo_ok": sum(c["echo_ok"] for c in checked),
            "open_seconds": open_seconds,
            "server_rss_baseline": baseline,
            "server_rss": rss,
            "client_processes": clients,
        }
        result["rss_per_connection"] = (rss - baseline) / max(1, result["established"])
        result["ok"] = result["alive"] == total and result["echo_ok"] == result["echo_tried"]
        return result
    finally:
        for p in procs:
            try:
                p.stdin.write("close\n")
                p.stdin.close()
            except OSError:
                pass
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            p.stdout.close()
        stop_server(server)


def collect(directory, quick=False, servers=SERVERS, connections=None):
    total = connections or (1000 if quick else 10_000)
    clients = 2 if total <= 2000 else 4
    data = {}
    for kind in servers:
        print("idle: %-8s %d connections from %d client processes ..." % (kind, total, clients), file=sys.stderr,
              flush=True)
        try:
            data[kind] = run_one(kind, directory, total, clients)
        except Exception as exc:  # report, don't abort the suite
            data[kind] = {"error": "%s: %s" % (type(exc).__name__, exc), "target_connections": total}
    return data


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 connections instead of 10,000")
    parser.add_argument("--connections", type=int)
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", type=int, default=32, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.client:
        return client_main(args.port, args.n, args.concurrency)
    from _common import write_certificates

    with tempfile.TemporaryDirectory() as directory:
        write_certificates(directory)
        data = collect(directory, args.quick, connections=args.connections)
    print(json.dumps(data, indent=2))


if __name__ == "__main__":
    main()
