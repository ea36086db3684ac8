"""Kong's own kong.client.tls scenarios (spec §6.B, §6.C), end to end.

Each runs a plugin written for Kong's Python PDK through purekong's phase
runner on a real in-memory TLS handshake, with a root, an intermediate and a
leaf that have the DN shapes of Kong's test certificates.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509

from _handshake_helpers import certificate_authorities
from _kong_pki import LEAF_DN
from purekong.engine import CertifiedKey, HandshakeMessageTrace
from purekong.testing import KongHarness

PLUGIN = Path(__file__).parent / "kong_plugins" / "cert-requester.py"


@pytest.fixture(scope="module")
def client_cert(kong_pki):
    root, inter, leaf = kong_pki
    return CertifiedKey((leaf.cert, inter.cert), leaf.key)


def harness(ca_pem=None, **kw):
    return KongHarness([(PLUGIN, {"ca_pem": ca_pem})], **kw)


VERSIONS = [("TLSv1.3",), ("TLSv1.2",)]


@pytest.mark.parametrize("versions", VERSIONS)
def test_1_no_request_gives_none(versions, client_cert):
    kong = KongHarness([])  # no certificate-phase plugin: the server never asks
    result = kong.request(client_certificate=client_cert, versions=versions)
    assert result.log["request"]["tls"]["client_verify"] == "NONE"
    assert result.handshake.peer_certificates is None


@pytest.mark.parametrize("versions", VERSIONS)
def test_2_request_without_ca_list(versions, kong_pki, client_cert):
    root, inter, leaf = kong_pki
    result = harness().request(client_certificate=client_cert, versions=versions)
    assert result.log["request"]["tls"]["client_verify"] == "FAILED:unable to get local issuer certificate"
    # The chain as sent, leaf first, canonical PEM (what Kong returns).
    assert result.handshake.peer_certificates_pem() == leaf.pem + inter.pem
    assert ("X-Client-Chain-Length", "2") in result.upstream_request.headers
    subject = x509.load_der_x509_certificate(result.handshake.peer_certificates[0]).subject
    assert subject.rfc4514_string() == LEAF_DN


@pytest.mark.parametrize("versions", VERSIONS)
def test_3_request_with_intermediate_and_root(versions, kong_pki, client_cert):
    root, inter, leaf = kong_pki
    result = harness(inter.pem + root.pem).request(client_certificate=client_cert, versions=versions)
    assert result.log["request"]["tls"]["client_verify"] == "FAILED:unable to get issuer certificate"


def test_4_request_with_intermediate_only(kong_pki, client_cert):
    root, inter, leaf = kong_pki
    result = harness(inter.pem).request(client_certificate=client_cert)
    assert result.log["request"]["tls"]["client_verify"] == "FAILED:unable to get issuer certificate"


@pytest.mark.parametrize("versions", VERSIONS)
def test_5_client_without_certificate_still_completes(versions, kong_pki):
    root, inter, leaf = kong_pki
    result = harness(inter.pem + root.pem).request(client_certificate=None, versions=versions)
    assert result.response.status == 200
    assert result.log["request"]["tls"]["client_verify"] == "NONE"
    assert ("X-Client-Chain-Length", "0") in result.upstream_request.headers


@pytest.mark.parametrize("versions", VERSIONS)
def test_6_ca_dn_hints_in_order(versions, kong_pki, client_cert):
    root, inter, leaf = kong_pki
    requests = []

    def trace(item):
        if isinstance(item, HandshakeMessageTrace) and item.direction == "sent" and item.msg_type == 13:
            requests.append(item.raw)

    harness(inter.pem + root.pem, trace=trace).request(client_certificate=None, versions=versions)
    assert len(requests) == 1
    names = certificate_authorities(requests[0], tls13=versions == ("TLSv1.3",))
    assert names == [inter.cert.subject.public_bytes(), root.cert.subject.public_bytes()]


def test_no_ca_list_sends_no_dns(client_cert):
    for versions in VERSIONS:
        requests = []
        harness(trace=lambda t: requests.append(t.raw) if getattr(t, "msg_type", None) == 13 else None).request(
            client_certificate=client_cert, versions=versions
        )
        assert certificate_authorities(requests[0], tls13=versions == ("TLSv1.3",)) == []


def test_depth_setting_gives_real_verification(kong_pki, client_cert):
    root, inter, leaf = kong_pki
    result = harness(root.pem, verify_depth=1).request(client_certificate=client_cert)
    assert result.log["request"]["tls"]["client_verify"] == "SUCCESS"


# -- §6.C: the log serializer ------------------------------------------------


def test_plain_http_has_no_tls_field():
    result = harness().request(tls=False)
    assert "tls" not in result.log["request"]


@pytest.mark.parametrize("versions", VERSIONS)
def test_https_without_client_cert_logs_tls_info(versions):
    result = KongHarness([]).request(versions=versions)
    tls = result.log["request"]["tls"]
    assert tls["version"] == versions[0]
    assert isinstance(tls["cipher"], str) and tls["cipher"]
    assert tls["client_verify"] == "NONE"


def test_client_verify_can_be_overwritten(kong_pki):
    result = KongHarness([(PLUGIN, {"override": "SUCCESS"})]).request()
    assert result.log["request"]["tls"]["client_verify"] == "SUCCESS"
