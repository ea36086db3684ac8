"""In-memory handshake pairs per second through purekong.testing, against a stdlib ssl pair.

What a user's ``max_examples=1000`` costs: each example of a property that
builds a connection pair pays one of these. Three measures, same run:

- ``kit pair``: ``purekong_pair().handshake()`` (purekong client + server,
  traced, over the kit's ConnectionPair), TLS 1.3 and TLS 1.2;
- ``kit attacker``: ``AttackerPeer().run()``, the same pair through the
  attacker (every record decrypted and re-encrypted);
- ``stdlib pair``: two ``ssl.SSLObject`` over MemoryBIOs (OpenSSL on both sides).

    python3 benchmarks/bench_testing_kit.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import ssl
import sys
import time


def rate(make, seconds: float) -> float:
    make()  # warm-up (key loading, caches)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        make()
        count += 1
    return count / (time.perf_counter() - start)


def stdlib_contexts(version: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server and a client context made once, as the kit's are (configs are shared), no key log."""
    from purekong.testing._pair import kit_pki_files, stdlib_client_context

    tls = ssl.TLSVersion.TLSv1_3 if version == "TLSv1.3" else ssl.TLSVersion.TLSv1_2
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(kit_pki_files()["server_chain"], kit_pki_files()["server_key"])
    server.minimum_version = server.maximum_version = tls
    client = stdlib_client_context((version,))
    client.keylog_filename = None
    return server, client


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measure")
    args = parser.parse_args()
    from purekong.testing import AttackerPeer, ConnectionPair, StdlibEndpoint, kit_client_config, kit_server_config, purekong_pair

    rows = []
    for version in ("TLSv1.3", "TLSv1.2"):
        server, client = kit_server_config(versions=(version,)), kit_client_config(versions=(version,))
        kit = rate(lambda: purekong_pair(server, client).handshake(), args.seconds)
        attacker = rate(lambda: AttackerPeer(server, client).run(), args.seconds)
        server_context, client_context = stdlib_contexts(version)
        stdlib = rate(lambda: ConnectionPair(StdlibEndpoint(client_context, server_side=False),
                                             StdlibEndpoint(server_context, server_side=True)).handshake(), args.seconds)
        rows.append((version, kit, attacker, stdlib))
    print(f"{'version':8} {'kit pair/s':>11} {'attacker/s':>11} {'stdlib pair/s':>14} {'stdlib/kit':>10}")
    for version, kit, attacker, stdlib in rows:
        print(f"{version:8} {kit:11.1f} {attacker:11.1f} {stdlib:14.1f} {stdlib / kit:10.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
