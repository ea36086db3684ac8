#!/usr/bin/env python3
"""The reference server for the loopback benchmarks: ``purekong tls-server``'s
behaviour on Python's ``ssl`` module (OpenSSL) and asyncio.

    python3 benchmarks/stdlib_tls_server.py --port 0 --cert C.pem --key K.pem [--echo] [--no-session-reuse]

Same flags (the subset the benchmarks use), same output contract ("listening
on HOST:PORT" on stdout once bound, one log line per connection on stderr),
and the same answers:

* without ``--echo``: read up to the end of an HTTP request head, reply with
  the same ``HTTP/1.0 200`` + one-line JSON body as ``purekong tls-server``
  (version, cipher, sni, alpn, resumed, client_cert_chain), then close_notify
  and close;
* with ``--echo``: every byte of application data is written back, and
  reading pauses while asyncio's write buffer is above its high-water mark.

TLS is asyncio's own ``ssl=`` support (an ``SSLObject`` over ``MemoryBIO``,
driven by asyncio's sslproto): what a stdlib asyncio server would use. The
listen backlog is asyncio's default (100), as in ``purekong tls-server``.
Stops on SIGINT/SIGTERM. Benchmark tool only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import raise_nofile  # noqa: E402

_HEAD_END = re.compile(rb"\r?\n\r?\n")


def log(line):
    print(line, file=sys.stderr)


class Protocol(asyncio.Protocol):
    def __init__(self, echo):
        self.echo = echo
        self.buffer = b""
        self.answered = False
        self.transport = None
        self.started = time.monotonic()
        self.bytes_in = 0

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.bytes_in += len(data)
        if self.echo:
            self.transport.write(data)
            return
        if self.answered:
            return
        self.buffer += data
        if _HEAD_END.search(self.buffer):
            self.answered = True
            self.transport.write(self.response())
            self.transport.close()  # sslproto sends close_notify after the reply

    def response(self):
        obj = self.transport.get_extra_info("ssl_object")
        body = {"version": obj.version(), "cipher": obj.cipher()[0], "sni": obj.server_hostname,
                "alpn": obj.selected_alpn_protocol(), "resumed": obj.session_reused, "client_cert_chain": None}
        body = (json.dumps(body) + "\n").encode()
        head = ("HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                "Connection: close\r\n\r\n" % len(body)).encode()
        return head + body

    def eof_received(self):
        return False  # close our side too

    def pause_writing(self):
        self.transport.pause_reading()  # the peer does not read: stop reading from it

    def resume_writing(self):
        self.transport.resume_reading()

    def connection_lost(self, exc):
        # One line per connection, like purekong tls-server (same kind of work).
        obj = self.transport.get_extra_info("ssl_object") if self.transport else None
        log("conn version=%s cipher=%s in=%d time=%.3fs outcome=%s" % (
            obj.version() if obj else "-", obj.cipher()[0] if obj and obj.cipher() else "-", self.bytes_in,
            time.monotonic() - self.started, json.dumps("ok" if exc is None else str(exc))))


async def serve(args):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    for cert, key in zip(args.cert, args.key):
        ctx.load_cert_chain(cert, key)
    if args.no_session_reuse:
        ctx.options |= ssl.OP_NO_TICKET
        ctx.num_tickets = 0
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Protocol(args.echo), args.host, args.port, ssl=ctx,
                                      reuse_address=True, ssl_handshake_timeout=60)
    host, port = server.sockets[0].getsockname()[:2]
    print("listening on %s:%d" % (host, port), flush=True)
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    server.close()
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4433)
    parser.add_argument("--cert", action="append", default=[])
    parser.add_argument("--key", action="append", default=[])
    parser.add_argument("--echo", action="store_true")
    parser.add_argument("--no-session-reuse", action="store_true")
    # Accepted for command-line compatibility with purekong tls-server; unused.
    parser.add_argument("--idle-timeout", type=float)
    parser.add_argument("--handshake-timeout", type=float)
    args = parser.parse_args(argv)
    if not args.cert or len(args.cert) != len(args.key):
        parser.error("give --cert and --key in pairs")
    raise_nofile()
    return asyncio.run(serve(args))


if __name__ == "__main__":
    sys.exit(main())
