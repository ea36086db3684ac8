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


# -- against openssl s_server and gnutls-serv over real sockets -----------------------------


class _RealServer:
    """``openssl s_server`` or ``gnutls-serv`` (TLS 1.2 only) on a free local port."""

    def __init__(self, kind: str, pki, tmp_path, *, tickets: bool) -> None:
        chain = tmp_path / "server_chain.pem"
        intermediate = tmp_path / "server_inter.pem"
        chain.write_text(pki.rsa_leaf.pem + pki.server_inter.pem)
        intermediate.write_text(pki.server_inter.pem)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        if kind == "openssl":
            command = ["openssl", "s_server", "-accept", str(self.port), "-tls1_2", "-cert", pki.files["rsa_chain"],
                       "-key", pki.files["rsa_key"], "-cert_chain", str(intermediate)] + ([] if tickets else ["-no_ticket"])
        else:
            command = ["gnutls-serv", "-p", str(self.port), "--x509certfile", str(chain), "--x509keyfile", pki.files["rsa_key"],
                       "--priority", "NORMAL:-VERS-ALL:+VERS-TLS1.2"] + ([] if tickets else ["--noticket"])
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        self.close()
        raise AssertionError(f"{kind} did not start")

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


@pytest.mark.parametrize("kind", ["openssl", "gnutls"])
def test_a_real_server_without_tickets_after_a_ticket_issuing_one(pki, tmp_path, kind):
    """openssl s_server -no_ticket / gnutls-serv --noticket, offered the ticket of a ticket-issuing server."""
    if shutil.which("openssl" if kind == "openssl" else "gnutls-serv") is None:
        pytest.skip(f"{kind} is not installed")
    config = pk_client_config(pki, "1.2")
    issuing = _RealServer(kind, pki, tmp_path, tickets=True)
    try:
        first = pk_client(config)
        _handshake_over_tcp(first, issuing.port)
        assert first.handshake is not None and not first.handshake.resumed, (first.error, first.events)
    finally:
        issuing.close()
    session = first.conn.session
    assert session is not None
    declining = _RealServer(kind, pki, tmp_path, tickets=False)
    try:
        second = pk_client(config, session=session)
        offered = Hello.parse(_handshake_over_tcp(second, declining.port))
    finally:
        declining.close()
    assert offered.ext(SESSION_TICKET), "the client offered no ticket: nothing is tested"
    assert second.error is None, second.error
    assert isinstance(second.handshake, HandshakeComplete) and not second.handshake.resumed
