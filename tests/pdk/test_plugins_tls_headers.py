"""tls-handshake-modifier and tls-metadata-headers end to end (spec §6.E 1-4).

Real in-memory handshakes through purekong.testing.KongHarness, configured
from a Declarative as the gateway would. Routing is not modelled by the
harness (every plugin runs on every request), so Kong's 404 for an unknown SNI
is the server's business; here we check what the handshake did.
"""

from __future__ import annotations

import logging

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from _handshake_helpers import handshake
from _pki import make_cert, make_leaf
from purekong.engine import CertifiedKey
from purekong.gateway import Declarative, PluginEntity, Route, Service
from purekong.plugins import certificate_handlers
from purekong.plugins._nginx import lua_escape_uri
from purekong.testing import KongHarness

A = x509.NameAttribute
VERSIONS = [("TLSv1.3",), ("TLSv1.2",)]
SERVICE = Service("svc", "svc", "https")


@pytest.fixture(scope="module")
def header_certs(kong_pki):
    """Kong's test chain (conftest; the leaf's serial is 0x2001) and Kong's
    good and bad client certificates."""
    root, inter, leaf = kong_pki
    # Kong's good_tls_client.crt: self-signed, serial 0x65, this DN.
    kong_dn = x509.Name([A(NameOID.COUNTRY_NAME, "AU"), A(NameOID.STATE_OR_PROVINCE_NAME, "NSW"),
                         A(NameOID.LOCALITY_NAME, "Sydney"), A(NameOID.ORGANIZATION_NAME, "Kong"),
                         A(NameOID.ORGANIZATIONAL_UNIT_NAME, "PS"), A(NameOID.EMAIL_ADDRESS, "test@test.com")])
    good = make_cert(kong_dn, None, serial=0x65)
    bad = make_leaf(None, "CN=test.com,OU=Kong Inc,O=Kong Inc,L=San Francisco,ST=California,C=US",
                    serial=0x101B76125AB64444CEFA66A89D5F60A100E8B6B1)
    return {"root": root, "inter": inter, "leaf": leaf, "good": good, "bad": bad}


def client(*issued):
    return CertifiedKey(tuple(i.cert for i in issued), issued[0].key)


def declarative(*plugins, routes=(Route("r1", "r1", "svc", hosts=("example.com",)),)):
    return Declarative(services=(SERVICE,), routes=routes, plugins=plugins)


# -- §6.E 1: tls-handshake-modifier on a route with hosts ---------------------------


@pytest.mark.parametrize("versions", VERSIONS)
def test_1_handshake_modifier_accepts_good_bad_and_no_certificate(header_certs, versions):
    kong = KongHarness(declarative=declarative(PluginEntity("p", "tls-handshake-modifier", {}, route="r1")))
    for cert in (client(header_certs["leaf"], header_certs["inter"]), client(header_certs["bad"]), None):
        result = kong.request(client_certificate=cert, server_name="example.com", versions=versions)
        assert result.response.status == 200
        if cert is None:
            assert result.log["request"]["tls"]["client_verify"] == "NONE"
        else:
            # Requested (a route without SNIs: "*"), never validated: the
            # handshake verdict is nginx's depth-0 one against an empty store.
            assert result.handshake.peer_certificates is not None
            assert result.log["request"]["tls"]["client_verify"].startswith("FAILED:")


@pytest.mark.parametrize("versions", VERSIONS)
def test_1_requests_without_ca_names_and_disables_session_reuse(header_certs, versions):
    handlers = certificate_handlers(declarative(PluginEntity("p", "tls-handshake-modifier", {})))
    phases, done, requests = handshake(handlers, certificate=client(header_certs["good"]), versions=versions)
    assert requests == [[]]  # one CertificateRequest, no certificate_authorities
    assert phases.requests.request_client_certificate and phases.requests.disable_session_reuse
    assert phases.requests.ca_certificates is None
    assert done.peer_certificates is not None


# -- §6.E 2: wildcard SNIs and the log lines -----------------------------------------


@pytest.fixture
def wildcard_kong():
    routes = (Route("prefix", "prefix", "svc", protocols=("https",), snis=("bar.*",)),
              Route("postfix", "postfix", "svc", protocols=("https",), snis=("*.foo.test",)))
    return KongHarness(declarative=declarative(
        PluginEntity("p1", "tls-handshake-modifier", {}, route="prefix"),
        PluginEntity("p2", "tls-handshake-modifier", {}, route="postfix"),
        routes=routes,
    ))


@pytest.mark.parametrize("sni, line", [
    ("a.foo.test", "a.foo.test matched the sni with the leftmost wildcard *.foo.test"),
    ("bar.x", "bar.x matched the sni with the rightmost wildcard bar.*"),
])
def test_2_wildcard_snis_request_the_certificate(wildcard_kong, header_certs, caplog, sni, line):
    caplog.set_level(logging.DEBUG, logger="purekong.kong")
    result = wildcard_kong.request(client_certificate=client(header_certs["leaf"], header_certs["inter"]), server_name=sni)
    assert result.response.status == 200
    messages = [r.getMessage() for r in caplog.records]
    assert f"[tls-handshake-modifier] {line}" in messages
    assert "[tls-handshake-modifier] enabled, will request certificate from client" in messages
    assert result.handshake.peer_certificates is not None


def test_2_unknown_sni_requests_nothing(wildcard_kong, header_certs, caplog):
    caplog.set_level(logging.DEBUG, logger="purekong.kong")
    result = wildcard_kong.request(client_certificate=client(header_certs["leaf"], header_certs["inter"]), server_name="x.y.z")
    messages = [r.getMessage() for r in caplog.records]
    assert "[tls-handshake-modifier] client sent an unknown sni x.y.z" in messages
    assert not any("enabled, will request certificate" in m for m in messages)
    assert result.handshake.peer_certificates is None  # never asked
    assert result.log["request"]["tls"]["client_verify"] == "NONE"


def test_2_no_sni(wildcard_kong, caplog):
    caplog.set_level(logging.DEBUG, logger="purekong.kong")
    wildcard_kong.request(server_name=None)
    assert "[tls-handshake-modifier] client didn't send an sni" in [r.getMessage() for r in caplog.records]


# -- §6.E 3: tls-metadata-headers alone -----------------------------------------------


def test_3_metadata_headers_alone_sees_no_certificate(header_certs, caplog):
    kong = KongHarness(declarative=declarative(
        PluginEntity("m", "tls-metadata-headers", {"inject_client_cert_details": True}, route="r1")))
    for cert in (client(header_certs["good"]), client(header_certs["bad"]), None):
        result = kong.request(client_certificate=cert, server_name="example.com")
        assert result.response.status == 200
        assert not any(k.lower().startswith("x-client-cert") for k, _ in result.upstream_request.headers)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert "[tls-metadata-headers] plugin enabled to inject tls client certificate headers, " \
           "but no client certificate was provided" in errors
    assert "[tls-metadata-headers] could not get full client certificate chain" in errors


def test_3_disabled_injection_sets_nothing_even_with_a_certificate(header_certs):
    kong = KongHarness(declarative=declarative(
        PluginEntity("t", "tls-handshake-modifier", {}), PluginEntity("m", "tls-metadata-headers", {})))
    result = kong.request(client_certificate=client(header_certs["good"]))
    assert not any(k.lower().startswith("x-client-cert") for k, _ in result.upstream_request.headers)


# -- §6.E 4: both plugins ---------------------------------------------------------------


@pytest.fixture
def both():
    return KongHarness(declarative=declarative(
        PluginEntity("t", "tls-handshake-modifier", {}, route="r1"),
        PluginEntity("m", "tls-metadata-headers", {"inject_client_cert_details": True}, route="r1")))


@pytest.mark.parametrize("versions", VERSIONS)
def test_4_headers_for_kongs_good_client(both, header_certs, versions):
    good = header_certs["good"]
    result = both.request(client_certificate=client(good), server_name="tls.test", versions=versions)
    headers = dict(result.upstream_request.headers)
    assert headers["X-Client-Cert"] == lua_escape_uri(good.pem)  # escape_uri(read_fixture(...)) in Kong's test
    assert headers["X-Client-Cert-Serial"] == "65"
    assert headers["X-Client-Cert-Issuer-DN"] == "emailAddress=test@test.com,OU=PS,O=Kong,L=Sydney,ST=NSW,C=AU"
    assert headers["X-Client-Cert-Subject-DN"] == "emailAddress=test@test.com,OU=PS,O=Kong,L=Sydney,ST=NSW,C=AU"
    assert headers["X-Client-Cert-Fingerprint"] == good.cert.fingerprint(hashes.SHA1()).hex()
    assert headers["X-Client-Cert-Chain"] == lua_escape_uri(good.pem)


def test_4_escaping_is_byte_exact(both, header_certs):
    result = both.request(client_certificate=client(header_certs["good"]))
    value = dict(result.upstream_request.headers)["X-Client-Cert"]
    assert value.startswith("-----BEGIN%20CERTIFICATE-----%0A") and value.endswith("-----END%20CERTIFICATE-----%0A")
    body = value[len("-----BEGIN%20CERTIFICATE-----%0A"):]
    assert set(body) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789%-")
    assert "+" not in value and "/" not in value and "=" not in value and " " not in value


def test_4_bad_client_is_not_validated(both, header_certs):
    result = both.request(client_certificate=client(header_certs["bad"]))
    headers = dict(result.upstream_request.headers)
    assert headers["X-Client-Cert-Serial"] == "101B76125AB64444CEFA66A89D5F60A100E8B6B1"
    dn = "emailAddress=test@test.test,CN=test.com,OU=Kong Inc,O=Kong Inc,L=San Francisco,ST=California,C=US"
    # Our "bad" cert has no emailAddress; its DN is the same shape without it.
    assert headers["X-Client-Cert-Subject-DN"] == dn.split(",", 1)[1]
    assert headers["X-Client-Cert-Issuer-DN"] == headers["X-Client-Cert-Subject-DN"]


@pytest.mark.parametrize("versions", VERSIONS)
def test_4_chain_with_two_certificates(both, header_certs, versions):
    leaf, inter = header_certs["leaf"], header_certs["inter"]
    result = both.request(client_certificate=client(leaf, inter), versions=versions)
    headers = dict(result.upstream_request.headers)
    assert headers["X-Client-Cert"] == lua_escape_uri(leaf.pem)  # the leaf only
    assert headers["X-Client-Cert-Chain"] == lua_escape_uri(leaf.pem + inter.pem)  # the whole file
    assert headers["X-Client-Cert-Serial"] == "2001"
    assert headers["X-Client-Cert-Issuer-DN"] == "CN=Kong Testing Intermidiate CA,O=Kong Testing,ST=California,C=US"
    assert headers["X-Client-Cert-Subject-DN"] == "CN=foo@example.com,O=Kong Testing,ST=California,C=US"


def test_4_no_certificate_no_headers(both):
    result = both.request(client_certificate=None)
    assert not any(k.lower().startswith("x-client-cert") for k, _ in result.upstream_request.headers)


def test_4_custom_header_names(header_certs):
    names = {"client_cert_header_name": "X-Client-Cert-Custom",
             "client_serial_header_name": "X-Client-Cert-Serial-Custom",
             "client_cert_issuer_dn_header_name": "X-Client-Cert-Issuer-DN-Custom",
             "client_cert_subject_dn_header_name": "X-Client-Cert-Subject-DN-Custom",
             "client_cert_fingerprint_header_name": "X-Client-Cert-Fingerprint-Custom"}
    kong = KongHarness(declarative=declarative(
        PluginEntity("t", "tls-handshake-modifier", {}),
        PluginEntity("m", "tls-metadata-headers", {"inject_client_cert_details": True, **names})))
    headers = dict(kong.request(client_certificate=client(header_certs["good"])).upstream_request.headers)
    assert headers["X-Client-Cert-Serial-Custom"] == "65"
    assert headers["X-Client-Cert-Custom"] == lua_escape_uri(header_certs["good"].pem)
    assert "X-Client-Cert-Chain" in headers and "X-Client-Cert" not in headers


def test_4_empty_subject_leaves_the_dn_header_out(header_certs):
    root = header_certs["root"]
    san = x509.SubjectAlternativeName([x509.DNSName("spiffe.test")])
    empty = make_leaf(root, x509.Name([]), extensions=[(san, True)])
    kong = KongHarness(declarative=declarative(
        PluginEntity("t", "tls-handshake-modifier", {}),
        PluginEntity("m", "tls-metadata-headers", {"inject_client_cert_details": True})))
    result = kong.request(client_certificate=client(empty))
    headers = dict(result.upstream_request.headers)
    assert result.response.status == 200
    assert "X-Client-Cert-Subject-DN" not in headers
    assert headers["X-Client-Cert-Issuer-DN"] == "CN=Kong Testing Root CA,O=Kong Testing,ST=California,C=US"
