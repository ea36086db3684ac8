"""Kong's session-reuse scenarios (spec §6.D 1-4), through the phase runner.

A stdlib ``ssl`` client (OpenSSL) connects twice to a purekong server whose
certificate phase runs a Kong Python PDK plugin; the second connection offers
the first one's session. Without ``disable_session_reuse()`` it is resumed (and
the certificate phase does not run again); with it, it is not.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from _pki import make_ca, make_leaf
from purekong.engine import NEED_DATA, PAUSED, CertifiedKey, ClientHelloReceived, ServerConfig, ServerConnection
from purekong.runner import Runner, configure, load_plugin_file
from purekong.runner._engine import ConnectionPhases

PLUGIN = Path(__file__).parent / "kong_plugins" / "reuse-toggle.py"


@pytest.fixture(scope="module")
def setup():
    root = make_ca("Reuse Test CA")
    san = x509.SubjectAlternativeName([x509.DNSName("localhost")])
    server = make_leaf(root, "localhost", eku=[ExtendedKeyUsageOID.SERVER_AUTH], extensions=[(san, False)])
    config = ServerConfig(certificates=(CertifiedKey((server.cert,), server.key),))
    return root, config


def connect(config, runner, ctx, session=None):
    """One TLS connection, in memory; returns (client SSLObject, server, certificate phases run)."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost", session=session)
    server = ServerConnection(config)
    phases = ConnectionPhases(runner)
    certificate_phases = 0
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
                certificate_phases += not event.resumes_session
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
    return client, server, certificate_phases


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
@pytest.mark.parametrize("tickets", [True, False], ids=["tickets", "session-cache"])
@pytest.mark.parametrize("disable", [False, True], ids=["reuse", "disable_session_reuse"])
def test_session_reuse(setup, version, tickets, disable):
    root, config = setup
    runner = Runner([configure(load_plugin_file(PLUGIN), {"disable": disable})])
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cadata=root.pem)
    ctx.minimum_version = ctx.maximum_version = version
    if not tickets:
        ctx.options |= ssl.OP_NO_TICKET  # TLS 1.2: session IDs instead of tickets
    first, first_server, first_phases = connect(config, runner, ctx)
    second, second_server, second_phases = connect(config, runner, ctx, session=first.session)
    assert first_phases == 1 and not first_server.handshake.resumed
    if disable:
        assert not second.session_reused and not second_server.handshake.resumed
        assert second_phases == 1  # a full handshake: the certificate phase runs again
    else:
        assert second.session_reused and second_server.handshake.resumed
        assert second_phases == 0  # nginx runs no certificate phase on resumption
        assert second_server.handshake.peer_certificates is None
