#!/usr/bin/env python3
"""What the server-flight writer buys: the engine with it and without it, side by side.

    python3 benchmarks/ab_flight_codec.py [--runs N] [--handshakes N]
    python3 benchmarks/ab_flight_codec.py --worker on|off VERSION KIND N   (one run)

Each run is a fresh process doing N in-memory full handshakes (a stdlib
``ssl`` client, purekong's ``ServerConnection``, tickets off) and reporting
the server's CPU time (``time.thread_time`` around the server's calls only).
``off`` puts tlslite's own ``write`` back on the classes the writer replaces
(``_flight_codec.TLSLITE_WRITE``), so the two differ by that change alone.
Runs alternate on/off, so load on this shared machine hits both alike; the
figure is the median per case. Run on demand; never part of the test suite.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import ssl
import statistics
import subprocess
import sys
import time

from _common import child_env

CASES = [("TLSv1.3", "ec"), ("TLSv1.3", "rsa"), ("TLSv1.2", "ec"), ("TLSv1.2", "rsa")]


def _certified(kind: str):  # type: ignore[no-untyped-def]
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import NameOID

    from purekong.engine import CertifiedKey

    key = ec.generate_private_key(ec.SECP256R1()) if kind == "ec" else rsa.generate_private_key(65537, 2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    return CertifiedKey((cert,), key)


def worker(mode: str, version: str, kind: str, count: int) -> float:
    """Server CPU seconds per handshake, in this process."""
    from purekong.engine import NEED_DATA, PAUSED, ServerConfig, ServerConnection
    from purekong.engine._tlslite import _flight_codec

    if mode == "off":
        for cls, write in _flight_codec.TLSLITE_WRITE.items():
            setattr(cls, "write", write)
    config = ServerConfig(certificates=(_certified(kind),), versions=(version,), session_resumption=False, ticket_keys=())
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    spent = 0.0

    def handshake() -> None:
        nonlocal spent
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        client = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
        server = None
        for _ in range(4):
            try:
                client.do_handshake()
                return
            except ssl.SSLWantReadError:
                pass
            data = outgoing.read()
            start = time.thread_time()
            server = server or ServerConnection(config)
            server.receive_data(data)
            while (event := server.next_event()) is not NEED_DATA:
                if event is PAUSED:
                    server.proceed()
            reply = server.data_to_send()
            spent += time.thread_time() - start
            incoming.write(reply)
        raise RuntimeError("handshake did not finish")

    for _ in range(20):
        handshake()
    spent = 0.0
    for _ in range(count):
        handshake()
    return spent / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--handshakes", type=int, default=300)
    parser.add_argument("--worker", nargs=4, metavar=("MODE", "VERSION", "KIND", "N"))
    args = parser.parse_args()
    if args.worker:
        mode, version, kind, count = args.worker
        print(json.dumps({"seconds": worker(mode, version, kind, int(count))}))
        return
    print(f"{args.runs} alternating runs x {args.handshakes} handshakes; server CPU per handshake, median\n")
    print(f"{'case':<14} {'tlslite write':>14} {'flight codec':>13} {'change':>8}")
    for version, kind in CASES:
        times: dict[str, list[float]] = {"off": [], "on": []}
        for _ in range(args.runs):
            for mode in ("off", "on"):
                out = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", mode, version, kind, str(args.handshakes)],
                                     capture_output=True, text=True, env=child_env(), check=True)
                times[mode].append(json.loads(out.stdout.strip().splitlines()[-1])["seconds"])
        off, on = statistics.median(times["off"]), statistics.median(times["on"])
        print(f"{version + ' ' + kind:<14} {off * 1e6:>11.1f} us {on * 1e6:>10.1f} us {(on / off - 1) * 100:>+7.1f} %")


if __name__ == "__main__":
    main()
