"""Helpers shared by the plugin tests in tests/pdk: one bare in-memory
handshake through ``ConnectionPhases`` (KongHarness hides the phases; these
look at them) and a reader for the CA names a CertificateRequest carries.
"""

from __future__ import annotations

from _engine_helpers import certificate_request_dns
from purekong.engine import ClientConfig, ClientConnection, HandshakeMessageTrace, ServerConfig, ServerConnection
from purekong.runner import ConnectionPhases, Runner
from purekong.testing import handshake_in_memory
from purekong.testing._harness import _throwaway_server_certificate


def certificate_authorities(message: bytes, *, tls13: bool) -> list[bytes]:
    """The DER DNs in a CertificateRequest message ([] when none are sent)."""
    names, _ = certificate_request_dns(message, "1.3" if tls13 else "1.2")
    return names or []


def handshake(handlers, *, certificate=None, server_name="localhost", versions=("TLSv1.3",), runner=None):
    """One in-memory handshake; returns (phases, server handshake or None, CA DN lists sent).

    The DN lists are one per CertificateRequest the server sent (DER names).
    """
    sent = []

    def trace(item):
        if isinstance(item, HandshakeMessageTrace) and item.direction == "sent" and item.msg_type == 13:
            sent.append(item.raw)

    server = ServerConnection(ServerConfig(certificates=(_throwaway_server_certificate(),)), trace=trace)
    client = ClientConnection(ClientConfig(verify_server=False, certificate=certificate, versions=versions),
                              server_name)
    phases = ConnectionPhases(runner or Runner([]), certificate_handlers=handlers)
    result = handshake_in_memory(client, server, on_client_hello=phases.on_client_hello)
    done = result.server_handshake if result.completed else None
    return phases, done, [certificate_authorities(r, tls13=versions == ("TLSv1.3",)) for r in sent]


def der_name(issued) -> bytes:
    return issued.cert.subject.public_bytes()
