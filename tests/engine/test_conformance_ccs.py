"""TLS 1.3 ChangeCipherSpec (RFC 8446 §5, the CVE-2020-25648 pattern; issue 10, defect 2).

A compatibility CCS is the single byte 0x01, in plaintext, at most once,
between the ClientHello and the peer's Finished; anything else is
unexpected_message."""

from __future__ import annotations

import pytest

from purekong.engine import (
    NEED_DATA,
    PAUSED,
    AlertDescription,
    DataReceived,
    HandshakeComplete,
    RemoteProtocolError,
    ServerConfig,
    ServerConnection,
)

from _engine_helpers import PK, pk_client, pk_client_config, pump, records, std_client

CCS = bytes([20, 3, 3, 0, 1, 1])
TWO_CCS_IN_ONE_RECORD = bytes([20, 3, 3, 0, 2, 1, 1])


@pytest.fixture(scope="module")
def config(pki):
    return ServerConfig(certificates=(pki.server_key("ec"),))


def events(srv: ServerConnection) -> list:
    out = []
    while True:
        event = srv.next_event()
        if event is NEED_DATA:
            return out
        if event is PAUSED:
            srv.proceed()
            continue
        out.append(event)


def second_flight(pki, config) -> tuple[ServerConnection, list[bytes]]:
    """A server that sent its flight to an OpenSSL client, and that client's
    answer as records (OpenSSL sends its compatibility CCS, then Finished)."""
    cli = std_client(pki, "1.3")
    cli.step()
    srv = ServerConnection(config)
    srv.receive_data(cli.out())
    assert not any(isinstance(e, HandshakeComplete) for e in events(srv))
    cli.feed(srv.data_to_send())
    cli.step()
    flight = [rec for _, rec in records(cli.out())]
    assert flight[0] == CCS and flight[1][0] == 23
    return srv, flight


def outcome(srv: ServerConnection, data: bytes) -> tuple[list, RemoteProtocolError | None]:
    srv.receive_data(data)
    try:
        return events(srv), None
    except RemoteProtocolError as exc:
        return [], exc


def test_one_ccs_before_finished_is_tolerated(pki, config):
    srv, flight = second_flight(pki, config)
    got, error = outcome(srv, b"".join(flight))
    assert error is None and any(isinstance(e, HandshakeComplete) for e in got)


def test_ccs_with_two_bytes_is_unexpected_message(pki, config):
    """`14 03 03 00 02 01 01`: tlslite answered decode_error."""
    srv, flight = second_flight(pki, config)
    _, error = outcome(srv, TWO_CCS_IN_ONE_RECORD + flight[1])
    assert error is not None and error.alert == AlertDescription.unexpected_message


@pytest.mark.parametrize("payload", [b"\x00", b"\x02", b"\xff"])
def test_ccs_with_another_value_is_unexpected_message(pki, config, payload):
    srv, flight = second_flight(pki, config)
    _, error = outcome(srv, bytes([20, 3, 3, 0, 1]) + payload + flight[1])
    assert error is not None and error.alert == AlertDescription.unexpected_message


def test_second_ccs_before_finished_is_unexpected_message(pki, config):
    """tlslite dropped every CCS, so the handshake completed."""
    srv, flight = second_flight(pki, config)
    got, error = outcome(srv, CCS + CCS + flight[1])
    assert error is not None and error.alert == AlertDescription.unexpected_message
    assert not any(isinstance(e, HandshakeComplete) for e in got)


def test_many_ccs_records_are_not_silently_dropped(pki, config):
    srv, flight = second_flight(pki, config)
    _, error = outcome(srv, CCS * 2000 + flight[1])
    assert error is not None and error.alert == AlertDescription.unexpected_message


def test_ccs_after_the_handshake_is_unexpected_message(pki, config):
    cli = std_client(pki, "1.3")
    srv_pk = PK(ServerConnection(config))
    pump(cli, srv_pk)
    assert srv_pk.handshake is not None
    _, error = outcome(srv_pk.conn, CCS)
    assert error is not None and error.alert == AlertDescription.unexpected_message


def test_ccs_sent_after_the_handshake_by_a_purekong_client(pki, config):
    """The same through the public API of both ends: a purekong client's
    connection, then a raw CCS record on the wire."""
    srv = PK(ServerConnection(config))
    cli = pk_client(pk_client_config(pki, "1.3"))
    pump(cli, srv)
    cli.send(b"before")
    pump(cli, srv)
    assert bytes(srv.received) == b"before"
    _, error = outcome(srv.conn, CCS)
    assert error is not None and error.alert == AlertDescription.unexpected_message


def test_protected_ccs_is_unexpected_message(pki, config):
    """RFC 8446 §5: a protected change_cipher_spec record MUST be refused."""
    srv = PK(ServerConnection(config))
    cli = pk_client(pk_client_config(pki, "1.3"))
    pump(cli, srv)
    out: list[bytes] = []
    assert cli.conn._driver.records.seal(b"\x01", out, 20)  # a CCS under the application key
    _, error = outcome(srv.conn, b"".join(out))
    assert error is not None and error.alert == AlertDescription.unexpected_message


def test_ccs_before_the_client_hello_is_unexpected_message(config):
    srv = ServerConnection(config)
    _, error = outcome(srv, CCS)
    assert error is not None and error.alert == AlertDescription.unexpected_message


def test_tls12_ccs_still_works(pki, config):
    cli = std_client(pki, "1.2")
    srv = PK(ServerConnection(config))
    pump(cli, srv)
    cli.send(b"ping")
    pump(cli, srv)
    assert srv.handshake is not None and bytes(srv.received) == b"ping"
    assert not [e for e in srv.events if isinstance(e, DataReceived) and not e.data]
