#!/usr/bin/env python3
"""Application-data throughput (MB/s), seal + open, 16 KiB records, in memory.

    python3 benchmarks/bench_bulk.py [--quick]

One subprocess per implementation (``engine``, ``stdlib``, ``plain``):

* ``engine`` - purekong's public API only: ``ServerConnection.send_data`` ->
  ``data_to_send`` -> ``ClientConnection.receive_data``/``next_event``, and the
  reverse direction (client seals, server opens). The cipher is forced with
  ``ServerConfig(ciphers=(...,))``.
* ``stdlib`` - ``ssl.SSLObject`` pair over ``MemoryBIO`` (``write``/``read``).
  The ``ssl`` module cannot restrict TLS 1.3 suites, so per-cipher figures are
  TLS 1.2 (``set_ciphers``); TLS 1.3 is measured with OpenSSL's default pick
  (TLS_AES_256_GCM_SHA384), compared with purekong's TLS 1.3 AES-256-GCM.
* ``plain`` - tlslite-ng as installed (pure-Python AES-GCM/ChaCha20, no
  purekong backend), a ``TLSConnection`` pair over memory sockets. It runs
  at well under 1 MB/s, so it moves only a few records.

Both directions are timed, and both sides of each (seal on one connection,
open on the other), with ``time.thread_time()`` around the whole loop, the
same way for every implementation. MB = 10**6 bytes of application data
(payload, not wire bytes). Each figure is the median of ``--runs`` runs.
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

RECORD = 16 * 1024
CIPHERS = ("AES_128_GCM", "AES_256_GCM", "CHACHA20_POLY1305")
CASES = [("TLS1.2", c) for c in CIPHERS] + [("TLS1.3", c) for c in CIPHERS]
# What stdlib can do: TLS 1.2 per cipher, TLS 1.3 only with OpenSSL's default.
STDLIB_TLS12 = {"AES_128_GCM": "ECDHE-ECDSA-AES128-GCM-SHA256", "AES_256_GCM": "ECDHE-ECDSA-AES256-GCM-SHA384",
                "CHACHA20_POLY1305": "ECDHE-ECDSA-CHACHA20-POLY1305"}
TLSLITE_NAMES = {"AES_128_GCM": "aes128gcm", "AES_256_GCM": "aes256gcm", "CHACHA20_POLY1305": "chacha20-poly1305"}
CERT = "p256"  # ECDSA P-256: the certificate does not matter for bulk data


def case_name(version, cipher):
    return "%s %s" % (version, cipher)


def cases_for(impl):
    if impl == "stdlib":
        return [c for c in CASES if c[0] == "TLS1.2"] + [("TLS1.3", "AES_256_GCM")]
    return CASES


# ---------------------------------------------------------------------------
# One "pair" per implementation: handshake, then move(n) moves n records each
# way (seal on one side, open on the other) and returns the payload bytes.
# ---------------------------------------------------------------------------

def engine_connections(directory, version, cipher):
    """An established purekong (server, client) pair, and the cipher's OpenSSL name."""
    from purekong.engine import CertifiedKey, ClientConfig, ClientConnection, ServerConfig, ServerConnection
    from purekong.testing import handshake_in_memory

    def read(ext):
        with open(os.path.join(directory, CERT + ext), "rb") as f:
            return f.read()

    versions = ("TLSv1.3",) if version == "TLS1.3" else ("TLSv1.2",)
    server = ServerConnection(ServerConfig(certificates=(CertifiedKey.from_pem(read(".crt"), read(".key")),),
                                           versions=versions, ciphers=(cipher,), session_resumption=False,
                                           ticket_keys=()))
    client = ClientConnection(ClientConfig(verify_server=False, versions=versions, ciphers=(cipher,)))
    handshake = handshake_in_memory(client, server)
    if not handshake.completed:
        raise RuntimeError(f"in-memory handshake failed: {handshake.error}")
    return server, client, handshake.server_handshake.openssl_cipher


def engine_pair(directory, version, cipher):
    from purekong.engine import NEED_DATA, DataReceived

    server, client, negotiated = engine_connections(directory, version, cipher)
    payload = os.urandom(RECORD)

    def one_way(sender, receiver, n):
        got = 0
        for _ in range(n):
            sender.send_data(payload)
            receiver.receive_data(sender.data_to_send())
            while True:
                event = receiver.next_event()
                if event is NEED_DATA:
                    break
                if isinstance(event, DataReceived):
                    got += len(event.data)
        return got

    def move(n):
        return one_way(server, client, n) + one_way(client, server, n)

    return negotiated, move


def stdlib_connections(directory, version, cipher):
    """An established ssl.SSLObject (server, client) pair over MemoryBIO
    (purekong.testing's wrappers: ``.ssl_object``, ``.incoming``, ``.outgoing``)."""
    import ssl

    from purekong.testing import OpenSSLClient, OpenSSLServer, handshake_in_memory  # the handshake only

    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(os.path.join(directory, CERT + ".crt"), os.path.join(directory, CERT + ".key"))
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.check_hostname = False
    client_ctx.verify_mode = ssl.CERT_NONE
    tls_version = ssl.TLSVersion.TLSv1_3 if version == "TLS1.3" else ssl.TLSVersion.TLSv1_2
    for ctx in (server_ctx, client_ctx):
        ctx.minimum_version = ctx.maximum_version = tls_version
        if version == "TLS1.2":
            ctx.set_ciphers(STDLIB_TLS12[cipher])
    server_ctx.num_tickets = 0
    server, client = OpenSSLServer(server_ctx), OpenSSLClient(client_ctx, "localhost")
    handshake = handshake_in_memory(client, server)
    if not handshake.completed:
        raise RuntimeError(f"in-memory handshake failed: {handshake.error}")
    return server, client, server.ssl_object.cipher()[0]


def stdlib_pair(directory, version, cipher):
    import ssl

    server, client, negotiated = stdlib_connections(directory, version, cipher)
    payload = os.urandom(RECORD)

    def one_way(sender, sender_out, receiver, receiver_in, n):
        got = 0
        for _ in range(n):
            sender.write(payload)
            receiver_in.write(sender_out.read())
            while True:
                try:
                    got += len(receiver.read(RECORD))
                except ssl.SSLWantReadError:
                    break
        return got

    def move(n):
        return (one_way(server.ssl_object, server.outgoing, client.ssl_object, client.incoming, n)
                + one_way(client.ssl_object, client.outgoing, server.ssl_object, server.incoming, n))

    return negotiated, move


def plain_connections(directory, version, cipher):
    """An established plain tlslite (server, server_sock, client, client_sock)
    over memory sockets, and the negotiated cipher's name."""
    from bench_handshake import MemoryTransport, _run_gen, tlslite_settings
    from tlslite.api import X509CertChain, parsePEMKey
    from tlslite.tlsconnection import TLSConnection

    with open(os.path.join(directory, CERT + ".crt")) as f:
        chain = X509CertChain()
        chain.parsePemList(f.read())
    with open(os.path.join(directory, CERT + ".key")) as f:
        key = parsePEMKey(f.read(), private=True, implementations=["python"])
    settings = tlslite_settings(version)
    settings.cipherNames = [TLSLITE_NAMES[cipher]]
    s_sock, c_sock = MemoryTransport(), MemoryTransport()
    server, client = TLSConnection(s_sock), TLSConnection(c_sock)
    sgen = server.handshakeServerAsync(certChain=chain, privateKey=key, settings=settings)
    cgen = client.handshakeClientCert(settings=settings, serverName="localhost", async_=True)
    c_done = s_done = False
    while not (c_done and s_done):
        c_done = c_done or _run_gen(cgen)
        s_sock.incoming += c_sock.take()
        s_done = s_done or _run_gen(sgen)
        c_sock.incoming += s_sock.take()
    return (server, s_sock, client, c_sock), server.getCipherName()


def plain_pair(directory, version, cipher):
    (server, s_sock, client, c_sock), negotiated = plain_connections(directory, version, cipher)
    payload = os.urandom(RECORD)

    def one_way(sender, sender_sock, receiver, receiver_sock, n):
        got = 0
        for _ in range(n):
            sender.write(payload)
            receiver_sock.incoming += sender_sock.take()
            # The whole record is already in the receiver's input, so this read never blocks.
            got += len(receiver.read(max=RECORD, min=RECORD))
        return got

    def move(n):
        return one_way(server, s_sock, client, c_sock, n) + one_way(client, c_sock, server, s_sock, n)

    return negotiated, move


PAIRS = {"engine": engine_pair, "stdlib": stdlib_pair, "plain": plain_pair}


def worker(impl, directory, records, runs):
    results = {}
    for version, cipher in cases_for(impl):
        name = case_name(version, cipher)
        try:
            negotiated, move = PAIRS[impl](directory, version, cipher)
            move(1)  # warm-up: first-record code paths, caches
            rates = []
            for _ in range(runs):
                t0 = time.thread_time()
                moved = move(records)
                spent = time.thread_time() - t0
                if moved != 2 * records * RECORD:
                    raise RuntimeError("moved %d bytes, expected %d" % (moved, 2 * records * RECORD))
                rates.append(moved / spent / 1e6)
            results[name] = {"rates": rates, "negotiated": negotiated, "records": records}
        except Exception as exc:  # report, don't abort the other rows
            results[name] = {"error": "%s: %s" % (type(exc).__name__, exc)}
    print(json.dumps({"results": results}))


def collect(directory, quick=False, impls=("engine", "stdlib", "plain")):
    """``{impl: {"results": {case: {"rates": [...], ...}}}}``; certificates in ``directory``."""
    from _common import run_json_worker

    runs = 3 if quick else 5
    data = {}
    for impl in impls:
        # plain tlslite is ~0.3 MB/s: a couple of records each way is plenty
        # 256 records (8 MiB both ways) took ~5 ms a run here: too short to
        # be stable on a shared machine; 2048 takes ~40 ms.
        records = (2 if quick else 4) if impl == "plain" else (256 if quick else 2048)
        print("bulk: %-6s (%d runs x %d records each way) ..." % (impl, runs, records), file=sys.stderr, flush=True)
        data[impl] = run_json_worker("bench_bulk.py", ["--worker", impl, "--certs", directory, "--records",
                                                       str(records), "--runs", str(runs)], timeout=300)
    return data


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--certs", help=argparse.SUPPRESS)
    parser.add_argument("--records", type=int, default=64, help=argparse.SUPPRESS)
    parser.add_argument("--runs", type=int, default=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.worker, args.certs, args.records, args.runs)
    from _common import write_certificates

    with tempfile.TemporaryDirectory() as directory:
        write_certificates(directory)
        data = collect(directory, args.quick)
    print("MB/s of application data, seal + open, 16 KiB records (median)")
    for version, cipher in CASES:
        name = case_name(version, cipher)
        cells = []
        for impl in ("engine", "stdlib", "plain"):
            entry = data[impl].get("results", {}).get(name)
            if entry is None:
                cells.append("%12s" % "-")
            elif "rates" in entry:
                cells.append("%12.2f" % statistics.median(entry["rates"]))
            else:
                cells.append("%12s" % "error")
                print("  %s %s: %s" % (impl, name, entry["error"]), file=sys.stderr)
        print("%-26s" % name + "".join(cells))


if __name__ == "__main__":
    main()
