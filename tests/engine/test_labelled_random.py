"""random= by name: LabelledRandom gives the bytes asked for each label and says what was drawn.

Checked on the wire: an injected client_random, server_random and x25519
private key appear exactly where the RFC puts them (ClientHello.random,
ServerHello.random, the key share's public value), and every draw of a TLS
1.2 and 1.3 handshake, with an ECDSA and an RSA server key, has a name.
"""

from __future__ import annotations

import io

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from purekong._devpki import issue, make_dev_pki
from purekong.inspect import Recording, dissect_handshake
from purekong.engine import (
    NEED_DATA,
    PAUSED,
    CertifiedKey,
    ClientConfig,
    ClientConnection,
    ClientHelloReceived,
    KeyLogWriter,
    LabelledRandom,
    ServerConfig,
    ServerConnection,
)

PKI = make_dev_pki(ca_days=1, days=1)
CLIENT_RANDOM = bytes(range(32))
SERVER_RANDOM = bytes(range(0x70, 0x90))
CLIENT_X25519 = bytes(range(0x20, 0x40))


def rsa_server() -> CertifiedKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = issue("localhost", key, PKI.ca, PKI.ca_key, days=1, sans=[x509.DNSName("localhost")])
    return CertifiedKey((cert, PKI.ca), key)


def handshake(version: str, client_random: LabelledRandom, server_random: LabelledRandom, server_key: CertifiedKey | None = None, trace=None):
    server_key = server_key or CertifiedKey((PKI.server, PKI.ca), PKI.server_key)
    server = ServerConnection(ServerConfig(certificates=(server_key,), versions=(version,)), random=server_random)
    client = ClientConnection(ClientConfig(trusted_certificates=(PKI.ca,), versions=(version,)), "localhost", random=client_random, trace=trace)
    flights = []
    for _ in range(6):
        flights.append(data := client.data_to_send())
        server.receive_data(data)
        while (event := server.next_event()) not in (NEED_DATA, PAUSED):
            if isinstance(event, ClientHelloReceived):
                server.proceed()
        flights.append(data := server.data_to_send())
        client.receive_data(data)
        while client.next_event() is not NEED_DATA:
            pass
    assert client.handshake is not None and server.handshake is not None
    return flights


@pytest.mark.parametrize("version", ["TLSv1.3", "TLSv1.2"])
def test_named_values_land_where_the_rfc_puts_them(version):
    client = LabelledRandom({"client_random": CLIENT_RANDOM, "x25519_private": CLIENT_X25519})
    server = LabelledRandom({"server_random": SERVER_RANDOM})
    flights = handshake(version, client, server)
    hello, server_hello = flights[0], flights[1]
    assert hello[11:43] == CLIENT_RANDOM  # record header 5 + handshake header 4 + legacy_version 2
    assert server_hello[11:43] == SERVER_RANDOM
    if version == "TLSv1.3":
        public = X25519PrivateKey.from_private_bytes(CLIENT_X25519).public_key().public_bytes_raw()
        assert public in hello  # the key share carries the injected key's public value
        assert [label for label, _ in client.drawn] == ["session_id", "x25519_private", "client_random"]
    assert ("client_random", 32) in client.drawn and ("server_random", 32) in server.drawn


@pytest.mark.parametrize("version", ["TLSv1.3", "TLSv1.2"])
@pytest.mark.parametrize("kind", ["ecdsa", "rsa"])
def test_every_draw_has_a_name(version, kind):
    client, server = LabelledRandom(), LabelledRandom()
    handshake(version, client, server, rsa_server() if kind == "rsa" else None)
    labels = {label for label, _ in client.drawn + server.drawn}
    assert "unlabelled" not in labels, client.drawn + server.drawn
    if kind == "rsa" and version == "TLSv1.3":
        assert "pss_salt" in labels


def test_a_label_drawn_twice_is_named_each_time_and_takes_a_list():
    server = LabelledRandom({"ticket_age_add": [b"\x00\x00\x00\x01", b"\x00\x00\x00\x02"]})
    keylog = io.StringIO()
    flights = handshake("TLSv1.3", LabelledRandom(), server, trace=KeyLogWriter(keylog))
    assert [label for label, _ in server.drawn].count("ticket_age_add") == 2
    transcript = [("client_to_server" if i % 2 == 0 else "server_to_client", data) for i, data in enumerate(flights)]
    rec = Recording.from_transcript(transcript, keylog.getvalue())
    tickets = [dissect_handshake(m.raw) for m in rec.handshake_messages if m.name == "new_session_ticket"]
    assert [t.find("ticket_age_add").value for t in tickets] == [1, 2]  # on the wire, in order


def test_a_value_of_the_wrong_length_is_refused_by_name():
    with pytest.raises(Exception, match="'client_random': the engine draws 32 bytes, 3 were given"):
        handshake("TLSv1.3", LabelledRandom({"client_random": b"abc"}), LabelledRandom())
