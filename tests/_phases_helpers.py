"""A stdlib ``ssl`` (OpenSSL) client connecting to a purekong server whose
ClientHello pause runs Kong's connection phases (``ConnectionPhases``)."""

from __future__ import annotations

import ssl

from purekong.engine import NEED_DATA, PAUSED, ClientHelloReceived, ServerConnection


def connect(config, phases, ctx: ssl.SSLContext, server_name: str = "localhost", session=None):
    """One connection in memory; returns (client SSLObject, server, the ClientHelloReceived events)."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = ctx.wrap_bio(incoming, outgoing, server_hostname=server_name, session=session)
    server = ServerConnection(config)
    hellos = []
    for _ in range(10):
        try:
            client.do_handshake()
        except ssl.SSLWantReadError:
            pass
        data = outgoing.read()
        if data:
            server.receive_data(data)
        while (event := server.next_event()) not in (NEED_DATA, PAUSED):
            if isinstance(event, ClientHelloReceived):
                hellos.append(event)
                phases.on_client_hello(server, event)
        incoming.write(server.data_to_send())
        if server.handshake is not None and client.session is not None and not outgoing.pending:
            break
    # One exchange so a TLS 1.3 client reads its NewSessionTickets.
    client.write(b"ping")
    server.receive_data(outgoing.read())
    server.next_event()
    server.send_data(b"pong")
    incoming.write(server.data_to_send())
    assert client.read() == b"pong"
    return client, server, hellos
