"""ConnectionPairMachine: a hypothesis state machine over a client and a server joined in memory.

Rules move bytes (partially, coalesced, all at once), send data, update
keys, close, abort and resume; invariants say what must hold after every
step. Users subclass it to add their own rules and invariants::

    from hypothesis.stateful import rule
    from purekong.testing import ConnectionPairMachine

    class MyMachine(ConnectionPairMachine):
        @rule()
        def ping(self):
            if self.pair.client.can_send():
                self.send_from("client", b"PING")

    TestMyMachine = MyMachine.TestCase
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from purekong.engine import AlertDescription, ClientConfig, ServerConfig

from ._hello_strategies import config_pairs
from ._message_strategies import deliveries
from ._pair import ConnectionPair, Delivery, PairEndpoint, PurekongEndpoint, StdlibEndpoint, release, remove_file

SIDES = st.sampled_from(["client", "server"])
DIRECTIONS = st.sampled_from(["to_server", "to_client"])
#: Bytes that may be in flight beyond what the application sent: handshake
#: flights (certificate chains, tickets) and per-record overhead.
FLIGHT_SLACK = 64 * 1024


class ConnectionPairMachine(RuleBasedStateMachine):
    """A client and a server; which ones is set by ``peer``.

    - ``"purekong"``: purekong client and purekong server;
    - ``"stdlib-server"``: purekong client, stdlib ``ssl`` server (OpenSSL);
    - ``"stdlib-client"``: stdlib ``ssl`` client, purekong server.

    Invariants: an endpoint fails only with a documented protocol error
    (``RemoteProtocolError`` carrying an alert, or ``ssl.SSLError`` for the
    stdlib), and only after an ``abort``; every byte sent arrives once and
    in order, and all of it once nothing is in flight; both sides derived
    the same secrets and exporter secret; bytes in flight stay bounded.
    """

    peer: ClassVar[str] = "purekong"

    def __init__(self) -> None:
        super().__init__()
        self.pair: ConnectionPair | None = None
        self.sent = {"client": bytearray(), "server": bytearray()}
        self.aborted = False
        self.resumptions = 0
        self.server_config: ServerConfig | None = None
        self.client_config: ClientConfig | None = None

    # -- building the pair ----------------------------------------------------
    def make_pair(self, server_config: ServerConfig, client_config: ClientConfig, session: Any = None) -> ConnectionPair:
        """The endpoints for ``peer``; override to join other implementations."""
        if self.peer == "purekong":
            return ConnectionPair(PurekongEndpoint.client(client_config, session=session), PurekongEndpoint.server(server_config))
        if self.peer == "stdlib-server":
            if "TLSv1.2" in client_config.versions and "secp256r1" not in client_config.groups:
                # The stdlib server has the kit's P-256 certificate: in TLS 1.2
                # the client's groups must name its curve (RFC 8422 §5.1).
                client_config = replace(client_config, groups=client_config.groups + ("secp256r1",))
            return ConnectionPair(PurekongEndpoint.client(client_config, session=session),
                                  StdlibEndpoint.server(versions=client_config.versions))
        if self.peer == "stdlib-client":
            # A stdlib session can only be resumed through the context that made it.
            context = self.__dict__.get("_client_context") if session is not None else None
            client = StdlibEndpoint.client(versions=server_config.versions, session=session, context=context)
            self.__dict__["_client_context"] = client.context
            return ConnectionPair(client, PurekongEndpoint.server(server_config))
        raise ValueError(f"peer must be 'purekong', 'stdlib-server' or 'stdlib-client', not {self.peer!r}")

    @initialize(configs=config_pairs(), handshake=st.none() | deliveries(max_chunks=6))
    def start(self, configs: tuple[ServerConfig, ClientConfig], handshake: Delivery | None) -> None:
        """Build the pair; often run the handshake at once, its flights cut as ``handshake`` says."""
        self.server_config, self.client_config = configs
        note(f"server config: {self.server_config}\nclient config: {self.client_config}")
        self.pair = self.make_pair(*configs)
        if handshake is not None:
            self.pair.pump(delivery=handshake)

    def endpoint(self, side: str) -> PairEndpoint:
        assert self.pair is not None
        return self.pair.endpoint(side)

    def send_from(self, side: str, data: bytes) -> None:
        """Send application data from ``side`` (for subclasses' rules); the invariants track it."""
        self.endpoint(side).send(data)
        self.sent[side] += data

    # -- rules ----------------------------------------------------------------
    @rule(direction=DIRECTIONS, size=st.integers(1, 600))
    def deliver_some(self, direction: str, size: int) -> None:
        """Deliver a prefix of the bytes in flight: records arrive cut anywhere."""
        assert self.pair is not None
        self.pair.deliver(direction, size)

    @rule()
    def deliver_all(self) -> None:
        """Deliver everything both ways until quiet: flights arrive coalesced."""
        assert self.pair is not None
        self.pair.pump()

    @rule(side=SIDES, data=st.binary(min_size=1, max_size=3000))
    def send(self, side: str, data: bytes) -> None:
        if self.endpoint(side).can_send():
            self.send_from(side, data)

    @rule(side=SIDES)
    def key_update(self, side: str) -> None:
        endpoint = self.endpoint(side)
        if isinstance(endpoint, PurekongEndpoint) and endpoint.can_send() and endpoint.version == "TLSv1.3":
            endpoint.key_update()

    @rule(side=SIDES)
    def close(self, side: str) -> None:
        endpoint = self.endpoint(side)
        if endpoint.established and not (endpoint.closed or endpoint.failed):
            endpoint.close()

    @rule(side=SIDES)
    def abort(self, side: str) -> None:
        endpoint = self.endpoint(side)
        if isinstance(endpoint, PurekongEndpoint) and not endpoint.failed:
            endpoint.abort()
            self.aborted = True

    @precondition(lambda self: self.pair is not None and not self.aborted and self.pair.client.established and self.pair.server.established)
    @rule()
    def resume(self) -> None:
        """A new connection resuming this one's session: resumed, and no certificate chain on either side."""
        assert self.pair is not None and self.server_config is not None and self.client_config is not None
        self.pair.pump()  # TLS 1.3 tickets arrive after the handshake
        old = self.pair
        session = _session(old.client)
        if session is None or self.peer == "stdlib-server":
            return  # nothing to resume with (the stdlib server keeps no purekong session)
        self._retire(old)
        self.pair = self.make_pair(self.server_config, self.client_config, session)
        self.sent = {"client": bytearray(), "server": bytearray()}
        self.pair.pump()
        self.resumptions += 1
        for endpoint in (self.pair.client, self.pair.server):
            assert endpoint.established, f"resumption failed: {endpoint.name}: {endpoint.failure}"
            if isinstance(endpoint, PurekongEndpoint) and self.server_config.session_resumption:
                assert endpoint.handshake is not None and endpoint.handshake.resumed, f"{endpoint.name} did a full handshake"
                assert endpoint.handshake.peer_certificates is None, f"{endpoint.name} exposes a chain on a resumed connection"

    # -- invariants -----------------------------------------------------------
    @invariant()
    def fails_only_after_abort(self) -> None:
        if self.pair is None:
            return
        for endpoint in (self.pair.client, self.pair.server):
            if endpoint.failed and not self.aborted:
                raise AssertionError(f"{endpoint.name} failed without cause: {endpoint.failure}")
            if endpoint.peer_alerts and not self.aborted:
                raise AssertionError(f"{endpoint.name} received alerts {endpoint.peer_alerts} without an abort")
            if self.aborted and endpoint.peer_alerts:
                assert endpoint.peer_alerts == [AlertDescription.internal_error], endpoint.peer_alerts

    @invariant()
    def bytes_arrive_once_in_order(self) -> None:
        if self.pair is None:
            return
        for side, other in (("client", "server"), ("server", "client")):
            received = bytes(self.endpoint(other).received)
            sent = bytes(self.sent[side])
            assert sent.startswith(received), f"{other} received bytes {side} did not send, or out of order"
            flights_empty = not any(self.pair.in_flight.values())
            if flights_empty and not self.aborted and not self.pair.failed and self.endpoint(other).established:
                self.pair.collect()
                if not any(self.pair.in_flight.values()):
                    assert received == sent, f"{len(sent) - len(received)} bytes from {side} never arrived"

    @invariant()
    def secrets_agree(self) -> None:
        if self.pair is None or self.pair.failed:
            return
        client, server = self.pair.client.secrets, self.pair.server.secrets
        for label in client.keys() & server.keys():
            if label.endswith("_N"):
                continue
            assert client[label] == server[label], f"{label} differs between client and server"
        if self.pair.client.established and self.pair.server.established and "CLIENT_TRAFFIC_SECRET_0" in client:
            # TLS 1.3: both sides have the exporter secret (the loop compared them).
            assert "EXPORTER_SECRET" in client and "EXPORTER_SECRET" in server

    @invariant()
    def flights_bounded(self) -> None:
        if self.pair is None:
            return
        for direction, side in (("to_server", "client"), ("to_client", "server")):
            bound = 2 * len(self.sent[side]) + FLIGHT_SLACK
            assert len(self.pair.in_flight[direction]) <= bound, f"{len(self.pair.in_flight[direction])} bytes in flight {direction}"

    def teardown(self) -> None:
        if self.pair is not None:
            self._retire(self.pair)
        context = self.__dict__.get("_client_context")
        if context is not None and context.keylog_filename:
            remove_file(context.keylog_filename)

    def _retire(self, pair: ConnectionPair) -> None:
        release(pair.client)
        release(pair.server)


def _session(client: PairEndpoint) -> Any:
    if isinstance(client, PurekongEndpoint):
        return getattr(client.connection, "session", None)
    if isinstance(client, StdlibEndpoint):
        return client.object.session
    return None
