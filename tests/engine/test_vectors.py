"""ClientHellos captured from real clients (vectors/client_hello, see its README).

The engine must read each one exactly as sent, report it in
ClientHelloReceived, and answer it with a ServerHello of the version the
client can use.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from _pki import make_ca, make_leaf
from purekong.engine import CertifiedKey, ClientHelloReceived, ServerConfig, ServerConnection

VECTORS = Path(__file__).parent.parent.parent / "vectors" / "client_hello"

EXPECTED = {
    "openssl-3.0-tls13-sni-alpn": dict(server_name="example.com", versions=("TLSv1.3",), alpn=("h2", "http/1.1"), version=b"\x03\x04"),
    "openssl-3.0-tls12-sni": dict(server_name="example.com", versions=("TLSv1.2",), alpn=(), version=b"\x03\x03"),
    # TLS 1.0 and 1.1 are offered too; the event names every known version.
    "curl-default": dict(server_name="localhost", versions=("TLSv1.3", "TLSv1.2", "TLSv1.1", "TLSv1"), alpn=("h2", "http/1.1"), version=b"\x03\x04"),
    "curl-tls12": dict(server_name="localhost", versions=("TLSv1.2",), alpn=("h2", "http/1.1"), version=b"\x03\x03"),
}


@pytest.fixture(scope="module")
def config():
    leaf = make_leaf(make_ca("CN=vectors root"), "localhost")
    return ServerConfig(certificates=(CertifiedKey((leaf.cert,), leaf.key),), alpn_protocols=("http/1.1",))


def test_every_vector_has_expectations():
    assert {p.stem for p in VECTORS.glob("*.hex")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_client_hello(config, name):
    wire = bytes.fromhex((VECTORS / f"{name}.hex").read_text().strip())
    expected = EXPECTED[name]
    server = ServerConnection(config)
    server.receive_data(wire)
    event = server.next_event()
    assert isinstance(event, ClientHelloReceived)
    assert event.server_name == expected["server_name"]
    assert event.versions == expected["versions"]
    assert event.alpn_protocols == expected["alpn"]
    assert event.raw == wire[5 : 5 + len(event.raw)] and event.raw[0] == 1
    server.proceed()
    server.next_event()
    flight = server.data_to_send()
    assert flight[0] == 22 and flight[5] == 2  # a handshake record holding a ServerHello
    server_hello = flight[9 : 9 + int.from_bytes(flight[6:9], "big")]
    if expected["version"] == b"\x03\x04":
        assert b"\x00\x2b\x00\x02\x03\x04" in server_hello  # supported_versions: TLS 1.3
    else:
        assert server_hello[:2] == b"\x03\x03" and b"\x00\x2b" not in server_hello
    if expected["version"] == b"\x03\x03":
        # TLS 1.2 ALPN rides in the ServerHello: the server's protocol, if offered.
        alpn = b"\x00\x10\x00\x0b\x00\x09\x08http/1.1"
        assert (alpn in server_hello) == ("http/1.1" in expected["alpn"])
