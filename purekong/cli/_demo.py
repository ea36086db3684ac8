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
    CertifiedKey,
    ClientConfig,
    ClientConnection,
    ClientHelloReceived,
    DataReceived,
    HandshakeMessageTrace,
    SecretTrace,
    ServerConfig,
    ServerConnection,
)
from purekong.testing import handshake_in_memory


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="run an mTLS handshake in memory and show it")
    parser.add_argument("--tls12", action="store_true", help="use TLS 1.2 instead of TLS 1.3")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    pki = make_dev_pki(ca_days=1, days=1)
    ca = pki.ca
    versions = ("TLSv1.2",) if args.tls12 else ("TLSv1.3",)

    def show(trace: HandshakeMessageTrace | SecretTrace) -> None:
        if isinstance(trace, HandshakeMessageTrace):
            arrow = "server <-- client" if trace.direction == "received" else "server --> client"
            print(f"  {arrow}  {trace.name:<22} {len(trace.raw):5d} bytes")

    def certificate_phase(server: ServerConnection, event: ClientHelloReceived) -> None:
        print(f"  [paused at the ClientHello: SNI={event.server_name!r}, versions {', '.join(event.versions)}]")
        print("  [certificate phase: request the client's certificate, CA DN list = the demo CA]")
        server.proceed(request_client_certificate=True, client_ca_certificates=[ca])

    server = ServerConnection(ServerConfig(certificates=(CertifiedKey((pki.server, ca), pki.server_key),), versions=versions), trace=show)
    client = ClientConnection(
        ClientConfig(trusted_certificates=(ca,), certificate=CertifiedKey((pki.client, ca), pki.client_key), versions=versions),
        "localhost",
    )
    print("purekong demo: an mTLS handshake between two purekong endpoints, in memory\n")
    result = handshake_in_memory(client, server, on_client_hello=certificate_phase)
    done = result.server_handshake
    if not result.completed or done is None:
        print(f"handshake did not complete: {result.error}" if result.error else "handshake did not complete")
        return 1
    client.send_data(b"GET / HTTP/1.0\r\n\r\n")
    server.receive_data(client.data_to_send())
    request = server.next_event()
    print(f"\n  handshake complete: {done.version}, {done.openssl_cipher}, resumed={done.resumed}")
    print(f"  application data from the client: {request.data!r}" if isinstance(request, DataReceived) else "")
    print("\nthe client's chain, exactly as sent (get_full_client_certificate_chain):\n")
    print(done.peer_certificates_pem())
    return 0
