"""The engine's state table (purekong/engine/_state.py), walked on real connections.

Every (state, input) cell of ``TRANSITIONS`` and every (state, call) cell of
``ALLOWED`` is driven on a real ServerConnection or ClientConnection joined
in memory to a real peer, and a hypothesis test drives random call
sequences on both ends while checking that each connection's state is what
the table predicts from what the calls returned. ``close()`` before tlslite
runs is checked against ``openssl s_client``.
"""

from __future__ import annotations

import datetime
import functools
import shutil
import socket
import subprocess
import threading
from typing import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from purekong.engine import (
    NEED_DATA,
    PAUSED,
    AlertLevel,
    AlertReceived,
    CertifiedKey,
    ClientConfig,
    ClientConnection,
    ClientHelloReceived,
    ConnectionClosed,
    HandshakeComplete,
    LocalProtocolError,
    RemoteProtocolError,
    ServerConfig,
    ServerConnection,
    State,
)
from purekong.engine._state import ALLOWED, ENDED, REFUSED_AFTER_CLOSE, TRANSITIONS, Input

OPENSSL = shutil.which("openssl")
CLOSE_NOTIFY_RECORD = bytes.fromhex("15030300020100")  # plaintext, record version 0x0303


@functools.lru_cache(maxsize=None)
def server_config() -> ServerConfig:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256())
    )
    return ServerConfig(certificates=(CertifiedKey((cert,), key),))


class Pair:
    """A purekong server and client joined in memory."""

    def __init__(self, version: str = "TLSv1.3") -> None:
        self.server = ServerConnection(server_config())
        self.client = ClientConnection(ClientConfig(verify_server=False, versions=(version,)), "localhost")

    def to_server(self) -> None:
        data = self.client.data_to_send()
        if data:
            self.server.receive_data(data)

    def to_client(self) -> None:
        data = self.server.data_to_send()
        if data:
            self.client.receive_data(data)

    def drain(self, conn: ServerConnection | ClientConnection) -> list[object]:
        events = []
        while (event := conn.next_event()) not in (NEED_DATA, PAUSED):
            events.append(event)
        return events

    def handshake(self) -> None:
        for _ in range(20):
            self.to_server()
            for event in self.drain(self.server):
                if isinstance(event, ClientHelloReceived):
                    self.server.proceed()
            self.to_client()
            self.drain(self.client)
            if self.server.state is State.ESTABLISHED and self.client.state is State.ESTABLISHED:
                return
        raise AssertionError("the handshake did not finish")


# ---------------------------------------------------------------------------
# Reaching each state
# ---------------------------------------------------------------------------

def server_at(state: State) -> Pair:
    pair = Pair()
    if state is State.ERROR:
        pair.server.abort()
    if state in (State.AWAIT_PROCEED, State.HANDSHAKING):
        pair.to_server()
        assert isinstance(pair.server.next_event(), ClientHelloReceived)
    if state is State.HANDSHAKING:
        pair.server.proceed()
    if state in (State.ESTABLISHED, State.CLOSED):
        pair.handshake()
    if state is State.CLOSED:
        pair.client.close()
        pair.to_server()
        assert pair.drain(pair.server) == [ConnectionClosed(clean=True)]
    assert pair.server.state is state
    return pair


def client_at(state: State) -> Pair:
    pair = Pair()
    if state is State.ERROR:
        pair.client.abort()
    if state in (State.ESTABLISHED, State.CLOSED):
        pair.handshake()
    if state is State.CLOSED:
        pair.server.close()
        pair.to_client()
        assert ConnectionClosed(clean=True) in pair.drain(pair.client)
    assert pair.client.state is state
    return pair


CLIENT_STATES = (State.HANDSHAKING, State.ESTABLISHED, State.CLOSED, State.ERROR)


# ---------------------------------------------------------------------------
# Every cell of TRANSITIONS
# ---------------------------------------------------------------------------

def _fails(call: Callable[[], object]) -> None:
    with pytest.raises(RemoteProtocolError):
        call()


def _fed(conn, data: bytes) -> Callable[[], object]:
    def step() -> object:
        conn.receive_data(data)
        return conn.next_event()
    return step


def _closed_by_peer(pair: Pair, conn) -> None:
    conn.receive_data(b"")
    assert pair.drain(conn)[-1] == ConnectionClosed(clean=False)


FORGED_RECORD = b"\x17\x03\x03\x00\x20" + bytes(32)  # application data no key opens

#: (role, state, input) -> what makes that input happen.
RECIPES: dict[tuple[str, State, Input], Callable[[Pair], None]] = {
    ("server", State.EXPECT_CLIENT_HELLO, Input.CLIENT_HELLO): lambda p: (p.to_server(), p.server.next_event()),
    # A record header that is no handshake: tlslite reads it, and waits for the rest.
    ("server", State.EXPECT_CLIENT_HELLO, Input.TLSLITE_READS_HELLO): lambda p: _fed(p.server, b"\x17\x03\x03\x00\x10\x00")(),
    ("server", State.EXPECT_CLIENT_HELLO, Input.CLOSE): lambda p: p.server.close(),
    ("server", State.EXPECT_CLIENT_HELLO, Input.FATAL_ALERT_SENT): lambda p: _fails(_fed(p.server, b"\x16\x03\x03\x00\x04\x02\x00\x00\x00")),
    ("server", State.AWAIT_PROCEED, Input.PROCEED): lambda p: p.server.proceed(),
    ("server", State.AWAIT_PROCEED, Input.CLOSE): lambda p: p.server.close(),
    ("server", State.AWAIT_PROCEED, Input.FATAL_ALERT_SENT): lambda p: p.server.abort(),
    ("server", State.HANDSHAKING, Input.HANDSHAKE_DONE): lambda p: p.handshake(),
    ("server", State.HANDSHAKING, Input.PEER_CLOSED): lambda p: _closed_by_peer(p, p.server),
    ("server", State.HANDSHAKING, Input.CLOSE): lambda p: p.server.close(),
    ("server", State.HANDSHAKING, Input.FATAL_ALERT_SENT): lambda p: _fails(_fed(p.server, b"\xff" * 10)),
    ("server", State.ESTABLISHED, Input.PEER_CLOSED): lambda p: (p.client.close(), p.to_server(), p.drain(p.server)),
    ("server", State.ESTABLISHED, Input.CLOSE): lambda p: p.server.close(),
    ("server", State.ESTABLISHED, Input.FATAL_ALERT_SENT): lambda p: _fails(_fed(p.server, FORGED_RECORD)),
    ("client", State.HANDSHAKING, Input.HANDSHAKE_DONE): lambda p: p.handshake(),
    ("client", State.HANDSHAKING, Input.PEER_CLOSED): lambda p: _closed_by_peer(p, p.client),
    ("client", State.HANDSHAKING, Input.CLOSE): lambda p: p.client.close(),
    ("client", State.HANDSHAKING, Input.FATAL_ALERT_SENT): lambda p: _fails(_fed(p.client, b"\xff" * 10)),
    ("client", State.ESTABLISHED, Input.PEER_CLOSED): lambda p: (p.server.close(), p.to_client(), p.drain(p.client)),
    ("client", State.ESTABLISHED, Input.CLOSE): lambda p: p.client.close(),
    ("client", State.ESTABLISHED, Input.FATAL_ALERT_SENT): lambda p: p.client.abort(),
}


def test_every_cell_of_the_table_has_a_recipe():
    cells = {(state, event) for state, row in TRANSITIONS.items() for event in row}
    assert {(state, event) for _, state, event in RECIPES} == cells
    client_cells = {(s, e) for s, e in cells if s in CLIENT_STATES}
    assert {(s, e) for role, s, e in RECIPES if role == "client"} == client_cells


@pytest.mark.parametrize("role,state,event", list(RECIPES), ids=lambda v: getattr(v, "name", v))
def test_each_transition_happens_as_the_table_says(role, state, event):
    pair = server_at(state) if role == "server" else client_at(state)
    RECIPES[(role, state, event)](pair)
    conn = pair.server if role == "server" else pair.client
    assert conn.state is TRANSITIONS[state][event]


# ---------------------------------------------------------------------------
# Every cell of ALLOWED
# ---------------------------------------------------------------------------

CALLS: dict[str, Callable[[ServerConnection | ClientConnection], object]] = {
    "receive_data": lambda c: c.receive_data(b""),
    "next_event": lambda c: c.next_event(),
    "data_to_send": lambda c: c.data_to_send(),
    "send_data": lambda c: c.send_data(b"x"),
    "key_update": lambda c: c.key_update(),
    "close": lambda c: c.close(),
    "abort": lambda c: c.abort(),
    "proceed": lambda c: c.proceed(),
}


def test_the_calls_are_the_public_api():
    assert set(CALLS) == set().union(*ALLOWED.values())
    public = {name for name in dir(ServerConnection) if not name.startswith("_") and callable(getattr(ServerConnection, name))}
    assert public == set(CALLS)


CALL_CELLS = [("server", s, c) for s in State for c in CALLS] + [("client", s, c) for s in CLIENT_STATES for c in CALLS if c != "proceed"]


@pytest.mark.parametrize("role,state,call", CALL_CELLS, ids=lambda v: getattr(v, "name", v))
def test_each_call_is_allowed_exactly_where_the_table_says(role, state, call):
    pair = server_at(state) if role == "server" else client_at(state)
    conn = pair.server if role == "server" else pair.client
    if call in ALLOWED[state]:
        try:
            CALLS[call](conn)
        except RemoteProtocolError:
            pass  # the peer's doing; never the application's
    else:
        with pytest.raises(LocalProtocolError) as raised:
            CALLS[call](conn)
        assert f"{call}()" in str(raised.value) and state.name in str(raised.value)
        assert conn.state is state  # and nothing changed


@pytest.mark.parametrize("role", ["server", "client"])
def test_after_close_sending_is_refused_but_reading_goes_on(role):
    pair = server_at(State.ESTABLISHED)
    conn, peer = (pair.server, pair.client) if role == "server" else (pair.client, pair.server)
    peer.send_data(b"still coming")
    conn.close()
    assert conn.state is State.ESTABLISHED
    for call in REFUSED_AFTER_CLOSE:
        with pytest.raises(LocalProtocolError, match="after close"):
            CALLS[call](conn)
    (pair.to_server if role == "server" else pair.to_client)()
    assert any(getattr(e, "data", None) == b"still coming" for e in pair.drain(conn))


@pytest.mark.parametrize("state", sorted(ENDED, key=lambda s: s.name))
def test_close_and_abort_do_nothing_once_ended(state):
    pair = server_at(state)
    pair.server.data_to_send()
    pair.server.close()
    pair.server.abort()
    assert pair.server.data_to_send() == b"" and pair.server.state is state


# ---------------------------------------------------------------------------
# Alerts before tlslite runs: always a well-formed plaintext record
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("state", [State.EXPECT_CLIENT_HELLO, State.AWAIT_PROCEED])
def test_close_before_tlslite_runs_sends_a_well_formed_close_notify(state):
    pair = server_at(state)
    pair.server.close()
    assert pair.server.data_to_send() == CLOSE_NOTIFY_RECORD
    assert pair.server.state is State.CLOSED


@pytest.mark.parametrize("state", [State.EXPECT_CLIENT_HELLO, State.AWAIT_PROCEED])
def test_abort_before_tlslite_runs_sends_a_well_formed_fatal_alert(state):
    pair = server_at(state)
    pair.server.abort()
    assert pair.server.data_to_send() == bytes.fromhex("1503030002") + bytes([2, 80])  # internal_error


@pytest.mark.skipif(OPENSSL is None, reason="needs the openssl binary")
@pytest.mark.parametrize("state", [State.EXPECT_CLIENT_HELLO, State.AWAIT_PROCEED])
def test_openssl_s_client_reads_close_before_tlslite_as_close_notify(state):
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    states = []

    def serve() -> None:
        sock, _ = listener.accept()
        with sock:
            sock.settimeout(10)
            conn = ServerConnection(server_config())
            if state is State.AWAIT_PROCEED:
                while not isinstance(conn.next_event(), ClientHelloReceived):
                    conn.receive_data(sock.recv(65536))
            conn.close()
            states.append(conn.state)
            sock.sendall(conn.data_to_send())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        result = subprocess.run(
            [OPENSSL, "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost", "-msg"],
            input=b"", capture_output=True, timeout=30,
        )
    finally:
        thread.join(timeout=10)
        listener.close()
    stdout, stderr = result.stdout.decode(), result.stderr.decode()
    assert states == [State.CLOSED]
    assert "wrong version number" not in stderr.lower()
    assert "<<< TLS 1.2, RecordHeader [length 0005]\n    15 03 03 00 02" in stdout
    assert "Alert [length 0002], warning close_notify" in stdout
    assert result.returncode == 0, stderr


# ---------------------------------------------------------------------------
# Random call sequences: the observable state is always the table's
# ---------------------------------------------------------------------------

class Model:
    """What the table predicts for one connection, from what its calls returned."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.closed_by_us = False
        #: A fatal AlertReceived was returned: the state is CLOSED already,
        #: and ConnectionClosed comes next.
        self.closing_event_due = False

    def apply(self, *events: Input) -> None:
        for event in events:
            assert event in TRANSITIONS[self.state], f"{event.name} cannot happen in {self.state.name}"
            self.state = TRANSITIONS[self.state][event]
            self.closed_by_us |= event is Input.CLOSE

    def peer_closed(self) -> None:
        if self.state is State.EXPECT_CLIENT_HELLO:  # no ClientHello first: tlslite read it
            self.apply(Input.TLSLITE_READS_HELLO)
        self.apply(Input.PEER_CLOSED)

    def allows(self, call: str) -> bool:
        return call in ALLOWED[self.state] and not (self.closed_by_us and call in REFUSED_AFTER_CLOSE)


def _observe(model: Model, conn, call: str) -> object:
    """Make ``call`` on ``conn`` and move the model by what came back."""
    allowed = model.allows(call)
    ended_before = model.state in ENDED or (call == "close" and model.closed_by_us)
    try:
        result = CALLS[call](conn)
    except LocalProtocolError as exc:
        tls12_key_update = call == "key_update" and conn.handshake is not None and conn.handshake.version != "TLSv1.3"
        assert not allowed or tls12_key_update, f"{call}() refused in {model.state.name}: {exc}"
        return exc
    except RemoteProtocolError as exc:
        assert allowed
        model.apply(Input.FATAL_ALERT_SENT)
        return exc
    assert allowed, f"{call}() was not refused in {model.state.name}"
    if call == "next_event":
        if model.closing_event_due:
            assert result == ConnectionClosed(clean=False)
            model.closing_event_due = False
        elif isinstance(result, AlertReceived) and result.level is AlertLevel.fatal:
            model.peer_closed()
            model.closing_event_due = True
        elif isinstance(result, ClientHelloReceived):
            model.apply(Input.CLIENT_HELLO)
        elif isinstance(result, HandshakeComplete):
            model.apply(Input.HANDSHAKE_DONE)
        elif isinstance(result, ConnectionClosed):
            model.peer_closed()
    elif call == "proceed":
        model.apply(Input.PROCEED)
    elif call == "close" and not ended_before:
        model.apply(Input.CLOSE)
    elif call == "abort" and not ended_before:
        model.apply(Input.FATAL_ALERT_SENT)
    return result


ACTIONS = [
    "server_eof", "client_eof",
    *(f"server:{call}" for call in CALLS),
    *(f"client:{call}" for call in CALLS if call != "proceed"),
]
# Deliveries (and "pump": both ways, proceeding at the pause, until quiet)
# more often, so that sequences get past the handshake.
WEIGHTED = ["to_server", "to_client", "server:proceed"] * 3 + ["pump"] * 4 + ACTIONS


@given(version=st.sampled_from(["TLSv1.3", "TLSv1.2"]), actions=st.lists(st.sampled_from(WEIGHTED), max_size=40))
def test_random_call_sequences_follow_the_table(version, actions):
    pair = Pair(version)
    models = {"server": Model(State.EXPECT_CLIENT_HELLO), "client": Model(State.HANDSHAKING)}
    conns = {"server": pair.server, "client": pair.client}

    def deliver(role: str) -> None:
        """Hand the peer's bytes to ``role``, then take events until it waits."""
        if not models[role].allows("receive_data"):
            (pair.client if role == "server" else pair.server).data_to_send()  # dropped on the floor
            return
        pair.to_server() if role == "server" else pair.to_client()
        for _ in range(10):
            if not models[role].allows("next_event") or _observe(models[role], conns[role], "next_event") in (NEED_DATA, PAUSED):
                return

    for action in actions:
        if action in ("to_server", "to_client"):
            deliver("server" if action == "to_server" else "client")
        elif action == "pump":
            for _ in range(6):
                deliver("server")
                if models["server"].state is State.AWAIT_PROCEED:
                    _observe(models["server"], pair.server, "proceed")
                deliver("client")
        elif action.endswith("_eof"):
            role = action.partition("_")[0]
            if models[role].allows("receive_data"):
                conns[role].receive_data(b"")
        else:
            role, _, call = action.partition(":")
            _observe(models[role], conns[role], call)
        for role in conns:
            assert conns[role].state is models[role].state, (action, role)


def test_state_changes_only_through_the_table():
    """No connection module assigns a state: they call StateMachine.move()."""
    import ast
    import pathlib

    import purekong.engine

    connection_classes = {"Connection", "ServerConnection", "ClientConnection"}
    for path in pathlib.Path(purekong.engine.__file__).parent.glob("_*.py"):
        for cls in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(cls, ast.ClassDef) and cls.name in connection_classes):
                continue
            for node in ast.walk(cls):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else []
                for target in targets:
                    assert not (isinstance(target, ast.Attribute) and target.attr in ("state", "_state", "closed_by_us")), (
                        f"{path.name}:{node.lineno} assigns .{target.attr}")
                    if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Attribute):
                        assert target.value.attr != "_machine", f"{path.name}:{node.lineno} assigns into the state machine"
