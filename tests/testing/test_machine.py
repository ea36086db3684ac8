"""ConnectionPairMachine over purekong/purekong, purekong/stdlib-server and stdlib-client/purekong.

The machine's invariants are the properties; these run them under the ci
profile, and check that a user's subclass adds rules and that a broken
endpoint is caught.
"""

from __future__ import annotations

import pytest
from hypothesis import Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, rule, run_state_machine_as_test

from purekong.testing import ConnectionPairMachine
from purekong.testing._pair import purekong_pair
from purekong.testing.strategies import config_pairs

STEPS = settings(stateful_step_count=25)


class PurekongPair(ConnectionPairMachine):
    peer = "purekong"


class PurekongClientStdlibServer(ConnectionPairMachine):
    peer = "stdlib-server"


class StdlibClientPurekongServer(ConnectionPairMachine):
    peer = "stdlib-client"


TestPurekongPair = PurekongPair.TestCase
TestPurekongPair.settings = STEPS
TestPurekongClientStdlibServer = PurekongClientStdlibServer.TestCase
TestPurekongClientStdlibServer.settings = settings(STEPS, max_examples=25)
TestStdlibClientPurekongServer = StdlibClientPurekongServer.TestCase
TestStdlibClientPurekongServer.settings = settings(STEPS, max_examples=25)


class PingMachine(ConnectionPairMachine):
    """What a user writes: one more rule on top of the kit's."""

    pings = 0

    @rule()
    def ping(self):
        PingMachine.pings += 1
        if self.pair.client.can_send():
            self.send_from("client", b"PING")  # the invariants then track these bytes too


def test_a_subclass_adds_rules():
    run_state_machine_as_test(PingMachine, settings=settings(max_examples=30, stateful_step_count=20))
    assert PingMachine.pings > 0


class DuplicatingMachine(ConnectionPairMachine):
    """A planted fault: the server hands the application every chunk twice.

    Its ``start`` finishes the handshake and sends one chunk, so the fault is
    reached in every example (a generated run need not send data at all):
    the kit's invariant must then catch it, every time, within the ci budget.
    """

    @initialize(configs=config_pairs(), handshake=st.none())
    def start(self, configs, handshake):
        super().start(configs, handshake)
        self.pair.pump()
        if self.pair.client.can_send():
            self.send_from("client", b"data that must arrive once")
            self.pair.pump()

    def make_pair(self, server_config, client_config, session=None):
        pair = super().make_pair(server_config, client_config, session)
        server = pair.server
        receive = server.receive

        def doubled(data):
            before = len(server.received)
            receive(data)
            server.received += server.received[before:]

        server.receive = doubled
        return pair


def test_duplicated_bytes_are_caught():
    with pytest.raises(AssertionError, match="received bytes client did not send, or out of order"):
        run_state_machine_as_test(DuplicatingMachine, settings=settings(max_examples=100, stateful_step_count=30, database=None, phases=[Phase.generate]))


def test_unknown_peer_is_refused():
    class Odd(ConnectionPairMachine):
        peer = "gnutls"

    with pytest.raises(ValueError, match="peer must be 'purekong', 'stdlib-server' or 'stdlib-client', not 'gnutls'"):
        run_state_machine_as_test(Odd, settings=settings(max_examples=1, database=None, phases=[Phase.generate]))


def test_resumed_connection_exposes_no_chain():
    first = purekong_pair().handshake()
    first.pump()
    again = purekong_pair(first.server.connection.config, first.client.connection.config, session=first.client.connection.session).handshake()
    assert again.server.handshake.resumed and again.client.handshake.resumed
    assert again.client.handshake.peer_certificates is None and again.server.handshake.peer_certificates is None
