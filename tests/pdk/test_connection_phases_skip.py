"""ConnectionPhases builds nothing for a phase no plugin implements: the
handshake it leads to must be the one a do-nothing plugin in those phases
leads to (same proceed() arguments, same session data, same TLSInfo)."""

from __future__ import annotations

import pytest

from purekong.engine import ClientConfig, ClientConnection, ServerConfig, ServerConnection
from purekong.runner import ConnectionPhases, NativePlugin, Runner, configure, plugin_from_class
from purekong.testing import handshake_in_memory
from purekong.testing._harness import _throwaway_server_certificate

CALLS: list[str] = []


class Quiet(NativePlugin):
    """In both connection phases, asking nothing of the handshake."""

    name = "quiet"

    def client_hello(self, kong):
        CALLS.append("client_hello")

    def certificate(self, kong):
        CALLS.append("certificate")


def _handshake(runner: Runner, versions: tuple[str, ...]):
    server = ServerConnection(ServerConfig(certificates=(_throwaway_server_certificate(),), alpn_protocols=("h2", "http/1.1")))
    client = ClientConnection(ClientConfig(verify_server=False, versions=versions, alpn_protocols=("h2", "http/1.1")), "localhost")
    asked = []
    proceed = server.proceed

    def recording_proceed(**kwargs):
        asked.append(kwargs)
        proceed(**kwargs)

    server.proceed = recording_proceed  # type: ignore[method-assign]
    phases = ConnectionPhases(runner)
    result = handshake_in_memory(client, server, on_client_hello=phases.on_client_hello)
    assert result.completed
    (kwargs,) = asked
    session_data = kwargs.pop("session_data")
    return kwargs, session_data(None), phases.tls_info(result.server_handshake)


@pytest.mark.parametrize("versions", [("TLSv1.3",), ("TLSv1.2",)])
def test_no_plugin_gives_the_handshake_a_do_nothing_plugin_gives(versions):
    CALLS.clear()
    with_plugin = _handshake(Runner([configure(plugin_from_class(Quiet))]), versions)
    assert CALLS == ["client_hello", "certificate"]
    CALLS.clear()
    without = _handshake(Runner([]), versions)
    assert CALLS == []
    assert with_plugin == without
    assert without[0]["alpn_protocols"] == ("h2", "http/1.1") and without[0]["session_reuse"] is True
    assert without[1] == b"NONE" and without[2].client_verify == "NONE"


def test_a_route_plugin_does_not_make_the_phases_run():
    CALLS.clear()
    _handshake(Runner([configure(plugin_from_class(Quiet), scope="route")]), ("TLSv1.3",))
    assert CALLS == []  # connection phases run global plugins only, as in Kong
