#!/usr/bin/env python3
"""What observing a handshake costs: purekong engines in memory, traced or not.

    python3 benchmarks/bench_trace.py [--handshakes 200] [--rounds 5] [--tls12]

Modes, interleaved round by round so that machine load hits them alike:

* ``off``       - no ``trace=`` on either side (what production runs);
* ``trace``     - a tracer on both sides that keeps every event (what
                  ``purekong inspect`` scenarios do);
* ``keylog``    - the client writes an NSS key log (``KeyLogWriter``);
* ``inspect``   - ``trace`` plus building the ``Recording`` (split, decrypt,
                  recompute the key schedule, read the negotiation).

Each figure is the median over rounds of the mean wall time per handshake
(client and server together, ECDSA P-256, x25519). Run on demand; not a test.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from purekong._devpki import make_dev_pki  # noqa: E402
from purekong.engine import (  # noqa: E402
    NEED_DATA,
    PAUSED,
    CertifiedKey,
    ClientConfig,
    ClientConnection,
    ClientHelloReceived,
    KeyLogWriter,
    ServerConfig,
    ServerConnection,
)
from purekong.inspect import CLIENT_TO_SERVER, SERVER_TO_CLIENT, Recording  # noqa: E402


def one_handshake(server_config, client_config, mode: str) -> None:
    client_events: list = []
    server_events: list = []
    client_trace = server_trace = None
    if mode in ("trace", "inspect"):
        client_trace, server_trace = client_events.append, server_events.append
    elif mode == "keylog":
        client_trace = KeyLogWriter(io.StringIO())
    server = ServerConnection(server_config, trace=server_trace)
    client = ClientConnection(client_config, "localhost", trace=client_trace)
    transcript = []
    for _ in range(8):
        if data := client.data_to_send():
            transcript.append((CLIENT_TO_SERVER, data))
            server.receive_data(data)
        while (event := server.next_event()) not in (NEED_DATA, PAUSED):
            if isinstance(event, ClientHelloReceived):
                server.proceed()
        if data := server.data_to_send():
            transcript.append((SERVER_TO_CLIENT, data))
            client.receive_data(data)
        while client.next_event() is not NEED_DATA:
            pass
        if client.handshake is not None and server.handshake is not None and not data:
            break
    if mode == "inspect":
        Recording.from_transcript(transcript, client_trace=client_events, server_trace=server_events)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--handshakes", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tls12", action="store_true")
    args = parser.parse_args()
    versions = ("TLSv1.2",) if args.tls12 else ("TLSv1.3",)
    pki = make_dev_pki(ca_days=1, days=1)
    server_config = ServerConfig(certificates=(CertifiedKey((pki.server, pki.ca), pki.server_key),), versions=versions, session_resumption=False)
    client_config = ClientConfig(trusted_certificates=(pki.ca,), versions=versions)
    modes = ("off", "trace", "keylog", "inspect")
    figures: dict[str, list[float]] = {m: [] for m in modes}
    for mode in modes:  # warm-up
        one_handshake(server_config, client_config, mode)
    for _ in range(args.rounds):
        for mode in modes:
            start = time.perf_counter()
            for _ in range(args.handshakes):
                one_handshake(server_config, client_config, mode)
            figures[mode].append((time.perf_counter() - start) / args.handshakes * 1000)
    base = statistics.median(figures["off"])
    print(f"{versions[0]}, {args.handshakes} handshakes x {args.rounds} rounds, ms per handshake (client + server)")
    for mode in modes:
        value = statistics.median(figures[mode])
        print(f"  {mode:<8} {value:7.3f} ms  ({value / base:5.2f}x off)")


if __name__ == "__main__":
    main()
