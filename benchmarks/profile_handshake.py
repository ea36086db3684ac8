#!/usr/bin/env python3
"""Where a purekong server handshake spends its time (docs/performance.md).

    python3 benchmarks/profile_handshake.py [--handshakes N] [--top N]

Runs N in-memory TLS 1.3 ECDSA P-256 full handshakes (a stdlib ``ssl`` client,
purekong's ServerConnection), profiles only the server's calls with cProfile,
and prints the self time grouped by where the code lives, then the top
functions. cProfile inflates Python call overhead: read the shares as
relative, and time primitives directly for absolute costs.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import pstats
import ssl

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from purekong.engine import NEED_DATA, PAUSED, CertifiedKey, ServerConfig, ServerConnection

BUCKETS = [
    ("crypto in OpenSSL (cryptography, hashlib)", lambda fn, name: fn == "~" and any(k in name for k in ("cryptography", "_hashlib", "x25519", "openssl"))),
    ("purekong adapter: ClientHello codec", lambda fn, name: "purekong" in fn and "_hello_codec" in fn),
    ("purekong adapter: primitives and speed-up glue", lambda fn, name: "purekong" in fn and any(k in fn for k in ("_backend", "_keys", "_speedups", "_records"))),
    ("purekong engine: state machine, pause, hooks", lambda fn, name: "purekong" in fn),
    ("tlslite: message codec", lambda fn, name: "tlslite" in fn and any(k in fn for k in ("messages.py", "extensions.py", "codec.py"))),
    ("tlslite: record layer", lambda fn, name: "tlslite" in fn and any(k in fn for k in ("recordlayer", "defragmenter", "bufferedsocket"))),
    ("tlslite: handshake state machine", lambda fn, name: "tlslite" in fn and ("tlsconnection" in fn or "handshake" in fn)),
    ("tlslite: other (settings, constants, key exchange)", lambda fn, name: "tlslite" in fn),
    ("builtins", lambda fn, name: fn == "~"),
    ("other Python", lambda fn, name: True),
]


def certified() -> CertifiedKey:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    return CertifiedKey((cert,), key)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--handshakes", type=int, default=400)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    config = ServerConfig(certificates=(certified(),), versions=("TLSv1.3",), session_resumption=False, ticket_keys=())
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.check_hostname, client_ctx.verify_mode = False, ssl.CERT_NONE
    profile = cProfile.Profile()

    def handshake() -> None:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        client = client_ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
        server = None
        for _ in range(4):
            try:
                client.do_handshake()
                return
            except ssl.SSLWantReadError:
                pass
            data = outgoing.read()
            profile.enable()
            server = server or ServerConnection(config)
            server.receive_data(data)
            while (event := server.next_event()) is not NEED_DATA:
                if event is PAUSED:
                    server.proceed()
            reply = server.data_to_send()
            profile.disable()
            incoming.write(reply)

    for _ in range(20):
        handshake()
    profile = cProfile.Profile()
    for _ in range(args.handshakes):
        handshake()
    stats = pstats.Stats(profile)
    shares: dict[str, float] = {}
    total = 0.0
    for (fn, _line, name), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():
        total += tottime
        bucket = next(label for label, test in BUCKETS if test(fn, name))
        shares[bucket] = shares.get(bucket, 0.0) + tottime
    print(f"{args.handshakes} server handshakes, {total / args.handshakes * 1e6:.0f} us each under cProfile\n")
    for label, seconds in sorted(shares.items(), key=lambda item: -item[1]):
        print(f"{seconds / total * 100:5.1f} %  {label}")
    print()
    stats.sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
