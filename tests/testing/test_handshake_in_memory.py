"""purekong.testing.handshake_in_memory: two endpoints joined in memory, real
handshakes (purekong on both sides, or an OpenSSL client), what happened on
each side reported back."""

from __future__ import annotations

import ssl

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from purekong._devpki import make_dev_pki
from purekong.engine import (
    AlertDescription,
    AlertReceived,
    CertifiedKey,
    ClientConfig,
    ClientConnection,
    ClientHelloReceived,
    ConnectionClosed,
    RemoteProtocolError,
    ServerConfig,
    ServerConnection,
)
from purekong.testing import OpenSSLClient, OpenSSLServer, handshake_in_memory


@pytest.fixture(scope="module")
def dev():
    return make_dev_pki(ca_days=2, days=1)


def server_for(dev, **kw) -> ServerConnection:
    return ServerConnection(ServerConfig(certificates=(CertifiedKey((dev.server, dev.ca), dev.server_key),), **kw))


@pytest.mark.parametrize("version", ["TLSv1.3", "TLSv1.2"])
def test_a_handshake_completes_and_every_byte_is_observed(dev, version):
    client = ClientConnection(ClientConfig(trusted_certificates=(dev.ca,), versions=(version,)), "localhost")
    server = server_for(dev)
    seen: dict[str, list[bytes]] = {"c2s": [], "s2c": []}
    result = handshake_in_memory(client, server, observe_client_to_server=seen["c2s"].append,
                                 observe_server_to_client=seen["s2c"].append)
    assert result.completed and result.error is None and not result.aborted
    assert result.server_handshake is server.handshake and result.client_handshake is client.handshake
    assert result.server_handshake.version == result.client_handshake.version == version
    hello = result.client_hellos
    assert len(hello) == 1 and hello[0].server_name == "localhost" and version in hello[0].versions
    # Every chunk is whole TLS records: the first is the client's handshake record.
    assert seen["c2s"][0][:1] == b"\x16" and all(seen.values())
    # Nothing is left in flight: a TLS 1.3 client has taken in the tickets.
    assert client.data_to_send() == server.data_to_send() == b""


def test_the_client_hello_hook_decides_the_handshake(dev):
    client = ClientConnection(ClientConfig(verify_server=False, certificate=CertifiedKey((dev.client, dev.ca), dev.client_key)),
                              "localhost")
    server = server_for(dev)
    calls = []

    def certificate_phase(conn: ServerConnection, event: ClientHelloReceived) -> None:
        calls.append(event.server_name)
        conn.proceed(request_client_certificate=True, client_ca_certificates=[dev.ca])

    result = handshake_in_memory(client, server, on_client_hello=certificate_phase)
    assert calls == ["localhost"] and result.completed
    assert result.server_handshake.peer_certificates[0] == dev.client.public_bytes(Encoding.DER)


def test_an_abort_at_the_client_hello_reaches_the_client_as_its_alert(dev):
    client = ClientConnection(ClientConfig(verify_server=False), "localhost")
    result = handshake_in_memory(client, server_for(dev),
                                 on_client_hello=lambda conn, event: conn.abort(AlertDescription.access_denied))
    assert result.aborted and not result.completed and result.server_handshake is None
    assert result.client_events[-2:] == (AlertReceived(level=2, description=AlertDescription.access_denied),
                                         ConnectionClosed(clean=False))


def test_a_hook_that_neither_proceeds_nor_aborts_stalls_without_looping(dev):
    result = handshake_in_memory(ClientConnection(ClientConfig(verify_server=False), "localhost"), server_for(dev),
                                 on_client_hello=lambda conn, event: None)
    assert not result.completed and result.error is None and not result.aborted
    assert result.flights == 2  # the ClientHello flight, then one that moved nothing


def test_a_failing_side_reports_its_error_and_the_peer_sees_the_alert(dev):
    stranger = make_dev_pki(ca_days=2, days=1).ca  # not the server's CA
    client = ClientConnection(ClientConfig(trusted_certificates=(stranger,)), "localhost")
    result = handshake_in_memory(client, server_for(dev))
    assert not result.completed and result.server_error is None
    assert isinstance(result.client_error, RemoteProtocolError) and result.error is result.client_error
    alert = result.client_error.alert
    assert alert is not None
    # purekong's client checks the server's chain once its handshake is done,
    # so the server may have finished too: the alert comes last either way.
    assert result.server_events[-2:] == (AlertReceived(level=2, description=alert), ConnectionClosed(clean=False))


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_an_openssl_client_against_a_purekong_server_and_resumption(dev, version):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cadata=dev.ca.public_bytes(Encoding.PEM).decode())
    ctx.minimum_version = ctx.maximum_version = version
    server = server_for(dev)
    first = OpenSSLClient(ctx, "localhost")
    result = handshake_in_memory(first, server)
    assert result.completed and first.handshake is first.ssl_object
    assert first.ssl_object.version() == result.server_handshake.version
    # The helper read the tickets, so the session resumes.
    second = OpenSSLClient(ctx, "localhost", session=first.ssl_object.session)
    again = handshake_in_memory(second, ServerConnection(server.config))
    assert again.completed and second.ssl_object.session_reused and again.server_handshake.resumed
    assert again.client_hellos[0].resumes_session


def test_an_openssl_client_that_rejects_the_server_fails_cleanly(dev):
    ctx = ssl.create_default_context()  # the system store: it does not know the dev CA
    client = OpenSSLClient(ctx, "localhost")
    result = handshake_in_memory(client, server_for(dev))
    assert not result.completed and isinstance(result.client_error, RemoteProtocolError)
    assert "CERTIFICATE_VERIFY_FAILED" in str(result.client_error)
    assert AlertReceived(level=2, description=AlertDescription.unknown_ca) in result.server_events


@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
def test_a_purekong_client_against_an_openssl_server(dev, version, tmp_path):
    chain = tmp_path / "chain.pem"
    key = tmp_path / "key.pem"
    chain.write_bytes(dev.server.public_bytes(Encoding.PEM) + dev.ca.public_bytes(Encoding.PEM))
    key.write_bytes(dev.server_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(chain, key)
    server = OpenSSLServer(ctx)
    client = ClientConnection(ClientConfig(trusted_certificates=(dev.ca,), versions=(version,)), "localhost")
    result = handshake_in_memory(client, server)
    assert result.completed, result.error
    assert result.client_handshake.version == server.ssl_object.version() == version
    assert result.server_events == ()  # OpenSSL's side reports no events of its own


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    version=st.sampled_from(["TLSv1.2", "TLSv1.3"]),
    decision=st.one_of(
        st.just("proceed"),
        st.just("nothing"),
        st.sampled_from([AlertDescription.access_denied, AlertDescription.handshake_failure,
                         AlertDescription.internal_error, AlertDescription.unrecognized_name]),
    ),
    max_flights=st.integers(min_value=1, max_value=6),
)
def test_every_run_ends_in_exactly_one_way(dev, version, decision, max_flights):
    """Completed, aborted, failed or stalled: one of them, and what each side saw agrees."""
    client = ClientConnection(ClientConfig(trusted_certificates=(dev.ca,), versions=(version,)), "localhost")

    def hook(conn: ServerConnection, event: ClientHelloReceived) -> None:
        if decision == "proceed":
            conn.proceed()
        elif decision != "nothing":
            conn.abort(decision)

    c2s: list[bytes] = []
    result = handshake_in_memory(client, server_for(dev), on_client_hello=hook, max_flights=max_flights,
                                 observe_client_to_server=c2s.append)
    assert 1 <= result.flights <= max_flights
    assert c2s and result.client_hellos  # the ClientHello always reaches the server
    outcomes = [result.completed, result.aborted, result.error is not None]
    assert sum(outcomes) <= 1
    if result.completed:
        assert decision == "proceed"
        assert result.client_handshake.version == result.server_handshake.version == version
        assert result.client_handshake.cipher_suite == result.server_handshake.cipher_suite
    elif result.aborted:
        assert decision not in ("proceed", "nothing")
        assert result.client_events[-2:] == (AlertReceived(level=2, description=decision), ConnectionClosed(clean=False))
    elif decision == "proceed":
        assert max_flights < 3  # only a short run stops a proceeding handshake
    else:
        assert decision == "nothing" and result.server_handshake is None
