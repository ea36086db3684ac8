"""What a purekong client offers (issue 10, defect 7): exactly the configured
suites, in the configured order, and nothing a TLS 1.3-only client cannot use."""

from __future__ import annotations

import ssl

import pytest

from purekong.engine import ClientConfig, ClientConnection

from _engine_helpers import HOST, PK, Hello, Std, pk_client_config, pump, std_server_context

SCSV = 0x00FF
TLS12_SUITES = {0xC02C, 0xC030, 0xCCA9, 0xCCA8, 0xC02B, 0xC02F}


def offered(config: ClientConfig) -> list[int]:
    return Hello.parse(ClientConnection(config, HOST).data_to_send()).suites


@pytest.mark.parametrize("ciphers,suites", [
    (("CHACHA20_POLY1305", "AES_128_GCM"), [0x1303, 0x1301]),
    (("AES_128_GCM", "AES_256_GCM", "CHACHA20_POLY1305"), [0x1301, 0x1302, 0x1303]),
])
def test_tls13_only_client_offers_exactly_its_tls13_suites(pki, ciphers, suites):
    """No TLS 1.2 suite and no TLS_EMPTY_RENEGOTIATION_INFO_SCSV (RFC 5746
    secures TLS 1.2 renegotiation, which a TLS 1.3-only client never does)."""
    assert offered(pk_client_config(pki, "1.3", ciphers=ciphers)) == suites


def test_client_offers_the_configured_order(pki):
    config = pk_client_config(pki, ciphers=("AES_128_GCM", "CHACHA20_POLY1305", "AES_256_GCM"))
    assert offered(config) == [0x1301, 0x1303, 0x1302, 0xC02B, 0xC02F, 0xCCA9, 0xCCA8, 0xC02C, 0xC030, SCSV]


def test_tls12_only_client(pki):
    assert offered(pk_client_config(pki, "1.2", ciphers=("AES_256_GCM",))) == [0xC02C, 0xC030, SCSV]


@pytest.mark.parametrize("version,expected", [("1.3", "TLS_CHACHA20_POLY1305_SHA256"), ("1.2", "ECDHE-RSA-CHACHA20-POLY1305")])
def test_openssl_server_honouring_client_order_picks_our_first(pki, version, expected):
    """A real server that follows the client's order (no server preference) gets our first choice."""
    ctx = std_server_context(pki, "rsa", version)
    ctx.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    srv = Std(ctx, server_side=True)
    config = pk_client_config(pki, version, ciphers=("CHACHA20_POLY1305", "AES_128_GCM", "AES_256_GCM"))
    cli = PK(ClientConnection(config, HOST))
    pump(cli, srv)
    assert cli.handshake is not None
    assert srv.obj.cipher()[0] == expected


def test_tls13_only_client_still_completes_with_openssl(pki):
    srv = Std(std_server_context(pki, "ec"), server_side=True)
    cli = PK(ClientConnection(pk_client_config(pki, "1.3", ciphers=("AES_128_GCM",)), HOST))
    pump(cli, srv)
    assert cli.handshake.version == "TLSv1.3" and cli.handshake.cipher_suite == "TLS_AES_128_GCM_SHA256"
