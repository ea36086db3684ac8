"""The application-data record fast path (purekong/engine/_tlslite/_records.py).

After the handshake, purekong seals and opens application-data records itself
with tlslite's keys and sequence numbers; everything else stays tlslite's.
These tests check the two paths agree with a real OpenSSL peer, hand over to
each other mid-stream (KeyUpdate, tickets, alerts), and that a record the fast
path refuses still gets tlslite's answer.
"""

from __future__ import annotations

import ssl

import pytest

from _engine_helpers import (
    Std,
    pk_client,
    pk_client_config,
    pump,
    server,
    std_client,
    std_server_context,
)
from purekong.engine import AlertDescription, KeyUpdated, RemoteProtocolError, ServerConfig

CIPHERS = ["AES_128_GCM", "AES_256_GCM", "CHACHA20_POLY1305"]
SIZES = [1, 100, 16383, 16384, 16385, 70000]


def config_for(pki, version, cipher, **kw):
    return ServerConfig(
        certificates=(pki.server_key("ecdsa"),),
        versions=("TLSv1.3",) if version == "1.3" else ("TLSv1.2",),
        ciphers=(cipher,),
        **kw,
    )


@pytest.mark.parametrize("version", ["1.2", "1.3"])
@pytest.mark.parametrize("cipher", CIPHERS)
def test_data_both_ways_with_openssl(pki, version, cipher):
    srv = server(config_for(pki, version, cipher))
    client = std_client(pki, version)
    pump(client, srv)
    assert srv.handshake is not None
    suite = srv.handshake.cipher_suite
    assert cipher.split("_")[0] in suite and (cipher != "CHACHA20_POLY1305" or "CHACHA20" in suite)
    for size in SIZES:
        payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
        client.send(payload)
        srv.received.clear()
        pump(client, srv)
        assert bytes(srv.received) == payload
        srv.send(payload[::-1])
        client.received.clear()
        pump(srv, client)
        assert bytes(client.received) == payload[::-1]


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_records_are_fragmented_like_tlslite(pki, version):
    srv = server(config_for(pki, version, "AES_128_GCM"))
    client = std_client(pki, version)
    pump(client, srv)
    srv.send(bytes(40000))
    out = srv.out()
    lengths = []
    while out:
        assert out[0] == 23 and out[1:3] == b"\x03\x03"
        length = int.from_bytes(out[3:5], "big")
        lengths.append(length)
        out = out[5 + length :]
    overhead = 17 if version == "1.3" else 24  # type byte + tag; explicit nonce + tag
    assert lengths == [16384 + overhead, 16384 + overhead, 40000 - 32768 + overhead]


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_tampered_record_gets_bad_record_mac(pki, version):
    srv = server(config_for(pki, version, "AES_256_GCM"))
    client = std_client(pki, version)
    pump(client, srv)
    client.send(b"hello" * 100)
    record = bytearray(client.out())
    record[-1] ^= 1  # the tag
    with pytest.raises(RemoteProtocolError) as raised:
        srv.conn.receive_data(bytes(record))
        srv.conn.next_event()
    assert raised.value.alert == AlertDescription.bad_record_mac
    alert = srv.conn.data_to_send()  # the alert went out (encrypted in TLS 1.3)
    assert alert[:1] == (b"\x17" if version == "1.3" else b"\x15")
    client.feed(alert)
    with pytest.raises(ssl.SSLError, match="BAD_RECORD_MAC"):
        client.step()


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_oversized_record_gets_record_overflow(pki, version):
    srv = server(config_for(pki, version, "AES_128_GCM"))
    client = std_client(pki, version)
    pump(client, srv)
    too_long = (2**14 + 2049).to_bytes(2, "big")
    with pytest.raises(RemoteProtocolError) as raised:
        srv.conn.receive_data(b"\x17\x03\x03" + too_long + bytes(2**14 + 2049))
        srv.conn.next_event()
    assert raised.value.alert == AlertDescription.record_overflow


def test_key_update_between_fast_path_records(pki):
    """tlslite handles the KeyUpdate; the fast path picks up the new keys."""
    config = config_for(pki, "1.3", "CHACHA20_POLY1305")
    srv = server(config)
    client = pk_client(pk_client_config(pki, "1.3", ciphers=("CHACHA20_POLY1305",)))
    pump(client, srv)
    for round_ in range(3):
        client.send(b"before %d" % round_)
        client.conn.key_update()
        client.send(b"after %d" % round_)
        srv.send(b"reply %d" % round_)
        pump(client, srv)
    assert bytes(srv.received) == b"before 0after 0before 1after 1before 2after 2"
    assert bytes(client.received) == b"reply 0reply 1reply 2"
    assert len(srv.of(KeyUpdated)) == 3 and len(client.of(KeyUpdated)) == 3


def test_tls13_padded_records_are_accepted(pki):
    """RFC 8446 §5.4: zero padding after the content type."""
    srv = server(config_for(pki, "1.3", "AES_128_GCM"))
    client = pk_client(pk_client_config(pki, "1.3", ciphers=("AES_128_GCM",)))
    pump(client, srv)
    tls = client.conn._driver.tls  # the client's tlslite connection: pad through tlslite itself
    tls._recordLayer.padding_cb = lambda length, content_type, limit: 300
    for _ in tls.writeAsync(b"padded"):
        pass
    pump(client, srv)
    assert bytes(srv.received) == b"padded"


def test_tickets_after_the_handshake_reach_tlslite(pki):
    """A purekong client receives NewSessionTicket records mixed with data."""
    srv = server(config_for(pki, "1.3", "AES_128_GCM"))
    client = pk_client(pk_client_config(pki, "1.3", ciphers=("AES_128_GCM",)))
    pump(client, srv)
    srv.send(b"data after tickets")
    pump(srv, client)
    assert bytes(client.received) == b"data after tickets"
    assert client.conn.session is not None and client.conn._driver.session().tickets


def test_purekong_client_against_openssl_server(pki):
    for version in ("1.2", "1.3"):
        std = Std(std_server_context(pki, "ec", version), server_side=True)
        client = pk_client(pk_client_config(pki, version))
        pump(client, std)
        payload = bytes(50000)
        client.send(payload)
        pump(client, std)
        assert bytes(std.received) == payload
        std.send(b"x" * 30000)
        pump(std, client)
        assert bytes(client.received) == b"x" * 30000
