"""Configuration checks: bad settings get a clear error before any byte moves."""

from __future__ import annotations

import ssl

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from _pki import make_ca, make_leaf
from purekong.engine import NEED_DATA, PAUSED, CertifiedKey, ClientHelloReceived, LocalProtocolError, ServerConfig, ServerConnection


@pytest.fixture(scope="module")
def certified():
    root = make_ca("CN=config test root")
    leaf = make_leaf(root, "localhost")
    return CertifiedKey((leaf.cert,), leaf.key)


@pytest.fixture(scope="module")
def many_cas():
    # 400 DNs of ~210 bytes: more than the 2-byte length of the DN list allows.
    return [make_ca("CN=%04d %s,O=%s,OU=%s" % (i, "y" * 50, "o" * 60, "u" * 60)).cert for i in range(400)]


def paused_server(config):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = ctx.wrap_bio(incoming, outgoing)
    with pytest.raises(ssl.SSLWantReadError):
        client.do_handshake()
    server = ServerConnection(config)
    server.receive_data(outgoing.read())
    assert isinstance(server.next_event(), ClientHelloReceived)
    return server


def test_a_ca_list_too_big_for_a_certificate_request_is_refused(certified, many_cas):
    with pytest.raises(ValueError, match="client_ca_certificates: their subject DNs take .* at most 65535"):
        ServerConfig(certificates=(certified,), client_ca_certificates=many_cas)
    server = paused_server(ServerConfig(certificates=(certified,)))
    with pytest.raises(LocalProtocolError, match="client_ca_certificates"):
        server.proceed(request_client_certificate=True, client_ca_certificates=many_cas)
    # Nothing changed: the handshake can still go on with a list that fits.
    assert server.next_event() is PAUSED
    server.proceed(request_client_certificate=True, client_ca_certificates=many_cas[:10])
    server.next_event()
    assert server.data_to_send()[:1] == b"\x16"  # the server's flight


def test_only_p256_and_p384_ecdsa_keys(certified):
    key = ec.generate_private_key(ec.SECP521R1())
    leaf = make_leaf(make_ca("CN=p521 root"), "localhost", key=key)
    with pytest.raises(ValueError, match="P-256 or P-384, not secp521r1"):
        CertifiedKey((leaf.cert,), key)


def test_a_key_that_does_not_match_its_certificate(certified):
    other = make_leaf(make_ca("CN=other root"), "localhost", key=ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(ValueError, match="does not match"):
        CertifiedKey(certified.chain, other.key)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("versions", ("TLSv1.1",), "unsupported versions: TLSv1.1"),
        ("ciphers", ("AES_128_CBC",), "unsupported ciphers: AES_128_CBC"),
        ("groups", ("ffdhe2048",), "unsupported groups: ffdhe2048"),
        ("versions", (), "versions must not be empty"),
        ("ticket_keys", (b"short",), "ticket keys must be 16 or 32 bytes"),
    ],
)
def test_unsupported_settings_name_the_field(certified, field, value, message):
    with pytest.raises(ValueError, match=message):
        ServerConfig(certificates=(certified,), **{field: value})


def test_a_failing_tracer_does_not_break_the_handshake(certified, caplog):
    def tracer(item):
        raise RuntimeError("observer bug")

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = ctx.wrap_bio(incoming, outgoing)
    server = ServerConnection(ServerConfig(certificates=(certified,)), trace=tracer)
    for _ in range(5):
        try:
            client.do_handshake()
            break
        except ssl.SSLWantReadError:
            pass
        data = outgoing.read()
        if data:
            server.receive_data(data)
        while (event := server.next_event()) is not NEED_DATA:
            if event is PAUSED:
                server.proceed()
        incoming.write(server.data_to_send())
    assert client.version() == "TLSv1.3"
    assert "the trace callback failed" in caplog.text


# -- tlslite settings: validated once per combination, copied per connection --

@pytest.mark.parametrize("plan_fields", [
    dict(versions=("TLSv1.3", "TLSv1.2"), ciphers=("AES_256_GCM", "CHACHA20_POLY1305"), groups=("x25519", "secp256r1")),
    dict(versions=("TLSv1.2",), ciphers=("AES_128_GCM",), groups=("secp384r1",), issue_tickets=True,
         ticket_keys=(b"k" * 32,), tls13_tickets=2, ticket_lifetime=600),
])
def test_settings_copies_equal_a_fresh_validation(plan_fields):
    from purekong.engine._tlslite import _settings

    plan = _settings.Plan(**plan_fields)
    fresh = _settings._build(plan).validate()
    first, second = _settings.handshake_settings(plan), _settings.handshake_settings(plan)
    # What tlslite uses: the result of validate() on what the engine hands it.
    assert first.validate().__dict__ == second.validate().__dict__ == fresh.__dict__
    # Each connection's copy is its own: changing one reaches no other.
    first.cipherNames.append("3des")
    first.eccCurves = []
    assert second.cipherNames == fresh.cipherNames and second.eccCurves == fresh.eccCurves
    assert _settings.handshake_settings(plan).__dict__ == fresh.__dict__
