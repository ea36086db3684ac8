"""Consecutive TLS 1.2 warning alerts: the 5th is fatal, as in OpenSSL
(MAX_WARN_ALERT_COUNT, the CVE-2016-8610 defence; issue 10, defect 8).

The same purekong client sends the same alerts to OpenSSL (stdlib ``ssl``)
and to purekong, so the limit is compared with the real peer's."""

from __future__ import annotations

import ssl

import pytest
from tlslite.messages import Alert

from purekong.engine import AlertDescription, AlertReceived, RemoteProtocolError, ServerConfig

from _engine_helpers import PK, Std, pk_client, pk_client_config, pump, server, std_server_context

USER_CANCELED = 90  # a warning OpenSSL skips (no_renegotiation from a client it treats as fatal)


def send_warnings(cli: PK, count: int) -> bytes:
    """``count`` warning alerts under the client's keys (no public API sends one)."""
    tls = cli.conn._driver.tls
    for _ in range(count):
        for _ in tls._sendMsg(Alert().create(USER_CANCELED, 1)):
            pass
    return cli.out()


def openssl_survives(pki, count: int) -> bool:
    srv = Std(std_server_context(pki, "ec", "1.2"), server_side=True)
    cli = pk_client(pk_client_config(pki, "1.2"))
    pump(cli, srv)
    srv.feed(send_warnings(cli, count))
    try:
        srv.step()
    except ssl.SSLError as exc:
        assert "too many warn alerts" in str(exc).lower()
        return False
    return True


def purekong_survives(pki, count: int) -> bool:
    srv = server(ServerConfig(certificates=(pki.server_key("ec"),)))
    cli = pk_client(pk_client_config(pki, "1.2"))
    pump(cli, srv)
    srv.feed(send_warnings(cli, count))
    try:
        srv.step()
    except RemoteProtocolError as exc:
        assert exc.alert == AlertDescription.unexpected_message
        return False
    assert len(srv.of(AlertReceived)) == count
    return True


@pytest.mark.parametrize("count", [4, 5])
def test_warning_alert_limit_is_openssls(pki, count):
    assert openssl_survives(pki, count) is (count < 5)
    assert purekong_survives(pki, count) is (count < 5)


def test_the_count_restarts_after_other_records(pki):
    """Consecutive: application data in between resets it (as OpenSSL's alert_count)."""
    srv = server(ServerConfig(certificates=(pki.server_key("ec"),)))
    cli = pk_client(pk_client_config(pki, "1.2"))
    pump(cli, srv)
    for _ in range(3):
        srv.feed(send_warnings(cli, 4))
        cli.send(b"data")
        pump(cli, srv)
    assert len(srv.of(AlertReceived)) == 12 and bytes(srv.received) == b"data" * 3
