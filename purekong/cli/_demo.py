"""``purekong demo``: an mTLS handshake in memory, with nothing to set up.

It mints a throwaway CA, a server certificate and a client certificate,
joins a purekong server and a purekong client in memory, requests the
client's certificate at the ClientHello pause (Kong's certificate phase)
and prints what happened, message by message.
"""

from __future__ import annotations

import argparse

from purekong._devpki import make_dev_pki
from purekong.engine import (
    NEED_DATA,
    PAUSED,
    CertifiedKey,
    ClientConfig,
    ClientConnection,
    ClientHelloReceived,
    DataReceived,
    HandshakeComplete,
    HandshakeMessageTrace,
    ServerConfig,
    ServerConnection,
)


def register(subparsers) -> None:
    parser = subparsers.add_parser("demo", help="run an mTLS handshake in memory and show it")
    parser.add_argument("--tls12", action="store_true", help="use TLS 1.2 instead of TLS 1.3")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    pki = make_dev_pki(ca_days=1, days=1)
    ca = pki.ca
    versions = ("TLSv1.2",) if args.tls12 else ("TLSv1.3",)

    def show(trace) -> None:
        if isinstance(trace, HandshakeMessageTrace):
            arrow = "server <-- client" if trace.direction == "received" else "server --> client"
            print(f"  {arrow}  {trace.name:<22} {len(trace.raw):5d} bytes")

    server = ServerConnection(ServerConfig(certificates=(CertifiedKey((pki.server, ca), pki.server_key),), versions=versions), trace=show)
    client = ClientConnection(
        ClientConfig(trusted_certificates=(ca,), certificate=CertifiedKey((pki.client, ca), pki.client_key), versions=versions),
        "localhost",
    )
    print("purekong demo: an mTLS handshake between two purekong endpoints, in memory\n")
    done = None
    for _ in range(10):
        server.receive_data(client.data_to_send())
        while (event := server.next_event()) not in (NEED_DATA, PAUSED):
            if isinstance(event, ClientHelloReceived):
                print(f"  [paused at the ClientHello: SNI={event.server_name!r}, versions {', '.join(event.versions)}]")
                print("  [certificate phase: request the client's certificate, CA DN list = the demo CA]")
                server.proceed(request_client_certificate=True, client_ca_certificates=[ca])
            elif isinstance(event, HandshakeComplete):
                done = event
        outgoing = server.data_to_send()
        if outgoing:
            client.receive_data(outgoing)
        while client.next_event() is not NEED_DATA:
            pass
        if done is not None and client.handshake is not None:
            break
    if done is None:
        print("handshake did not complete")
        return 1
    client.send_data(b"GET / HTTP/1.0\r\n\r\n")
    server.receive_data(client.data_to_send())
    request = server.next_event()
    print(f"\n  handshake complete: {done.version}, {done.openssl_cipher}, resumed={done.resumed}")
    print(f"  application data from the client: {request.data!r}" if isinstance(request, DataReceived) else "")
    print("\nthe client's chain, exactly as sent (get_full_client_certificate_chain):\n")
    print(done.peer_certificates_pem())
    return 0
