"""Interop in memory: purekong against the stdlib ``ssl`` module (OpenSSL), and against itself.

Real keys, real crypto, real OpenSSL peers over MemoryBIO; nothing mocked.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization

from purekong.engine import ConnectionClosed, HandshakeComplete, LocalProtocolError, ServerConfig

from _engine_helpers import (
    HOST,
    VERSION_NAME,
    Std,
    pk_client,
    pk_client_config,
    pump,
    records,
    server,
    std_client,
    std_client_context,
    std_server_context,
)

BIG = 40_000  # more than two 16 KiB records


def payload(tag: bytes, size: int = BIG) -> bytes:
    return (tag * (size // len(tag) + 1))[:size]


def canonical_pem(ders) -> str:
    from cryptography import x509

    return "".join(x509.load_der_x509_certificate(d).public_bytes(serialization.Encoding.PEM).decode() for d in ders)


def assert_spans_records(data: bytes, total: int) -> None:
    """``data`` holds encrypted application records carrying ``total`` bytes, none above 2^14 of plaintext."""
    app = [r for ctype, r in records(data) if ctype == 23]
    assert len(app) >= 3
    assert all(len(r) - 5 <= 2**14 + 256 for r in app)
    assert sum(len(r) - 5 for r in app) > total


@pytest.mark.parametrize("client_cert", [False, True], ids=["no-client-cert", "client-cert"])
@pytest.mark.parametrize("kind", ["rsa", "ec"])
@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_stdlib_client_purekong_server(pki, version, kind, client_cert):
    config = ServerConfig(certificates=(pki.server_key(kind),))
    srv = server(config, request_client_certificate=client_cert)
    cli = std_client(pki, version, client_cert=client_cert)
    pump(cli, srv)

    hs = srv.handshake
    assert hs is not None and cli.handshake_done
    assert hs.version == VERSION_NAME[version] == cli.obj.version()
    assert hs.openssl_cipher == cli.obj.cipher()[0]
    assert hs.server_name == HOST
    assert hs.resumed is False
    assert len(srv.hellos) == 1 and srv.hellos[0].server_name == HOST
    # The stdlib client verified our chain (CERT_REQUIRED + hostname check).
    assert cli.obj.getpeercert(binary_form=True) == pki.server_chain_der(kind)[0]
    if client_cert:
        assert hs.peer_certificates == pki.client_chain_der
        pem = hs.peer_certificates_pem()
        assert pem == canonical_pem(pki.client_chain_der)
        assert pem == pki.client_leaf.pem + pki.client_inter.pem
    else:
        assert hs.peer_certificates is None
        assert hs.peer_certificates_pem() is None

    # Data both ways, each write spanning several records.
    down, up = payload(b"server->client "), payload(b"client->server ")
    srv.send(down)
    wire = srv.out()
    assert_spans_records(wire, len(down))
    cli.feed(wire)
    cli.send(up)
    pump(cli, srv)
    assert bytes(cli.received) == down
    assert bytes(srv.received) == up

    # The stdlib client closes: the server sees a clean close and answers.
    cli.close()
    pump(cli, srv)
    assert srv.events[-1] == ConnectionClosed(clean=True)
    assert cli.unwrapped


@pytest.mark.parametrize("client_cert", [False, True], ids=["no-client-cert", "client-cert"])
@pytest.mark.parametrize("kind", ["rsa", "ec"])
@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_purekong_client_stdlib_server(pki, version, kind, client_cert):
    ctx = std_server_context(pki, kind, version, request_cert=True)
    srv = Std(ctx, server_side=True)
    cfg = pk_client_config(pki, version, certificate=pki.client_key if client_cert else None)
    cli = pk_client(cfg)
    pump(cli, srv)

    hs = cli.handshake
    assert hs is not None and srv.handshake_done
    assert hs.version == VERSION_NAME[version] == srv.obj.version()
    assert hs.openssl_cipher == srv.obj.cipher()[0]
    assert hs.resumed is False
    # The server's chain exactly as OpenSSL sent it: leaf, then intermediate.
    assert hs.peer_certificates == pki.server_chain_der(kind)
    assert hs.peer_certificates_pem() == canonical_pem(pki.server_chain_der(kind))
    if client_cert:
        assert srv.obj.getpeercert(binary_form=True) == pki.client_leaf.der
    else:
        assert srv.obj.getpeercert(binary_form=True) is None

    up, down = payload(b"pk client "), payload(b"openssl server ")
    cli.send(up)
    wire = cli.out()
    assert_spans_records(wire, len(up))
    srv.feed(wire)
    srv.send(down)
    pump(cli, srv)
    assert bytes(srv.received) == up
    assert bytes(cli.received) == down

    # The stdlib server closes (unwrap): the client sees a clean close and
    # answers with its own close_notify, which completes unwrap().
    srv.close()
    pump(cli, srv)
    assert cli.events[-1] == ConnectionClosed(clean=True)
    assert srv.unwrapped


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_purekong_server_closes_first(pki, version):
    srv = server(ServerConfig(certificates=(pki.server_key("ec"),)))
    cli = std_client(pki, version)
    pump(cli, srv)
    srv.send(b"last words")
    srv.close()
    pump(cli, srv)
    assert bytes(cli.received) == b"last words"
    assert cli.closed_by_peer  # SSLZeroReturnError: a close_notify arrived
    # The server can no longer write, and the peer's answer closes it.
    cli.close()
    pump(cli, srv)
    assert cli.unwrapped
    assert srv.events[-1] == ConnectionClosed(clean=True)


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_purekong_client_closes_first(pki, version):
    srv = Std(std_server_context(pki, "rsa", version), server_side=True)
    cli = pk_client(pk_client_config(pki, version))
    pump(cli, srv)
    cli.send(b"bye")
    cli.close()
    pump(cli, srv)
    assert bytes(srv.received) == b"bye"
    assert srv.closed_by_peer


@pytest.mark.parametrize("client_cert", [False, True], ids=["no-client-cert", "client-cert"])
@pytest.mark.parametrize("kind", ["rsa", "ec"])
@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_purekong_both_ends(pki, version, kind, client_cert):
    srv = server(ServerConfig(certificates=(pki.server_key(kind),)), request_client_certificate=client_cert)
    cli = pk_client(pk_client_config(pki, version, certificate=pki.client_key if client_cert else None))
    pump(cli, srv)
    s_hs, c_hs = srv.handshake, cli.handshake
    assert s_hs.version == c_hs.version == VERSION_NAME[version]
    assert s_hs.cipher_suite == c_hs.cipher_suite
    assert c_hs.peer_certificates == pki.server_chain_der(kind)
    assert s_hs.peer_certificates == (pki.client_chain_der if client_cert else None)

    srv.send(payload(b"s", 70_000))
    cli.send(payload(b"c", 70_000))
    pump(cli, srv)
    assert bytes(cli.received) == payload(b"s", 70_000)
    assert bytes(srv.received) == payload(b"c", 70_000)
    cli.close()
    pump(cli, srv)
    assert srv.events[-1] == ConnectionClosed(clean=True)
    assert cli.events[-1] == ConnectionClosed(clean=True)


def test_client_rejects_untrusted_server(pki):
    """The purekong client verifies the chain: a server the client does not trust fails with unknown_ca (as OpenSSL's client)."""
    from purekong.engine import RemoteProtocolError

    from _pki import make_ca

    stranger = make_ca("someone else")
    cli = pk_client(pk_client_config(pki, "1.3", trusted_certificates=(stranger.cert,)))
    srv = Std(std_server_context(pki, "ec", "1.3"), server_side=True)
    with pytest.raises(RemoteProtocolError) as info:
        pump(cli, srv)
    assert info.value.alert.name == "unknown_ca"
    assert not any(isinstance(e, HandshakeComplete) for e in cli.events)


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_data_still_arrives_after_our_close_notify(pki, version):
    """close() sends close_notify; the peer's data sent before it saw ours still arrives."""
    srv = server(ServerConfig(certificates=(pki.server_key("ec"),)))
    cli = std_client(pki, version)
    pump(cli, srv)
    srv.close()
    closing = srv.out()
    assert [c for c, _ in records(closing)] == [21 if version == "1.2" else 23]
    with pytest.raises(LocalProtocolError):
        srv.send(b"no more")
    cli.send(b"crossing in flight")
    srv.feed(cli.out())
    srv.step()
    assert srv.events[-1].__class__.__name__ == "DataReceived" and bytes(srv.received) == b"crossing in flight"
    cli.feed(closing)
    cli.step()
    assert cli.closed_by_peer
    cli.close()
    srv.feed(cli.out())
    srv.step()
    assert srv.events[-1] == ConnectionClosed(clean=True)
    assert srv.out() == b""  # our close_notify went out once, not twice


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_purekong_client_reads_after_its_close(pki, version):
    srv = server(ServerConfig(certificates=(pki.server_key("ec"),)))
    cli = pk_client(pk_client_config(pki, version))
    pump(cli, srv)
    cli.close()
    closing = cli.out()
    srv.send(b"reply after the client's close")
    cli.feed(srv.out())
    cli.step()
    assert bytes(cli.received) == b"reply after the client's close"
    srv.feed(closing)
    srv.step()
    assert srv.events[-1] == ConnectionClosed(clean=True)
    cli.feed(srv.out())  # the server's answering close_notify
    cli.step()
    assert cli.events[-1] == ConnectionClosed(clean=True)


@pytest.fixture(scope="module")
def other_keys(pki, tmp_path_factory):
    """Server and client certificates for more key types: P-384, Ed25519, RSA-3072."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519
    from cryptography.x509.oid import ExtendedKeyUsageOID

    from purekong.engine import CertifiedKey
    from _pki import make_cert, make_leaf, pool_key

    directory = tmp_path_factory.mktemp("other-keys")
    keys = {
        "p384": ec.generate_private_key(ec.SECP384R1()),
        "ed25519": ed25519.Ed25519PrivateKey.generate(),
        "rsa3072": pool_key("rsa", 30, 3072),
    }
    out = {}
    for name, key in keys.items():
        leaf = make_cert(f"{name} server", pki.server_inter, key=key, eku=[ExtendedKeyUsageOID.SERVER_AUTH], key_usage={"digital_signature"},
                         extensions=[(x509.SubjectAlternativeName([x509.DNSName(HOST)]), False)])
        client = make_leaf(pki.client_inter, f"{name} client", key=key)
        chain = directory / f"{name}-client.pem"
        chain.write_text(client.pem + pki.client_inter.pem)
        key_file = directory / f"{name}-client.key"
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        out[name] = {
            "server": CertifiedKey((leaf.cert, pki.server_inter.cert), key),
            "client": CertifiedKey((client.cert, pki.client_inter.cert), key),
            "client_files": (str(chain), str(key_file)),
            "client_der": (client.der, pki.client_inter.der),
        }
    return out


@pytest.mark.parametrize("kind", ["p384", "ed25519", "rsa3072"])
@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_more_key_types(pki, other_keys, version, kind):
    keys = other_keys[kind]
    # As the server's certificate, against OpenSSL (which verifies the chain).
    srv = server(ServerConfig(certificates=(keys["server"],)))
    cli = std_client(pki, version)
    pump(cli, srv)
    assert srv.handshake.version == cli.obj.version() == VERSION_NAME[version]
    assert cli.obj.getpeercert(binary_form=True) == keys["server"].chain[0].public_bytes(serialization.Encoding.DER)
    # As OpenSSL's client certificate: the engine checks its CertificateVerify.
    srv = server(ServerConfig(certificates=(pki.server_key("ec"),)), request_client_certificate=True)
    ctx = std_client_context(pki, version)
    ctx.load_cert_chain(*keys["client_files"])
    cli = Std(ctx, server_side=False, server_hostname=HOST)
    pump(cli, srv)
    assert srv.handshake.peer_certificates == keys["client_der"]
    # As the purekong client's certificate, against OpenSSL.
    ossl = Std(std_server_context(pki, "ec", version, request_cert=True), server_side=True)
    pkc = pk_client(pk_client_config(pki, version, certificate=keys["client"]))
    pump(pkc, ossl)
    assert ossl.obj.getpeercert(binary_form=True) == keys["client_der"][0]


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_certificate_choice_follows_the_client(pki, version):
    """With RSA and ECDSA chains configured, a client that can only use one gets that one."""
    cfg = ServerConfig(certificates=(pki.server_key("rsa"), pki.server_key("ec")))
    ctx = std_client_context(pki, version)
    if version == "1.2":
        ctx.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256")
    # (TLS 1.3 suites do not name a key type, and Python cannot restrict
    # OpenSSL's signature algorithms: there the first chain wins.)
    srv = server(cfg)
    cli = Std(ctx, server_side=False, server_hostname=HOST)
    pump(cli, srv)
    expected = "ec" if version == "1.2" else "rsa"  # TLS 1.3: the first chain the client can verify
    assert cli.obj.getpeercert(binary_form=True) == pki.server_chain_der(expected)[0]
    # proceed(certificates=...) overrides the config's choice.
    srv = server(cfg, certificates=(pki.server_key("ec"),))
    cli = std_client(pki, version)
    pump(cli, srv)
    assert cli.obj.getpeercert(binary_form=True) == pki.server_chain_der("ec")[0]


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_peer_chain_exactly_as_sent(pki, version):
    """No reordering, no de-duplication, nothing dropped: odd chains come through verbatim."""
    from purekong.engine import CertifiedKey

    odd = (pki.client_leaf.cert, pki.client_root.cert, pki.client_inter.cert, pki.client_inter.cert, pki.other_ca.cert)
    srv = server(ServerConfig(certificates=(pki.server_key("ec"),)), request_client_certificate=True)
    cli = pk_client(pk_client_config(pki, version, certificate=CertifiedKey(odd, pki.client_leaf.key)))
    pump(cli, srv)
    ders = tuple(c.public_bytes(serialization.Encoding.DER) for c in odd)
    assert srv.handshake.peer_certificates == ders
    assert srv.handshake.peer_certificates_pem() == "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in odd)
    # And OpenSSL's client sends what its chain file holds, which arrives verbatim too.
    srv = server(ServerConfig(certificates=(pki.server_key("ec"),)), request_client_certificate=True)
    cli = std_client(pki, version, client_cert=True)
    pump(cli, srv)
    assert srv.handshake.peer_certificates == pki.client_chain_der


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_client_certificate_verify_with_the_wrong_key_is_rejected(pki, version):
    """A client presenting someone else's certificate cannot sign for it."""
    from purekong.engine import CertifiedKey, RemoteProtocolError

    stolen = CertifiedKey((pki.client_leaf.cert, pki.client_inter.cert), pki.client_leaf.key)
    object.__setattr__(stolen, "private_key", pki.ec_leaf.key)  # bypass the constructor's check
    srv = server(ServerConfig(certificates=(pki.server_key("ec"),)), request_client_certificate=True)
    cli = pk_client(pk_client_config(pki, version, certificate=stolen))
    with pytest.raises(RemoteProtocolError) as info:
        pump(cli, srv)
    assert info.value.alert.name == "decrypt_error"
    assert srv.conn.state.name == "ERROR" and srv.handshake is None
