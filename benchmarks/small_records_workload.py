#!/usr/bin/env python3
"""A fixed workload for counting a keep-alive request's TLS cost with callgrind.

    valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        python3 benchmarks/small_records_workload.py TREE REQUESTS [TLS1.3|TLS1.2] [CIPHER] [CONNECTIONS]

TREE is a purekong source tree (this one, or an older checkout for an A/B).
After one in-memory handshake between a purekong server and a stdlib ``ssl``
client (OpenSSL, so its share does not change between two purekong trees),
the server answers REQUESTS requests as ``bench_small_records.py`` does (one
190-byte record in, ``next_event`` until NEED_DATA, one 230-byte record
out), then builds CONNECTIONS ``ServerConnection`` objects. Two runs that
differ only in REQUESTS (or CONNECTIONS) give the instructions per request
(or per constructed connection) without the start-up.
"""
import os
import ssl
import sys

sys.path.insert(0, sys.argv[1])
sys.path.insert(1, os.path.dirname(os.path.abspath(__file__)))
requests = int(sys.argv[2])
version = sys.argv[3] if len(sys.argv) > 3 else "TLS1.3"
cipher = sys.argv[4] if len(sys.argv) > 4 else "AES_128_GCM"
connections = int(sys.argv[5]) if len(sys.argv) > 5 else 0

import purekong.engine as engine  # noqa: E402
from purekong._devpki import make_dev_pki  # noqa: E402
from purekong.testing import OpenSSLClient, handshake_in_memory  # noqa: E402

from bench_small_records import REQUEST, RESPONSE  # noqa: E402

assert engine.__file__.startswith(sys.argv[1]), engine.__file__
pki = make_dev_pki()
versions = ("TLSv1.3",) if version == "TLS1.3" else ("TLSv1.2",)
config = engine.ServerConfig(certificates=(engine.CertifiedKey((pki.server, pki.ca), pki.server_key),), versions=versions,
                             ciphers=(cipher,), tls13_tickets=0, session_resumption=False, ticket_keys=())
context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
server, client = engine.ServerConnection(config), OpenSSLClient(context, "localhost")
assert handshake_in_memory(client, server).completed

records = []
for _ in range(requests):
    client.ssl_object.write(REQUEST)
    records.append(client.outgoing.read())
replies = []
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
