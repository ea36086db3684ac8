#!/usr/bin/env python3
"""A fixed workload for counting a keep-alive request's TLS cost with callgrind.

    valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        python3 benchmarks/small_records_workload.py TREE REQUESTS [TLS1.3|TLS1.2] [CIPHER] [CONNECTIONS]

TREE is a purekong source tree (this one, or an older checkout for an A/B);
``stdlib`` runs the same loop with a stdlib ``ssl`` server instead (and this
tree for the handshake helpers), which gives the client's share. After one
in-memory handshake between the server and a stdlib ``ssl`` client (OpenSSL,
so its share does not change between two purekong trees), the server
answers REQUESTS requests as ``bench_small_records.py`` does (one 190-byte
record in, ``next_event`` until NEED_DATA, one 230-byte record out), then
builds CONNECTIONS ``ServerConnection`` objects. Two runs that differ only in
REQUESTS (or CONNECTIONS) give the instructions per request (or per
constructed connection) without the start-up.
"""
import os
import ssl
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
stdlib_server = sys.argv[1] == "stdlib"
sys.path.insert(0, os.path.dirname(HERE) if stdlib_server else sys.argv[1])
sys.path.insert(1, HERE)
requests = int(sys.argv[2])
version = sys.argv[3] if len(sys.argv) > 3 else "TLS1.3"
cipher = sys.argv[4] if len(sys.argv) > 4 else "AES_128_GCM"
connections = int(sys.argv[5]) if len(sys.argv) > 5 else 0

import purekong.engine as engine  # noqa: E402
from purekong.testing import OpenSSLClient, OpenSSLServer, handshake_in_memory  # noqa: E402

from cryptography.hazmat.primitives import serialization  # noqa: E402

from bench_bulk import STDLIB_TLS12  # noqa: E402
from bench_small_records import REQUEST, RESPONSE  # noqa: E402
from purekong._devpki import make_dev_pki  # noqa: E402

assert stdlib_server or engine.__file__.startswith(sys.argv[1]), engine.__file__
pki = make_dev_pki()  # ECDSA P-256 only: a few key generations, not RSA's variable cost
certificate, key = os.path.join(tempfile.mkdtemp(), "server.crt"), os.path.join(tempfile.mkdtemp(), "server.key")
with open(certificate, "wb") as f:
    f.write(pki.server.public_bytes(serialization.Encoding.PEM))
with open(key, "wb") as f:
    f.write(pki.server_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
tls_version = ssl.TLSVersion.TLSv1_3 if version == "TLS1.3" else ssl.TLSVersion.TLSv1_2
context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
context.minimum_version = context.maximum_version = tls_version
client = OpenSSLClient(context, "localhost")
if stdlib_server:
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(certificate, key)
    server_context.minimum_version = server_context.maximum_version = tls_version
    if version == "TLS1.2":
        server_context.set_ciphers(STDLIB_TLS12[cipher])
    server_context.num_tickets = 0
    server = OpenSSLServer(server_context)
else:
    with open(certificate, "rb") as c, open(key, "rb") as k:
        certified = engine.CertifiedKey.from_pem(c.read(), k.read())
    config = engine.ServerConfig(certificates=(certified,), versions=("TLSv1.3",) if version == "TLS1.3" else ("TLSv1.2",),
                                 ciphers=(cipher,), tls13_tickets=0, session_resumption=False, ticket_keys=())
    server = engine.ServerConnection(config)
assert handshake_in_memory(client, server).completed

records = []
for _ in range(requests):
    client.ssl_object.write(REQUEST)
    records.append(client.outgoing.read())
replies = []
if stdlib_server:
    s_obj, s_in, s_out = server.ssl_object, server.incoming, server.outgoing
    for record in records:
        s_in.write(record)
        assert s_obj.read(16384) == REQUEST
        try:
            s_obj.read(16384)
        except ssl.SSLWantReadError:
            pass
        s_obj.write(RESPONSE)
        replies.append(s_out.read())
else:
    for record in records:
        server.receive_data(record)
        event = server.next_event()
        assert type(event) is engine.DataReceived and server.next_event() is engine.NEED_DATA
        server.send_data(RESPONSE)
        replies.append(server.data_to_send())
for reply in replies:
    client.incoming.write(reply)
    assert client.ssl_object.read(16384) == RESPONSE
for _ in range(connections):
    engine.ServerConnection(config)
print(f"{requests} requests, {connections} connections")
