"""What the application stores with a session comes back on resumption
(issue 10, defect 10, engine side): in TLS 1.3 tickets, TLS 1.2 tickets and
the TLS 1.2 session cache, encrypted and authenticated with the ticket."""

from __future__ import annotations

import pytest

from purekong.engine import ServerConfig

from _engine_helpers import HOST, PK, Std, pump, records, server, std_client_context

SECRET = b"FAILED:unable to get local issuer certificate"


def remember(chain):
    assert chain is None or all(isinstance(der, bytes) for der in chain)
    return SECRET if chain else b"NONE"


def connect(pki, config, ctx, session=None, wire: list | None = None):
    srv = server(config, request_client_certificate=True, session_data=remember)
    cli = Std(ctx, server_side=False, server_hostname=HOST, session=session)

    def tap(data: bytes) -> list[bytes]:  # every byte on the wire, both ways
        if wire is not None:
            wire.append(data)
        return [data]

    pump(cli, srv, chunker=tap)
    cli.send(b"x")  # a TLS 1.3 client takes its tickets while reading
    pump(cli, srv)
    return cli, srv


@pytest.mark.parametrize("version,tickets", [("1.3", True), ("1.2", True), ("1.2", False)], ids=["tls13-ticket", "tls12-ticket", "tls12-cache"])
def test_session_data_comes_back_on_resumption(pki, version, tickets):
    config = ServerConfig(certificates=(pki.server_key("ec"),))
    ctx = std_client_context(pki, version, client_cert=True, tickets=tickets)
    wire: list[bytes] = []
    first_cli, first = connect(pki, config, ctx, wire=wire)
    assert first.handshake.peer_certificates and first.handshake.session_data == SECRET
    assert SECRET not in b"".join(wire)  # the ticket is encrypted
    second_cli, second = connect(pki, config, ctx, session=first_cli.obj.session)
    assert second.handshake.resumed and second_cli.obj.session_reused
    assert second.handshake.peer_certificates is None  # the chain stays unavailable, as in nginx
    assert second.handshake.session_data == SECRET


def test_session_data_without_a_client_certificate(pki):
    config = ServerConfig(certificates=(pki.server_key("ec"),))
    ctx = std_client_context(pki, "1.3")
    first_cli, first = connect(pki, config, ctx)
    assert first.handshake.session_data == b"NONE"
    _, second = connect(pki, config, ctx, session=first_cli.obj.session)
    assert second.handshake.resumed and second.handshake.session_data == b"NONE"


def test_no_session_data_unless_asked(pki):
    config = ServerConfig(certificates=(pki.server_key("ec"),))
    ctx = std_client_context(pki, "1.3", client_cert=True)
    cli = Std(ctx, server_side=False, server_hostname=HOST)
    srv = server(config, request_client_certificate=True)
    pump(cli, srv)
    assert srv.handshake.session_data is None


def test_a_tampered_ticket_is_not_resumed(pki):
    """The data rides inside the AEAD-protected ticket: change one byte of the
    ticket and it is refused (full handshake), not resumed with other data."""
    from _engine_helpers import Hello

    config = ServerConfig(certificates=(pki.server_key("ec"),))
    ctx = std_client_context(pki, "1.3", client_cert=True)
    first_cli, _ = connect(pki, config, ctx)
    cli = Std(ctx, server_side=False, server_hostname=HOST, session=first_cli.obj.session)
    cli.step()
    hello = Hello.parse(cli.out())
    psk = bytearray(hello.ext(41))
    psk[10] ^= 1  # inside the first identity (the ticket)
    hello.set_ext(41, bytes(psk))
    srv = PK(server(config).conn, request_client_certificate=True, session_data=remember)
    srv.feed(hello.record())
    srv.step()
    assert not srv.hellos[0].resumes_session
    assert records(srv.out())[0][0] == 22


def test_tickets_issued_on_a_resumed_tls13_connection_carry_the_data_on(pki):
    """A TLS 1.3 server sends new tickets after a resumption too: they keep the
    original data (the chain is no longer known there)."""
    config = ServerConfig(certificates=(pki.server_key("ec"),))
    ctx = std_client_context(pki, "1.3", client_cert=True)
    cli, _ = connect(pki, config, ctx)
    for _ in range(2):
        cli, srv = connect(pki, config, ctx, session=cli.obj.session)
        assert srv.handshake.resumed and srv.handshake.session_data == SECRET
