#!/usr/bin/env python3
"""Loopback HTTPS: ``purekong serve`` (embedded default) vs a stdlib-ssl asyncio HTTPS server.

    python3 benchmarks/bench_serve.py [--quick]

``purekong serve`` runs its embedded default (dev PKI in a temporary state
directory, one worker, the TLS-facts JSON page, an optional client
certificate request); ``benchmarks/stdlib_https_server.py`` serves a page of
the same shape from the same certificate on asyncio + ``ssl``, without any
gateway machinery (no routing, phases or plugins), so the ratio is "the
gateway on purekong" against "the bare page on OpenSSL", not TLS alone.

The load generator (one separate process, stdlib ``ssl`` on asyncio, ALPN
http/1.1, no client certificate) measures, for each server:

* ``new connections``: 32 tasks, each looping: connect, handshake,
  ``GET /`` with ``Connection: close``, read the reply to EOF, close.
  Requests per second of wall time and per second of the server's CPU.
* ``keep-alive``: 32 connections, each sending ``GET /`` one after another on
  the same connection. Requests per second of wall time and of server CPU.

Each figure is the median of 3 windows against one server process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from _common import child_env, raise_nofile, run_loadgen, stop_server  # noqa: E402

REQUEST_CLOSE = b"GET / HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
REQUEST = b"GET / HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n\r\n"
CONCURRENCY = 32


def client_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


async def read_response(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    body = await reader.readexactly(length)
    return head, body


async def load(mode, port, seconds):
    ctx = client_context()
    done = errors = 0
    deadline = time.monotonic() + seconds

    async def new_connections():
        nonlocal done, errors
        while time.monotonic() < deadline:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="localhost")
                writer.write(REQUEST_CLOSE)
                head, _ = await read_response(reader)
                writer.close()
                try:
                    await writer.wait_closed()
                except (ConnectionError, ssl.SSLError):
                    pass
                if head.startswith(b"HTTP/1.1 200"):
                    done += 1
                else:
                    errors += 1
            except (OSError, ssl.SSLError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                errors += 1

    async def keep_alive(reader, writer):
        nonlocal done, errors
        while time.monotonic() < deadline:
            writer.write(REQUEST)
            head, _ = await read_response(reader)
            if head.startswith(b"HTTP/1.1 200"):
                done += 1
            else:
                errors += 1
        writer.close()

    if mode == "new connections":
        print("ready", flush=True)
        t0 = time.monotonic()
        await asyncio.gather(*(new_connections() for _ in range(CONCURRENCY)))
    else:
        conns = [await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="localhost")
                 for _ in range(CONCURRENCY)]
        print("ready", flush=True)
        deadline = time.monotonic() + seconds
        t0 = time.monotonic()
        await asyncio.gather(*(keep_alive(r, w) for r, w in conns))
    return {"completed": done, "errors": errors, "wall": time.monotonic() - t0}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(kind, state_dir, port):
    if kind == "purekong":
        cmd = [sys.executable, "-m", "purekong.cli", "serve", "--state-dir", state_dir,
               "--listen", "127.0.0.1:%d ssl" % port, "--idle-timeout", "300", "--grace", "1",
               "--log-level", "warning"]
    else:
        cmd = [sys.executable, os.path.join(HERE, "stdlib_https_server.py"), "--port", str(port),
               "--state-dir", state_dir]
    errors = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=errors, text=True, env=child_env(),
                            preexec_fn=raise_nofile)
    # Ready when the port accepts connections (not tied to either server's wording).
    end = time.monotonic() + 30
    while time.monotonic() < end and proc.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            errors.close()
            return proc
        except OSError:
            time.sleep(0.1)
    stop_server(proc)
    errors.seek(0)
    tail = errors.read().strip().splitlines()[-2:]
    errors.close()
    raise RuntimeError("%s server did not start: %s" % (kind, " | ".join(tail)))


def one_window(server, port, mode, seconds):
    r = run_loadgen(__file__, [mode, "--port", str(port), "--seconds", str(seconds)], server.pid, seconds)
    if "error" in r:
        return r
    r["per_second"] = r["completed"] / r["wall"]
    r["per_server_cpu_second"] = r["completed"] / r["server_cpu"] if r["server_cpu"] else None
    r["server_cpu_utilisation"] = r["server_cpu"] / r["wall"]
    return r


def collect(quick=False):
    """``{server: {mode: {"per_second", "per_server_cpu_second", "runs"}}}``."""
    seconds = 1.5 if quick else 3.0
    data = {}
    with tempfile.TemporaryDirectory() as state_dir:
        for kind in ("purekong", "stdlib"):
            data[kind] = {}
            port = free_port()
            print("serve: %-8s (3 runs x %.1f s per mode) ..." % (kind, seconds), file=sys.stderr, flush=True)
            try:
                server = start(kind, state_dir, port)  # purekong first: it creates the dev PKI
            except RuntimeError as exc:
                data[kind] = {"error": str(exc)}
                continue
            try:
                time.sleep(0.3)
                for mode in ("new connections", "keep-alive"):
                    runs = [one_window(server, port, mode, seconds) for _ in range(3)]
                    good = [r for r in runs if "error" not in r]
                    entry = {"runs": runs}
                    if good:
                        for key in ("per_second", "per_server_cpu_second", "server_cpu_utilisation"):
                            entry[key] = statistics.median(r[key] for r in good)
                        entry["errors"] = sum(r["errors"] for r in good)
                    else:
                        entry["error"] = runs[0]["error"]
                    data[kind][mode] = entry
            finally:
                stop_server(server)
    return data


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--loadgen", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=3.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.loadgen:
        print(json.dumps(asyncio.run(load(args.loadgen, args.port, args.seconds))), flush=True)
        return 0
    data = collect(args.quick)
    for kind, per in data.items():
        for mode, entry in per.items() if isinstance(per, dict) else ():
            if not isinstance(entry, dict):
                continue
            print("%-9s %-16s %s" % (kind, mode, "%.0f req/s (%.0f per server CPU s, server CPU %.0f%%)" % (
                entry["per_second"], entry["per_server_cpu_second"], 100 * entry["server_cpu_utilisation"])
                if "per_second" in entry else entry.get("error")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
