"""TLS 1.3 CertificateRequest: certificate signatures and CertificateVerify
signatures governed separately (RFC 8446 §4.2.3, §4.4.2.3; issue 10, defect 3)."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from purekong.engine import ServerConfig

from _conformance_helpers import s_client, serve_one, text
from _engine_helpers import Recorder, certificate_request_dns, pump, server, std_client
from _pki import make_ca, make_leaf, pool_key

PKCS1 = {0x0401, 0x0501, 0x0601}


def u16s(data: bytes) -> list[int]:
    n = int.from_bytes(data[:2], "big")
    return [int.from_bytes(data[2 + i : 4 + i], "big") for i in range(0, n, 2)]


@pytest.fixture(scope="module")
def rsa_client(tmp_path_factory):
    """An RSA client certificate signed with sha256WithRSAEncryption (PKCS#1), as corporate CAs issue."""
    directory = tmp_path_factory.mktemp("rsa-client")
    ca = make_ca("CN=Corporate RSA CA", key=pool_key("rsa", 50))
    leaf = make_leaf(ca, "CN=employee", key=pool_key("rsa", 51))
    assert leaf.cert.signature_algorithm_oid == x509.oid.SignatureAlgorithmOID.RSA_WITH_SHA256
    (directory / "cert.pem").write_text(leaf.pem)
    (directory / "key.pem").write_bytes(leaf.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                                serialization.NoEncryption()))
    return leaf, str(directory / "cert.pem"), str(directory / "key.pem")


def sent_certificate_request(pki, version: str) -> bytes:
    trace = Recorder()
    srv = server(ServerConfig(certificates=(pki.server_key("ec"),)), trace=trace, request_client_certificate=True)
    pump(std_client(pki, version), srv)
    (request,) = trace.messages("sent", 13)
    return request.raw


def test_tls13_certificate_request_has_signature_algorithms_cert(pki):
    _, exts = certificate_request_dns(sent_certificate_request(pki, "1.3"), "1.3")
    signature_algorithms = set(u16s(exts[13]))
    certificate_schemes = set(u16s(exts[50]))
    assert not signature_algorithms & PKCS1  # CertificateVerify stays PSS-only for RSA (RFC 8446 §4.4.3)
    assert PKCS1 <= certificate_schemes  # certificates may be PKCS#1-signed
    assert {0x0403, 0x0503, 0x0603, 0x0807, 0x0804, 0x0805, 0x0806, 0x0809, 0x080A, 0x080B} <= certificate_schemes
    assert not {u >> 8 for u in certificate_schemes} & {1, 2}  # no MD5/SHA-1


def test_openssl_client_sends_a_pkcs1_signed_certificate(pki, rsa_client):
    """openssl s_client sees signature_algorithms_cert, sends its RSA PKCS#1-signed
    certificate, and signs CertificateVerify with RSA-PSS.

    (OpenSSL 3.0 itself sends the certificate even without the extension,
    and with ``-strict`` sends no certificate in TLS 1.3 at all, so what
    this pins from the real peer is the extension it parsed.)"""
    leaf, cert, key = rsa_client
    served = serve_one(ServerConfig(certificates=(pki.server_key("ec"),)), request_client_certificate=True)
    output = text(s_client(served.port, "-tls1_3", "-cert", cert, "-key", key, "-trace"))
    served.join()
    assert served.error is None
    handshake = served.server.handshake
    assert handshake is not None and handshake.peer_certificates == (leaf.der,)
    request = output[output.index("CertificateRequest") :]
    assert "extension_type=signature_algorithms_cert(50)" in request
    client_verify = output[output.rindex("CertificateVerify") :]  # the server's comes first
    assert "Signature Algorithm: rsa_pss_rsae_" in client_verify.splitlines()[1]  # PSS, never PKCS#1
    assert "hello from purekong" in output


def test_tls12_certificate_request_still_lists_pkcs1(pki):
    """In TLS 1.2 one list governs both, and PKCS#1 is allowed there."""
    raw = sent_certificate_request(pki, "1.2")
    body = raw[4:]
    n = body[0]
    schemes = set(u16s(body[1 + n :]))
    assert PKCS1 <= schemes and not {u >> 8 for u in schemes} & {1, 2}
