"""A purekong client judges the server's chain when it arrives.

It used to verify only after the handshake, so it sent its Finished and
then bad_certificate. Now the chain is judged with the server's Certificate
(TLS 1.3: and CertificateVerify; TLS 1.2: at ServerHelloDone), before the
client sends anything more, and the alert is the one ``openssl s_client
-verify_return_error`` sends for the same chain (RFC 8446 §6.2, RFC 5246
§7.2.2): unknown_ca, certificate_expired, bad_certificate.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from purekong._devpki import dev_name, issue
from purekong.engine import AlertDescription, ProtocolError

from _engine_helpers import HOST, TLS, Std, pk_client, pk_client_config, pump


@dataclass(frozen=True)
class BadChain:
    name: str
    chain_pem: str  # file: leaf (and intermediate)
    key_pem: str  # file
    server_name: str
    expected: AlertDescription


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _expired_leaf(issuer: x509.Certificate, issuer_key, key) -> x509.Certificate:
    now = dt.datetime.now(dt.timezone.utc)
    return (
        x509.CertificateBuilder().subject_name(dev_name(HOST)).issuer_name(issuer.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=30)).not_valid_after(now - dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key()), critical=False)
        .sign(issuer_key, hashes.SHA256())
    )


@pytest.fixture(scope="module")
def bad_chains(pki, tmp_path_factory) -> dict[str, BadChain]:
    directory: Path = tmp_path_factory.mktemp("bad-chains")
    key = ec.generate_private_key(ec.SECP256R1())
    key_file = directory / "key.pem"
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    other_key = ec.generate_private_key(ec.SECP256R1())
    other_ca = issue("an untrusted CA", other_key, None, None, days=3, ca=True)
    inter, inter_key = pki.server_inter.cert, pki.server_inter.key
    leaves = {
        "unknown-ca": (issue(HOST, key, other_ca, other_key, days=3, sans=[x509.DNSName(HOST)]), other_ca, HOST, AlertDescription.unknown_ca),
        "expired": (_expired_leaf(inter, inter_key, key), inter, HOST, AlertDescription.certificate_expired),
        "wrong-name": (issue("elsewhere.example", key, inter, inter_key, days=3, sans=[x509.DNSName("elsewhere.example")]), inter, HOST,
                       AlertDescription.bad_certificate),
    }
    chains = {}
    for name, (leaf, issuer, server_name, expected) in leaves.items():
        path = directory / f"{name}.pem"
        path.write_text(_pem(leaf) + _pem(issuer))
        chains[name] = BadChain(name, str(path), str(key_file), server_name, expected)
    return chains


CASES = ["unknown-ca", "expired", "wrong-name"]


@pytest.mark.parametrize("version", ["1.3", "1.2"])
@pytest.mark.parametrize("case", CASES)
def test_a_rejected_chain_gets_no_client_finished(pki, bad_chains, case, version):
    bad = bad_chains[case]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(bad.chain_pem, bad.key_pem)
    context.minimum_version = context.maximum_version = TLS[version]
    server = Std(context, server_side=True)
    client = pk_client(pk_client_config(pki, version), bad.server_name)
    with pytest.raises(ProtocolError) as refused:
        pump(client, server)
    assert refused.value.alert == bad.expected, refused.value
    assert client.handshake is None
    # What the client sent after the server's flight: its alert and nothing else.
    server.feed(client.out())
    with pytest.raises(ssl.SSLError) as seen_by_server:
        server.step()
    assert not server.handshake_done, "the server completed: it received the client's Finished"
    assert f"alert {bad.expected.name.replace('_', ' ')}" in str(seen_by_server.value).lower(), seen_by_server.value


# -- what OpenSSL's own client sends for the same chains ---------------------------------------
needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")


def _openssl_client_alert(pki, bad: BadChain) -> int:
    """Run s_client -verify_return_error against s_server serving ``bad``; the alert s_server got."""
    server = subprocess.Popen(
        ["openssl", "s_server", "-accept", "0", "-naccept", "1", "-tls1_3", "-cert", bad.chain_pem, "-key", bad.key_pem,
         "-cert_chain", bad.chain_pem],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        assert server.stdout is not None
        lines = []
        while not (port := re.search(r"ACCEPT .*:(\d+)", lines[-1] if lines else "")):
            lines.append(server.stdout.readline().decode())
            assert lines[-1], lines
        subprocess.run(
            ["openssl", "s_client", "-connect", f"127.0.0.1:{port.group(1)}", "-servername", bad.server_name,
             "-verify_hostname", bad.server_name, "-CAfile", pki.files["root"], "-verify_return_error"],
            input=b"", capture_output=True, timeout=20,
        )
        output = server.communicate(timeout=20)[0].decode(errors="replace")
    finally:
        server.kill()
    alert = re.search(r"SSL alert number (\d+)", output)
    assert alert, output
    return int(alert.group(1))


@needs_openssl
@pytest.mark.parametrize("case", CASES)
def test_the_alert_is_the_one_openssl_s_client_sends(pki, bad_chains, case):
    bad = bad_chains[case]
    assert _openssl_client_alert(pki, bad) == bad.expected.value
