#!/usr/bin/env python3
"""Memory held by an idle, established server-side TLS connection.

    python3 benchmarks/bench_memory.py [--quick]

For each implementation (``engine`` = purekong ``ServerConnection``,
``plain`` = tlslite-ng ``TLSConnection`` as installed, ``stdlib`` =
``ssl.SSLObject`` over two ``MemoryBIO``) and with session tickets off and
on, a fresh subprocess opens N connections in memory, one after the other:
TLS 1.3 handshake (ECDSA P-256, x25519, the server's default cipher), one
request (37 bytes) and one response (about 200 bytes). It then drops the
client and keeps only what a server would keep for an idle connection (the
connection object and its buffers). The client is the same for every
implementation, Python's ``ssl`` (OpenSSL) over ``MemoryBIO``, so no tlslite
client and no monkeypatch is in the process.

Two figures per (implementation, tickets), each from its own process:

* ``tracemalloc``: growth of traced memory (after ``gc.collect()``) divided
  by N. tracemalloc sees only allocations made through Python's allocator:
  OpenSSL's own C allocations behind an ``SSLObject`` (SSL, SSL_CTX state,
  record buffers) are invisible, so the stdlib figure is a lower bound.
* ``rss``: growth of the process's resident set size (VmRSS) divided by N,
  without tracemalloc. It sees everything, including allocator slack and
  memory freed by the dropped clients that the allocator did not return to
  the kernel, so it is an upper bound; it is noisier.

Each figure is the median of ``--runs`` processes.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

CERT = "p256"
REQUEST = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 120\r\n\r\n" + b"x" * 119 + b"\n"
WARMUP = 20


# ---------------------------------------------------------------------------
# Server adapters: feed(bytes) -> None, out() -> bytes, established, app bytes
# received so far, write(bytes), and keep(): the objects an idle server
# connection consists of (everything else is dropped before measuring).
# ---------------------------------------------------------------------------

class EngineServer:
    def __init__(self, config):
        from purekong.engine import ServerConnection

        self.conn = ServerConnection(config)
        self.established = False
        self.received = b""

    def feed(self, data):
        from purekong.engine import NEED_DATA, ClientHelloReceived, DataReceived, HandshakeComplete

        self.conn.receive_data(data)
        while True:
            event = self.conn.next_event()
            if event is NEED_DATA:
                return
            if isinstance(event, ClientHelloReceived):
                self.conn.proceed()
            elif isinstance(event, HandshakeComplete):
                self.established = True
            elif isinstance(event, DataReceived):
                self.received += event.data

    def out(self):
        return self.conn.data_to_send()

    def write(self, data):
        self.conn.send_data(data)

    def keep(self):
        return self.conn


class PlainServer:
    def __init__(self, setup):
        from bench_handshake import MemoryTransport
        from tlslite.tlsconnection import TLSConnection

        chain, key, settings = setup
        self.sock = MemoryTransport()
        self.conn = TLSConnection(self.sock)
        self.gen = self.conn.handshakeServerAsync(certChain=chain, privateKey=key, settings=settings)
        self.established = False
        self.received = b""

    def feed(self, data):
        from bench_handshake import _run_gen

        self.sock.incoming += data
        if not self.established:
            self.established = _run_gen(self.gen)
            if not self.established:
                return
            self.gen = None
        # tlslite's record layer may already hold the next record (read along
        # with the handshake), so read until it would block, not until the
        # socket is empty.
        while True:
            for result in self.conn.readAsync():
                if result in (0, 1):  # would block: wait for more bytes
                    return
                self.received += bytes(result)

    def out(self):
        return self.sock.take()

    def write(self, data):
        self.conn.write(data)

    def keep(self):
        return (self.conn, self.sock)


class StdlibServer:
    def __init__(self, ctx):
        import ssl

        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.incoming, self.outgoing, server_side=True)
        self.established = False
        self.received = b""

    def feed(self, data):
        import ssl

        self.incoming.write(data)
        try:
            if not self.established:
                self.obj.do_handshake()
                self.established = True
            while True:
                self.received += self.obj.read(65536)
        except ssl.SSLWantReadError:
            pass

    def out(self):
        return self.outgoing.read()

    def write(self, data):
        self.obj.write(data)

    def keep(self):
        return (self.obj, self.incoming, self.outgoing)


def server_factory(impl, directory, tickets):
    def read(ext):
        with open(os.path.join(directory, CERT + ext), "rb") as f:
            return f.read()

    if impl == "engine":
        from purekong.engine import CertifiedKey, ServerConfig

        options = {} if tickets else {"session_resumption": False, "ticket_keys": ()}
        config = ServerConfig(certificates=(CertifiedKey.from_pem(read(".crt"), read(".key")),),
                              versions=("TLSv1.3",), **options)
        return lambda: EngineServer(config)
    if impl == "plain":
        from bench_handshake import tlslite_settings
        from tlslite.api import X509CertChain, parsePEMKey

        chain = X509CertChain()
        chain.parsePemList(read(".crt").decode())
        key = parsePEMKey(read(".key").decode(), private=True, implementations=["python"])
        settings = tlslite_settings("TLS1.3")
        if tickets:
            settings.ticketKeys = [os.urandom(32)]
            settings.ticket_count = 2
        return lambda: PlainServer((chain, key, settings))
    if impl == "stdlib":
        import ssl

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(directory, CERT + ".crt"), os.path.join(directory, CERT + ".key"))
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        if not tickets:
            ctx.options |= ssl.OP_NO_TICKET
            ctx.num_tickets = 0
        return lambda: StdlibServer(ctx)
    raise ValueError(impl)


def client_context():
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    return ctx


def idle_connection(make_server, client_ctx):
    """Handshake + one request/response; return what the server keeps."""
    import ssl

    server = make_server()
    c_in, c_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname="localhost")
    for _ in range(10):
        try:
            client.do_handshake()
            break
        except ssl.SSLWantReadError:
            server.feed(c_out.read())
            c_in.write(server.out())
    else:
        raise RuntimeError("client handshake did not finish")
    client.write(REQUEST)
    server.feed(c_out.read())  # client Finished (TLS 1.3) + the request
    if not server.established or server.received != REQUEST:
        raise RuntimeError("server got %r" % server.received)
    server.write(RESPONSE)
    c_in.write(server.out())
    reply = b""
    try:
        while len(reply) < len(RESPONSE):
            reply += client.read(65536)
    except ssl.SSLWantReadError:
        pass
    if reply != RESPONSE:
        raise RuntimeError("client got %r" % reply)
    server.received = b""
    return server.keep()


def worker(impl, directory, tickets, mode, n):
    from _common import rss_bytes

    make_server = server_factory(impl, directory, tickets)
    client_ctx = client_context()
    for _ in range(WARMUP):  # imports, lazily built tables, allocator pools
        idle_connection(make_server, client_ctx)
    gc.collect()
    result = {}
    if mode == "tracemalloc":
        import tracemalloc

        tracemalloc.start(1)
        before = tracemalloc.get_traced_memory()[0]
        snap_before = tracemalloc.take_snapshot()
        kept = [idle_connection(make_server, client_ctx) for _ in range(n)]
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
        diff = tracemalloc.take_snapshot().compare_to(snap_before, "lineno")
        result["bytes_per_conn"] = (after - before) / n
        # Where an idle connection's memory was allocated (largest first):
        # for whoever works on shrinking it.
        result["top"] = [{"where": str(stat.traceback[0]), "bytes_per_conn": round(stat.size_diff / n, 1),
                          "blocks_per_conn": round(stat.count_diff / n, 2)} for stat in diff[:8]]
    else:
        before = rss_bytes()
        kept = [idle_connection(make_server, client_ctx) for _ in range(n)]
        gc.collect()
        result["bytes_per_conn"] = (rss_bytes() - before) / n
    result["connections"] = len(kept)
    print(json.dumps(result))


IMPLS = ("engine", "stdlib", "plain")


def collect(directory, quick=False, impls=IMPLS):
    """``{impl: {"tickets off"/"tickets on": {"tracemalloc": [...], "rss": [...], "top": [...]}}}``."""
    from _common import run_json_worker

    runs = 1 if quick else 3
    data = {}
    for impl in impls:
        # plain tlslite does ~100 handshakes/s: fewer connections, same per-connection figure
        n = (50 if quick else 100) if impl == "plain" else (200 if quick else 500)
        data[impl] = {}
        for tickets in (False, True):
            label = "tickets on" if tickets else "tickets off"
            print("memory: %-6s %-11s (%d runs x %d connections, tracemalloc and rss) ..." % (impl, label, runs, n),
                  file=sys.stderr, flush=True)
            entry = {"connections": n, "tracemalloc": [], "rss": []}
            for _ in range(runs):
                for mode in ("tracemalloc", "rss"):
                    out = run_json_worker("bench_memory.py", ["--worker", impl, "--certs", directory, "--mode", mode,
                                                              "--n", str(n)] + (["--tickets"] if tickets else []),
                                          timeout=300)
                    if "error" in out:
                        entry["error"] = out["error"]
                        continue
                    entry[mode].append(out["bytes_per_conn"])
                    if "top" in out:
                        entry["top"] = out["top"]
            data[impl][label] = entry
    return data


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--certs", help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=("tracemalloc", "rss"), help=argparse.SUPPRESS)
    parser.add_argument("--tickets", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=500, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.worker, args.certs, args.tickets, args.mode, args.n)
    from _common import write_certificates

    with tempfile.TemporaryDirectory() as directory:
        write_certificates(directory)
        data = collect(directory, args.quick)
    print("bytes per idle established server connection (median)")
    print("%-8s %-12s %14s %14s" % ("impl", "tickets", "tracemalloc", "rss"))
    for impl, per in data.items():
        for label, entry in per.items():
            cells = ["%14.0f" % statistics.median(entry[m]) if entry[m] else "%14s" % "error"
                     for m in ("tracemalloc", "rss")]
            print("%-8s %-12s" % (impl, label) + " ".join(cells) + ("  " + entry["error"] if "error" in entry else ""))
        if "top" in per.get("tickets off", {}):
            for row in per["tickets off"]["top"][:5]:
                print("    %8.0f B  %s" % (row["bytes_per_conn"], row["where"]))


if __name__ == "__main__":
    main()
