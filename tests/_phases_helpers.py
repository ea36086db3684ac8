"""A stdlib ``ssl`` (OpenSSL) client connecting to a purekong server whose
ClientHello pause runs Kong's connection phases (``ConnectionPhases``)."""

from __future__ import annotations

import ssl

from purekong.engine import ServerConnection
from purekong.testing import OpenSSLClient, handshake_in_memory


def connect(config, phases, ctx: ssl.SSLContext, server_name: str = "localhost", session=None):
    """One connection in memory; returns (client SSLObject, server, the ClientHelloReceived events)."""
    client = OpenSSLClient(ctx, server_name, session=session)
    server = ServerConnection(config)
    result = handshake_in_memory(client, server, on_client_hello=phases.on_client_hello)
    assert result.completed, result.error
    return client.ssl_object, server, list(result.client_hellos)
