"""Signature schemes: no SHA-1 or MD5 anywhere in TLS 1.2 (RFC 9155), only
schemes the key can make, and the server's configured preference
(issue 10, defects 1 and 4)."""

from __future__ import annotations

import socket
import subprocess
import threading

import pytest
from hypothesis import event, given, settings, strategies as st
from tlslite.handshakesettings import HandshakeSettings
from tlslite.tlsconnection import TLSConnection
from tlslite.utils.keyfactory import parsePEMKey
from tlslite.x509certchain import X509CertChain

from purekong.engine import (
    NEED_DATA,
    PAUSED,
    AlertDescription,
    CertifiedKey,
    HandshakeComplete,
    RemoteProtocolError,
    ServerConfig,
    ServerConnection,
)

from _engine_helpers import (
    HOST,
    PK,
    Std,
    Hello,
    Recorder,
    alert_records,
    handshake_messages,
    pk_client,
    pk_client_config,
    pump,
    std_client,
    std_client_context,
    u16_list,
)
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from _pki import make_cert, make_leaf, pool_key

HANDSHAKE_FAILURE = bytes([21, 3, 3, 0, 2, 2, 40])
SHA1_OR_MD5 = {0x0101, 0x0201, 0x0103, 0x0203, 0x0102, 0x0202}


def tls12_hello(pki) -> Hello:
    cli = std_client(pki, "1.2")
    cli.step()
    return Hello.parse(cli.out())


def run_server(config: ServerConfig, record: bytes, **proceed) -> tuple[ServerConnection, bytes, Exception | None]:
    """Feed one ClientHello record; return the connection, its output and any error."""
    srv = ServerConnection(config)
    srv.receive_data(record)
    error = None
    try:
        srv.next_event()
        srv.proceed(**proceed)
        srv.next_event()
    except RemoteProtocolError as exc:
        error = exc
    return srv, srv.data_to_send(), error


def server_key_exchange_scheme(output: bytes) -> int | None:
    """The SignatureScheme of a TLS 1.2 ECDHE ServerKeyExchange (RFC 8422 §5.4)."""
    for message in handshake_messages(output):
        if message[0] == 12:
            body = message[4:]
            assert body[0] == 3  # named_curve
            point_len = body[3]
            return int.from_bytes(body[4 + point_len : 6 + point_len], "big")
    return None


# -- defect 1: no signature_algorithms in TLS 1.2 -----------------------------

@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_tls12_hello_without_signature_algorithms_gets_handshake_failure(pki, kind):
    """RFC 9155 §4: no signature_algorithms and a signature needed: handshake_failure.

    tlslite fell back to RFC 5246's default, rsa_pkcs1_sha1 / ecdsa_sha1."""
    hello = tls12_hello(pki).set_ext(13, None)
    _, output, error = run_server(ServerConfig(certificates=(pki.server_key(kind),)), hello.record())
    assert server_key_exchange_scheme(output) is None
    assert error is not None and error.alert == AlertDescription.handshake_failure
    assert alert_records(output) == [HANDSHAKE_FAILURE]


def test_tls12_resumption_without_signature_algorithms_still_works(pki):
    """No signature is made on an abbreviated handshake, so RFC 9155 does not apply."""
    config = ServerConfig(certificates=(pki.server_key("ec"),))
    ctx = std_client_context(pki, "1.2", tickets=False)
    first = Std(ctx, server_side=False, server_hostname=HOST)
    pump(first, PK(ServerConnection(config)))
    second = Std(ctx, server_side=False, server_hostname=HOST, session=first.obj.session)
    second.step()
    hello = Hello.parse(second.out()).set_ext(13, None)
    srv = PK(ServerConnection(config))
    srv.feed(hello.record())
    srv.step()
    assert srv.hellos[0].resumes_session
    assert srv.error is None and not alert_records(srv.out())


# -- the property: whatever the hello, nothing SHA-1 or MD5 is signed ---------

SCHEMES = [0x0201, 0x0203, 0x0101, 0x0103, 0x0301, 0x0303, 0x0401, 0x0403, 0x0501, 0x0503,
           0x0601, 0x0603, 0x0804, 0x0805, 0x0806, 0x0807, 0x0809]


@pytest.fixture(scope="module")
def hello12(pki):
    return tls12_hello(pki)


@pytest.fixture(scope="module")
def configs(pki):
    return {kind: ServerConfig(certificates=(pki.server_key(kind),), session_resumption=False) for kind in ("rsa", "ec")}


SUITES = [0xC02B, 0xC02C, 0xC02F, 0xC030, 0xCCA8, 0xCCA9, 0x009E, 0x002F, 0xC013, 0x00FF]
GROUPS = [0x001D, 0x0017, 0x0018, 0x0019, 0x0100]


@settings(deadline=None)  # max_examples from the profile (tests/conftest.py)
@given(kind=st.sampled_from(["rsa", "ec"]),
       sigalgs=st.one_of(st.none(), *[st.lists(st.sampled_from(SCHEMES), min_size=1, max_size=8, unique=True)] * 3),
       suites=st.lists(st.sampled_from(SUITES), min_size=1, max_size=6, unique=True),
       groups=st.sampled_from([None, None, None]) | st.lists(st.sampled_from(GROUPS), min_size=1, max_size=4, unique=True),
       usable_suite=st.booleans(),
       request_cert=st.booleans())
def test_property_no_sha1_or_md5_signature_in_tls12(hello12, configs, kind, sigalgs, suites, groups, usable_suite, request_cert):
    """Any TLS 1.2 ClientHello (signature_algorithms, suites and groups varied):
    whatever the server accepts, it signs with an offered scheme that is
    neither SHA-1 nor MD5, and asks for neither in its CertificateRequest."""
    if usable_suite:  # often offer one suite the certificate can use, so that many hellos get signed
        suites = [*suites, 0xC02B if kind == "ec" else 0xC02F]
    hello = Hello(hello12.version, hello12.random, hello12.session_id, list(suites), hello12.compression,
                  [list(e) for e in hello12.exts])
    hello.set_ext(13, None if sigalgs is None else u16_list(sigalgs))
    hello.set_ext(10, None if groups is None else u16_list(groups))
    _, output, error = run_server(configs[kind], hello.record(), request_client_certificate=request_cert)
    scheme = server_key_exchange_scheme(output)
    event("signed" if scheme is not None else "refused")
    if scheme is None:
        assert error is not None  # refused: the alert is all there is
        assert alert_records(output)
        return
    assert scheme not in SHA1_OR_MD5 and scheme >> 8 not in (1, 2)
    assert sigalgs and scheme in sigalgs
    for message in handshake_messages(output):
        if message[0] == 13:  # CertificateRequest: never asks for SHA-1/MD5
            body = message[4:]
            n = body[0]
            length = int.from_bytes(body[1 + n : 3 + n], "big")
            asked = [int.from_bytes(body[3 + n + i : 5 + n + i], "big") for i in range(0, length, 2)]
            assert asked and not set(asked) & SHA1_OR_MD5


# -- a client CertificateVerify signed with SHA-1 is refused ------------------

def tlslite_sha1_client(pki, sock: socket.socket, result: dict) -> None:
    """A tlslite client whose only hash for CertificateVerify is SHA-1.

    Its hello offers RSA schemes with SHA-256 (the server's RSA key signs
    with one) and ecdsa_sha1; its key is ECDSA, and tlslite's client signs
    with its first scheme when none matches the server's CertificateRequest
    ("last resort"), so its CertificateVerify is ecdsa_sha1."""
    leaf = pki.client_leaf
    from cryptography.hazmat.primitives import serialization

    key_pem = leaf.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()).decode()
    chain = X509CertChain()
    chain.parsePemList(leaf.pem)
    settings_ = HandshakeSettings()
    settings_.minVersion = settings_.maxVersion = (3, 3)
    settings_.ecdsaSigHashes = ["sha1"]
    settings_.rsaSigHashes = ["sha256"]
    conn = TLSConnection(sock)
    try:
        conn.handshakeClientCert(chain, parsePEMKey(key_pem, private=True), settings=settings_, serverName=HOST)
        result["ok"] = True
    except Exception as exc:  # the server's alert
        result["error"] = exc
    finally:
        sock.close()


def test_tls12_client_certificate_verify_with_sha1_is_refused(pki):
    ours, theirs = socket.socketpair()
    result: dict = {}
    thread = threading.Thread(target=tlslite_sha1_client, args=(pki, theirs, result), daemon=True)
    thread.start()
    srv = ServerConnection(ServerConfig(certificates=(pki.server_key("rsa"),), request_client_certificate=True))
    ours.settimeout(10)
    error = None
    try:
        while error is None:
            data = ours.recv(65536)
            srv.receive_data(data)
            try:
                while True:
                    event = srv.next_event()
                    if event is PAUSED:
                        srv.proceed()
                        continue
                    if event is NEED_DATA or isinstance(event, HandshakeComplete):
                        break
            except RemoteProtocolError as exc:
                error = exc
            ours.sendall(srv.data_to_send())
            if not data:
                break
    finally:
        ours.close()
        thread.join(10)
    assert error is not None and error.alert == AlertDescription.illegal_parameter
    assert "Certificate Verify" in str(error)
    assert "ok" not in result




# -- defect 4: the key decides what can be signed; ServerConfig.signature_schemes

@pytest.fixture(scope="module")
def rsa1024(pki, tmp_path_factory):
    leaf = make_cert(HOST, pki.server_inter, key=pool_key("rsa", 40, 1024), key_usage={"digital_signature", "key_encipherment"},
                     eku=[ExtendedKeyUsageOID.SERVER_AUTH], extensions=[(x509.SubjectAlternativeName([x509.DNSName(HOST)]), False)])
    return CertifiedKey((leaf.cert, pki.server_inter.cert), leaf.key)


def seclevel1_client(pki, version: str) -> Std:
    ctx = std_client_context(pki, version)
    ctx.set_ciphers("DEFAULT:@SECLEVEL=1")  # OpenSSL's default level 2 refuses RSA-1024 itself
    return Std(ctx, server_side=False, server_hostname=HOST)


@pytest.mark.parametrize("version", ["1.3", "1.2"])
def test_rsa_1024_server_completes_with_openssl(pki, rsa1024, version):
    """tlslite picked rsa_pss_rsae_sha512, which a 1024-bit key cannot make:
    internal_error on every TLS 1.3 handshake."""
    cli = seclevel1_client(pki, version)
    srv = PK(ServerConnection(ServerConfig(certificates=(rsa1024,))))
    pump(cli, srv)
    assert srv.error is None and srv.handshake is not None
    assert cli.handshake_done and cli.obj.version() == f"TLSv{version}"


def certificate_verify_scheme(client_trace) -> int:
    (cv,) = client_trace.messages("received", 15)
    return int.from_bytes(cv.raw[4:6], "big")


@pytest.mark.parametrize("schemes,expected", [
    (None, 0x0804),  # the default: OpenSSL's order, SHA-256 first
    (("rsa_pss_rsae_sha512", "rsa_pss_rsae_sha256"), 0x0806),
    (("rsa_pss_rsae_sha384",), 0x0805),
])
def test_signature_schemes_order_is_the_servers(pki, schemes, expected):
    kw = {} if schemes is None else {"signature_schemes": schemes}
    srv = PK(ServerConnection(ServerConfig(certificates=(pki.server_key("rsa"),), **kw)))
    trace = Recorder()
    cli = pk_client(pk_client_config(pki, "1.3"), trace=trace)
    pump(cli, srv)
    assert cli.handshake is not None
    assert certificate_verify_scheme(trace) == expected


def test_rsa_1024_skips_what_the_key_cannot_make(pki, rsa1024):
    """With rsa_pss_rsae_sha512 preferred, a 1024-bit key still signs (with the next one)."""
    config = ServerConfig(certificates=(rsa1024,), signature_schemes=("rsa_pss_rsae_sha512", "rsa_pss_rsae_sha384"))
    trace = Recorder()
    cli = pk_client(pk_client_config(pki, "1.3"), trace=trace)
    pump(cli, PK(ServerConnection(config)))
    assert cli.handshake is not None
    assert certificate_verify_scheme(trace) == 0x0805


def test_tls12_server_key_exchange_follows_signature_schemes(pki):
    hello = tls12_hello(pki).set_ext(13, u16_list([0x0601, 0x0806, 0x0401, 0x0804]))
    config = ServerConfig(certificates=(pki.server_key("rsa"),), signature_schemes=("rsa_pkcs1_sha256", "rsa_pss_rsae_sha256"))
    _, output, error = run_server(config, hello.record())
    assert error is None and server_key_exchange_scheme(output) == 0x0401


def test_no_scheme_in_common_with_the_configured_list_is_handshake_failure(pki):
    hello = tls12_hello(pki).set_ext(13, u16_list([0x0806]))
    config = ServerConfig(certificates=(pki.server_key("rsa"),), signature_schemes=("rsa_pss_rsae_sha256",))
    _, output, error = run_server(config, hello.record())
    assert error is not None and error.alert == AlertDescription.handshake_failure
    assert alert_records(output) == [HANDSHAKE_FAILURE]


@pytest.mark.parametrize("schemes,message", [
    (("rsa_pkcs1_sha1",), "unsupported signature_schemes: rsa_pkcs1_sha1"),
    (("ecdsa_sha1", "rsa_pss_rsae_sha256"), "unsupported signature_schemes: ecdsa_sha1"),
    ((), "signature_schemes must not be empty"),
])
def test_signature_schemes_config_errors(pki, schemes, message):
    with pytest.raises(ValueError, match=message):
        ServerConfig(certificates=(pki.server_key("rsa"),), signature_schemes=schemes)


def test_rsa_key_under_1024_bits_refused_at_configuration(pki, tmp_path):
    """OpenSSL's security level 1 (80 bits) sets the floor; below it no TLS 1.3 scheme fits the key."""
    from cryptography.hazmat.primitives import serialization

    pem = subprocess.run(["openssl", "genrsa", "768"], capture_output=True, check=True).stdout
    key = serialization.load_pem_private_key(pem, None)
    leaf = make_leaf(pki.server_inter, HOST, key=key)
    with pytest.raises(ValueError, match="RSA keys must have at least 1024 bits"):
        CertifiedKey((leaf.cert,), key)


def test_rsa_1024_with_openssl_s_client(pki, rsa1024, tmp_path):
    """The real client: openssl s_client against a purekong server with an RSA-1024 certificate."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    outcome: dict = {}

    def serve() -> None:
        conn, _ = listener.accept()
        conn.settimeout(10)
        srv = PK(ServerConnection(ServerConfig(certificates=(rsa1024,))))
        try:
            while srv.handshake is None and srv.error is None:
                data = conn.recv(65536)
                if not data:
                    break
                srv.feed(data)
                try:
                    srv.step()
                except RemoteProtocolError as exc:
                    srv.error = exc
                conn.sendall(srv.out())
            outcome["handshake"] = srv.handshake
            outcome["error"] = srv.error
            if srv.handshake is not None:
                srv.send(b"hello from purekong\n")
                conn.sendall(srv.out())
        finally:
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    proc = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-tls1_3", "-CAfile", pki.files["root"],
         "-verify_return_error", "-servername", HOST, "-cipher", "DEFAULT:@SECLEVEL=1", "-ign_eof"],
        input=b"", capture_output=True, timeout=30)
    thread.join(10)
    listener.close()
    text = proc.stdout.decode(errors="replace")
    assert outcome.get("error") is None and outcome.get("handshake") is not None, proc.stderr.decode(errors="replace")
    assert "Server public key is 1024 bit" in text
    assert "Peer signature type: RSA-PSS" in text and "Peer signing digest: SHA256" in text
    assert "hello from purekong" in text


# -- the rest of the SHA-1 audit: the client side -----------------------------

def test_client_hello_offers_no_sha1_or_md5(pki):
    from purekong.engine import ClientConnection

    for version in ("1.2", "1.3", None):
        hello = Hello.parse(ClientConnection(pk_client_config(pki, version), HOST).data_to_send())
        offered = set(u16s(hello.ext(13)))
        assert offered and not offered & SHA1_OR_MD5 and not {s >> 8 for s in offered} & {1, 2}


def u16s(data: bytes) -> list[int]:
    n = int.from_bytes(data[:2], "big")
    return [int.from_bytes(data[2 + i : 4 + i], "big") for i in range(0, n, 2)]


@pytest.fixture(scope="module")
def sha1_chain(tmp_path_factory):
    """A CA and two leaves for "localhost" by the openssl CLI, one signed with
    sha1WithRSAEncryption and one with SHA-256 (cryptography refuses to sign with SHA-1)."""
    d = tmp_path_factory.mktemp("sha1")

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=sha1 test CA",
        "-days", "5", "-sha256", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=localhost")
    (d / "ext.cnf").write_text("subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\nauthorityKeyIdentifier=keyid\n"
                               "keyUsage=critical,digitalSignature\n")
    for digest in ("sha1", "sha256"):
        run("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", f"{digest}.pem",
            "-days", "5", f"-{digest}", "-extfile", "ext.cnf")
    from purekong.engine import load_pem_certificates

    ca = load_pem_certificates((d / "ca.pem").read_bytes())[0]
    return ca, {digest: CertifiedKey.load(d / f"{digest}.pem", d / "leaf.key") for digest in ("sha1", "sha256")}


@pytest.mark.parametrize("version", ["1.3", "1.2"])
def test_client_refuses_a_sha1_signed_server_certificate(pki, sha1_chain, version):
    from purekong.engine import ClientConfig

    ca, leaves = sha1_chain
    outcomes = {}
    for digest, key in leaves.items():
        cli = pk_client(ClientConfig(trusted_certificates=(ca,), versions=(f"TLSv{version}",)))
        try:
            pump(cli, PK(ServerConnection(ServerConfig(certificates=(key,)))))
            outcomes[digest] = "ok"
        except RemoteProtocolError as exc:
            outcomes[digest] = exc.alert.name
    assert outcomes == {"sha256": "ok", "sha1": "bad_certificate"}
