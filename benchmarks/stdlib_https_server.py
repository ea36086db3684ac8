#!/usr/bin/env python3
"""The reference for ``purekong serve``'s loopback benchmark: a minimal
HTTPS/1.1 server on asyncio and the stdlib ``ssl`` module (OpenSSL).

    python3 benchmarks/stdlib_https_server.py --port P --state-dir DIR

It uses the development PKI ``purekong serve`` created in ``DIR`` (same
certificate and key), asks for an optional client certificate naming the
dev CA as ``purekong serve``'s embedded default does, offers ALPN http/1.1,
keeps connections alive, and answers every request with a JSON page of the
same shape and about the same size as the embedded default's (TLS facts and
the server certificate). It runs no gateway: no routing, no Kong phases, no
plugins; what it shows is what the same page costs on stdlib ssl, not a
like-for-like gateway. Prints "ready" on stdout once listening; stops on
SIGINT/SIGTERM. Benchmark tool only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import ssl
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import raise_nofile  # noqa: E402


def page(writer, server_pem):
    obj = writer.get_extra_info("ssl_object")
    peer = writer.get_extra_info("peername")
    cert = obj.getpeercert(binary_form=True)
    body = {
        "scheme": "https",
        "client": list(peer[:2]),
        "tls": {
            "version": obj.version(), "cipher": obj.cipher()[0], "sni": obj.server_hostname,
            "alpn": obj.selected_alpn_protocol(), "resumed": obj.session_reused,
            "client_verify": "SUCCESS" if cert else "NONE",
            "client_certificate": None, "client_cert_chain": ssl.DER_cert_to_PEM_cert(cert) if cert else None,
            "asgi_tls_extension": {"server_cert": server_pem, "client_cert_chain": [],
                                   "client_cert_name": None, "client_cert_error": None,
                                   "tls_version": 0x0304 if obj.version() == "TLSv1.3" else 0x0303,
                                   "cipher_suite": None},
        },
    }
    return (json.dumps(body, indent=2) + "\n").encode()


async def handle(reader, writer, server_pem):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
            length = int(headers.get("content-length", "0") or 0)
            if length:
                await reader.readexactly(length)
            body = page(writer, server_pem)
            close = headers.get("connection", "").lower() == "close"
            writer.write(("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n%s\r\n"
                          % (len(body), "connection: close\r\n" if close else "")).encode() + body)
            await writer.drain()
            if close:
                break
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ssl.SSLError):
        pass
    finally:
        writer.close()


async def serve(args):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(args.state_dir, "server.pem"), os.path.join(args.state_dir, "server-key.pem"))
    ctx.load_verify_locations(os.path.join(args.state_dir, "ca.pem"))
    ctx.verify_mode = ssl.CERT_OPTIONAL  # like the embedded default: optional client certificate, CA names sent
    ctx.set_alpn_protocols(["http/1.1"])
    with open(os.path.join(args.state_dir, "server.pem")) as f:
        server_pem = f.read().split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n"
    server = await asyncio.start_server(lambda r, w: handle(r, w, server_pem), args.host, args.port, ssl=ctx,
                                        reuse_address=True)
    print("ready", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    server.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state-dir", required=True)
    args = parser.parse_args(argv)
    raise_nofile()
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
