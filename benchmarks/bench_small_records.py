#!/usr/bin/env python3
"""Server CPU per keep-alive request's TLS work: one small record in, one out.

    python3 benchmarks/bench_small_records.py [--quick] [--requests N] [--runs N]

What a gateway's TLS layer does per keep-alive HTTP request, in memory: open
one record holding the request (``REQUEST``, 190 bytes), see that nothing
more is buffered, seal one record holding the response (``RESPONSE``, 230
bytes) and take the bytes to write. With 16 KiB records (``bench_bulk.py``)
the AEAD dominates; with records this small the fixed cost per call does.

One subprocess per implementation (``engine``, ``stdlib``, ``plain``), the
connections set up as in ``bench_bulk.py``:

* ``engine`` - purekong's public API, the calls ``purekong serve`` makes:
  ``receive_data`` -> ``next_event`` (DataReceived) -> ``next_event``
  (NEED_DATA) -> ``send_data`` -> ``data_to_send``.
* ``stdlib`` - ``ssl.SSLObject`` over ``MemoryBIO``: ``incoming.write`` ->
  ``read`` -> ``read`` (SSLWantReadError) -> ``write`` -> ``outgoing.read``.
  TLS 1.2 per cipher; TLS 1.3 only with OpenSSL's default (AES-256-GCM).
* ``plain`` - tlslite-ng as installed (pure-Python ciphers): ``read`` ->
  ``write`` on a ``TLSConnection`` over a memory socket.

The client seals all the requests beforehand and opens (and checks) the
responses afterwards; only the server's loop is timed (``time.thread_time``).
Figures: microseconds of server CPU per request (median of ``--runs``), and
the constructor of one server connection object (``ServerConnection(config)``,
``SSLContext.wrap_bio``, ``TLSConnection(sock)``), which every new connection
pays before its handshake.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bench_bulk import CASES, STDLIB_TLS12, case_name, cases_for  # noqa: E402

# An h2load GET and a small JSON reply, padded to the sizes of the issue.
REQUEST = (b"GET /hello HTTP/1.1\r\nHost: localhost:8443\r\nUser-Agent: h2load nghttp2/1.52.0\r\n"
           b"Accept: */*\r\nAccept-Encoding: gzip, deflate\r\nX-Request-Id: ")
REQUEST += b"0" * (190 - len(REQUEST) - 4) + b"\r\n\r\n"
RESPONSE = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 27\r\n"
            b"date: Wed, 02 Dec 2026 16:00:00 GMT\r\nserver: purekong\r\nx-kong-upstream-latency: 0\r\n")
RESPONSE += b"x-pad: " + b"p" * (230 - len(RESPONSE) - 7 - 4 - 27) + b"\r\n\r\n" + b'{"message": "hello world"}\n'
assert len(REQUEST) == 190 and len(RESPONSE) == 230


def engine_rounds(directory, version, cipher):
    from bench_bulk import engine_connections
    from purekong.engine import NEED_DATA, DataReceived

    server, client, negotiated = engine_connections(directory, version, cipher)

    def one_run(n):
        records = []
        for _ in range(n):
            client.send_data(REQUEST)
            records.append(client.data_to_send())
        replies = []
        t0 = time.thread_time()
        for record in records:  # the timed part: the server's calls only
            server.receive_data(record)
            event = server.next_event()
            if type(event) is not DataReceived or server.next_event() is not NEED_DATA:
                raise RuntimeError(f"unexpected event {event!r}")
            server.send_data(RESPONSE)
            replies.append(server.data_to_send())
        spent = time.thread_time() - t0
        for reply in replies:
            client.receive_data(reply)
            event = client.next_event()
            if type(event) is not DataReceived or event.data != RESPONSE:
                raise RuntimeError(f"client got {event!r}")
        return spent

    def construct():
        from purekong.engine import ServerConnection

        config = server.config
        t0 = time.thread_time()
        for _ in range(200):
            ServerConnection(config)
        return (time.thread_time() - t0) / 200

    return negotiated, one_run, construct


def stdlib_rounds(directory, version, cipher):
    import ssl

    from bench_bulk import stdlib_connections

    server, client, negotiated = stdlib_connections(directory, version, cipher)
    s_obj, s_in, s_out = server.ssl_object, server.incoming, server.outgoing
    c_obj, c_in, c_out = client.ssl_object, client.incoming, client.outgoing

    def one_run(n):
        records = []
        for _ in range(n):
            c_obj.write(REQUEST)
            records.append(c_out.read())
        replies = []
        t0 = time.thread_time()
        for record in records:
            s_in.write(record)
            data = s_obj.read(16384)
            try:
                s_obj.read(16384)
            except ssl.SSLWantReadError:
                pass
            else:
                raise RuntimeError("more than one request buffered")
            if len(data) != len(REQUEST):
                raise RuntimeError("short read")
            s_obj.write(RESPONSE)
            replies.append(s_out.read())
        spent = time.thread_time() - t0
        for reply in replies:
            c_in.write(reply)
            if c_obj.read(16384) != RESPONSE:
                raise RuntimeError("client got something else")
        return spent

    def construct():
        context = s_obj.context
        t0 = time.thread_time()
        for _ in range(200):
            context.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_side=True)
        return (time.thread_time() - t0) / 200

    return negotiated, one_run, construct


def plain_rounds(directory, version, cipher):
    from bench_bulk import plain_connections
    from bench_handshake import MemoryTransport
    from tlslite.tlsconnection import TLSConnection

    (server, s_sock, client, c_sock), negotiated = plain_connections(directory, version, cipher)

    def one_run(n):
        records = []
        for _ in range(n):
            client.write(REQUEST)
            records.append(c_sock.take())
        replies = []
        t0 = time.thread_time()
        for record in records:
            s_sock.incoming += record
            if len(server.read(max=16384, min=1)) != len(REQUEST):
                raise RuntimeError("short read")
            server.write(RESPONSE)
            replies.append(s_sock.take())
        spent = time.thread_time() - t0
        for reply in replies:
            c_sock.incoming += reply
            if client.read(max=16384, min=1) != RESPONSE:
                raise RuntimeError("client got something else")
        return spent

    def construct():
        t0 = time.thread_time()
        for _ in range(200):
            TLSConnection(MemoryTransport())
        return (time.thread_time() - t0) / 200

    return negotiated, one_run, construct


ROUNDS = {"engine": engine_rounds, "stdlib": stdlib_rounds, "plain": plain_rounds}


def worker(impl, directory, requests, runs):
    results = {}
    construction = []
    for version, cipher in cases_for(impl):
        name = case_name(version, cipher)
        try:
            negotiated, one_run, construct = ROUNDS[impl](directory, version, cipher)
            one_run(min(requests, 50))  # warm-up
            per_request = [one_run(requests) / requests * 1e6 for _ in range(runs)]
            results[name] = {"us_per_request": per_request, "negotiated": negotiated, "requests": requests}
            if not construction:
                construct()
                construction = [construct() * 1e6 for _ in range(runs)]
        except Exception as exc:  # report, don't abort the other rows
            results[name] = {"error": "%s: %s" % (type(exc).__name__, exc)}
    print(json.dumps({"results": results, "construct_us": construction}))


def collect(directory, quick=False, impls=("engine", "stdlib", "plain")):
    """``{impl: {"results": {case: {"us_per_request": [...]}}, "construct_us": [...]}}``."""
    from _common import run_json_worker

    runs = 3 if quick else 7
    data = {}
    for impl in impls:
        requests = (20 if quick else 50) if impl == "plain" else (2000 if quick else 10000)
        print("small records: %-6s (%d runs x %d requests) ..." % (impl, runs, requests), file=sys.stderr, flush=True)
        data[impl] = run_json_worker("bench_small_records.py", ["--worker", impl, "--certs", directory,
                                                                "--requests", str(requests), "--runs", str(runs)],
                                     timeout=600)
    return data


def _median(values):
    return statistics.median(values) if values else None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--impls", default="engine,stdlib,plain", help="comma-separated: engine, stdlib, plain")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--certs", help=argparse.SUPPRESS)
    parser.add_argument("--requests", type=int, default=2000, help=argparse.SUPPRESS)
    parser.add_argument("--runs", type=int, default=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.worker, args.certs, args.requests, args.runs)
    from _common import write_certificates

    impls = tuple(args.impls.split(","))
    with tempfile.TemporaryDirectory() as directory:
        write_certificates(directory)
        data = collect(directory, args.quick, impls)
    print("server CPU per request, us: open a %d-byte record, seal a %d-byte one (median)" % (len(REQUEST), len(RESPONSE)))
    print("%-26s" % "" + "".join("%12s" % impl for impl in impls) + ("%14s" % "engine/stdlib" if "stdlib" in impls else ""))
    for version, cipher in CASES:
        name = case_name(version, cipher)
        cells, figures = [], {}
        for impl in impls:
            entry = data[impl].get("results", {}).get(name)
            if entry is None:
                cells.append("%12s" % "-")
            elif "us_per_request" in entry:
                figures[impl] = _median(entry["us_per_request"])
                cells.append("%12.2f" % figures[impl])
            else:
                cells.append("%12s" % "error")
                print("  %s %s: %s" % (impl, name, entry["error"]), file=sys.stderr)
        if "engine" in figures and "stdlib" in figures:
            cells.append("%13.2fx" % (figures["stdlib"] / figures["engine"]))  # a rate ratio: >1 is faster
        print("%-26s" % name + "".join(cells))
    row = []
    for impl in impls:
        value = _median(data[impl].get("construct_us") or [])
        row.append("%12s" % ("-" if value is None else "%.2f" % value))
    print("%-26s" % "construct one server conn" + "".join(row))
    if "error" in data.get("engine", {}):
        print("engine: " + data["engine"]["error"], file=sys.stderr)


if __name__ == "__main__":
    main()
