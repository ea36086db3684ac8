#!/usr/bin/env python3
"""A fixed server-handshake workload for callgrind (instructions, not seconds).

    valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        python3 benchmarks/handshake_workload.py TREE HANDSHAKES [TLS1.3|TLS1.2] [ECDSA|RSA] [full|tickets|resumed]

TREE is a purekong source tree (this one, or an older checkout for an A/B).
Runs HANDSHAKES full in-memory handshakes of purekong's ServerConnection
against a stdlib ``ssl`` client (OpenSSL: its share is the same in A and
B), x25519, tickets and resumption off. Two runs that differ only in
HANDSHAKES give the instructions per handshake without the start-up (the
figures of docs/performance.md, "What was changed"). On the shared
machine wall-clock A/B runs swing by 20 %; instruction counts do not.
MODE ``tickets`` runs the same full handshakes with session tickets on (the
server sends its default two TLS 1.3 tickets, or a TLS 1.2 ticket), and
``resumed`` resumes one session from a first full handshake on every
handshake (TLS 1.3: PSK with ECDHE, what h2load does for a new connection
per request). Use ``PYTHONHASHSEED=0``. ECDSA only, for now: the key is made per process,
and an RSA key search costs a different count each time.
"""
import datetime
import ssl
import sys

sys.path.insert(0, sys.argv[1])
n = int(sys.argv[2]) if len(sys.argv) > 2 else 20
version = sys.argv[3] if len(sys.argv) > 3 else "TLS1.3"
kind = sys.argv[4] if len(sys.argv) > 4 else "ECDSA"
mode = sys.argv[5] if len(sys.argv) > 5 else "full"
assert mode in ("full", "tickets", "resumed"), mode

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, rsa  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

import purekong.engine as engine  # noqa: E402
from purekong.engine import NEED_DATA, PAUSED, CertifiedKey, ServerConfig, ServerConnection  # noqa: E402

assert engine.__file__.startswith(sys.argv[1]), engine.__file__

key = ec.generate_private_key(ec.SECP256R1()) if kind == "ECDSA" else rsa.generate_private_key(65537, 2048)
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
now = datetime.datetime.now(datetime.timezone.utc)
cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
versions = ("TLSv1.3" if version == "TLS1.3" else "TLSv1.2",)
if mode == "full":
    config = ServerConfig(certificates=(CertifiedKey((cert,), key),), versions=versions,
                          session_resumption=False, ticket_keys=(), tls13_tickets=0)
else:
    config = ServerConfig(certificates=(CertifiedKey((cert,), key),), versions=versions, ticket_keys=(bytes(32),))
client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
client_ctx.check_hostname, client_ctx.verify_mode = False, ssl.CERT_NONE
if mode == "full":
    client_ctx.options |= ssl.OP_NO_TICKET


def handshake(session: ssl.SSLSession | None = None) -> ssl.SSLSession | None:
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_ctx.wrap_bio(incoming, outgoing, server_hostname="localhost", session=session)
    server = None
    for _ in range(4):
        try:
            client.do_handshake()
        except ssl.SSLWantReadError:
            pass
        data = outgoing.read()
        if not data:
            break
        server = server or ServerConnection(config)
        server.receive_data(data)
        while (event := server.next_event()) is not NEED_DATA:
            if event is PAUSED:
                server.proceed()
        incoming.write(server.data_to_send())
    assert server is not None and str(server.state).endswith("ESTABLISHED"), server.state
    if mode == "full":
        return None
    try:
        client.read()  # the TLS 1.3 tickets come after the handshake
    except ssl.SSLWantReadError:
        pass
    assert client.session_reused == (session is not None), (client.session_reused, session)
    return client.session


first = handshake() if mode == "resumed" else None
for _ in range(n):
    handshake(first)
print(f"{n} {version} {kind} {mode} handshakes")
