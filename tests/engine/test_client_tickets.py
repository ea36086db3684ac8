"""A purekong TLS 1.2 client and session tickets (RFC 5077).

- A server may decline the client's ticket and run a full handshake; the
  client must go along (RFC 5077 §3.4). tlslite resumed whenever it held a
  ticket and failed with unexpected_message ('Expecting new_session_ticket,
  got certificate'). The client now tells acceptance by the session ID the
  server echoes, and sends a fresh one with every ticket.
- ``ClientConfig(session_tickets=False)``: no session_ticket extension, and
  resumption by session ID only.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import time

import pytest

from purekong.engine import ClientConnection, ConnectionClosed, HandshakeComplete, ProtocolError

from _engine_helpers import HOST, PK, Hello, Std, pk_client, pk_client_config, pump, std_server_context

SESSION_TICKET = 35


def _std_server(pki, *, tickets: bool = True) -> Std:
    ctx = std_server_context(pki, "ec", "1.2")
    if not tickets:
        ctx.options |= ssl.OP_NO_TICKET
    return Std(ctx, server_side=True)


def _first_session(pki, config, server: Std):
    client = pk_client(config)
    pump(client, server)
    assert client.handshake is not None and not client.handshake.resumed
    return client.conn.session


def test_a_declined_ticket_means_a_full_handshake_with_openssl(pki):
    config = pk_client_config(pki, "1.2")
    ticket_server = _std_server(pki)
    session = _first_session(pki, config, ticket_server)
    declining = _std_server(pki, tickets=False)  # another context: it cannot read the ticket, and does not try
    client = pk_client(config, session=session)
    first_flight = client.out()
    offered = Hello.parse(first_flight)
    assert offered.ext(SESSION_TICKET), "the client did not offer its ticket"
    assert len(offered.session_id) == 32, "a ticket goes with a session ID (RFC 5077 §3.4)"
    declining.feed(first_flight)
    pump(client, declining)
    assert client.error is None and client.handshake is not None, client.events
    assert not client.handshake.resumed and declining.handshake_done and not declining.obj.session_reused
    client.send(b"ping")
    pump(client, declining)
    assert bytes(declining.received) == b"ping"


def test_an_accepted_ticket_still_resumes(pki):
    config = pk_client_config(pki, "1.2")
    server_context = std_server_context(pki, "ec", "1.2")
    session = _first_session(pki, config, Std(server_context, server_side=True))
    client, server = pk_client(config, session=session), Std(server_context, server_side=True)
    pump(client, server)
    assert client.handshake is not None and client.handshake.resumed and server.obj.session_reused


def test_session_tickets_off_offers_no_ticket_and_resumes_by_session_id(pki):
    config = pk_client_config(pki, "1.2", session_tickets=False)
    assert Hello.parse(ClientConnection(config, HOST).data_to_send()).ext(SESSION_TICKET) is None
    server_context = std_server_context(pki, "ec", "1.2")
    first_server = Std(server_context, server_side=True)
    session = _first_session(pki, config, first_server)
    client, server = pk_client(config, session=session), Std(server_context, server_side=True)
    pump(client, server)
    assert client.handshake is not None and client.handshake.resumed and server.obj.session_reused


def test_session_tickets_off_keeps_no_ticket_of_an_earlier_session(pki):
    """A session that holds a ticket (made with tickets on) is offered without it."""
    server_context = std_server_context(pki, "ec", "1.2")
    session = _first_session(pki, pk_client_config(pki, "1.2"), Std(server_context, server_side=True))
    hello = Hello.parse(ClientConnection(pk_client_config(pki, "1.2", session_tickets=False), HOST, session=session).data_to_send())
    assert hello.ext(SESSION_TICKET) is None


# -- against openssl s_server over real sockets ---------------------------------------------
needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")


class _SServer:
    """``openssl s_server`` on a free local port, one TLS 1.2 handshake at a time."""

    def __init__(self, pki, tmp_path, *extra: str) -> None:
        intermediate = tmp_path / "server_inter.pem"
        intermediate.write_text(pki.server_inter.pem)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.proc = subprocess.Popen(
            ["openssl", "s_server", "-accept", str(self.port), "-tls1_2", "-cert", pki.files["ec_chain"],
             "-key", pki.files["ec_key"], "-cert_chain", str(intermediate), "-naccept", "2", *extra],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()  # uses up one accept
                return
            except OSError:
                time.sleep(0.05)
        self.close()
        raise AssertionError("openssl s_server did not start")

    def close(self) -> str:
        self.proc.kill()
        output, _ = self.proc.communicate(timeout=10)
        return output.decode(errors="replace")


def _handshake_over_tcp(client: PK, port: int) -> bytes:
    """Run the client's handshake over TCP; returns its ClientHello flight."""
    hello = client.out()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(hello)
        while client.handshake is None and client.error is None:
            out = client.out()
            if out:
                sock.sendall(out)
            data = sock.recv(65536)
            try:
                client.feed(data)
                client.step()
            except ProtocolError as exc:
                client.error = exc
                sock.sendall(client.out())
            if not data or any(isinstance(e, ConnectionClosed) for e in client.events):
                break
        sock.sendall(client.out())
    return hello


@needs_openssl
def test_openssl_s_server_without_tickets_after_a_ticket_issuing_one(pki, tmp_path):
    config = pk_client_config(pki, "1.2")
    issuing = _SServer(pki, tmp_path)
    try:
        first = pk_client(config)
        _handshake_over_tcp(first, issuing.port)
        assert first.handshake is not None and not first.handshake.resumed, (first.error, first.events)
    finally:
        issuing_output = issuing.close()
    session = first.conn.session
    assert session is not None
    declining = _SServer(pki, tmp_path, "-no_ticket")
    try:
        second = pk_client(config, session=session)
        offered = Hello.parse(_handshake_over_tcp(second, declining.port))
    finally:
        declining.close()
    assert offered.ext(SESSION_TICKET), "the client offered no ticket: nothing is tested"
    assert second.error is None, second.error
    assert isinstance(second.handshake, HandshakeComplete) and not second.handshake.resumed, issuing_output
