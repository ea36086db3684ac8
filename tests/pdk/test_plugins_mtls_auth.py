"""mtls-auth end to end (spec §6.E 5, §7.4): real in-memory handshakes, the
access phase, the 401/500 answers, consumer mapping and the logged verdict.
"""

from __future__ import annotations

import ipaddress
import logging

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from _handshake_helpers import der_name, handshake
from _pki import make_ca, make_cert, make_intermediate, make_leaf
from purekong.engine import CertifiedKey
from purekong.gateway import (
    CACertificate,
    Consumer,
    Declarative,
    MTLSCredential,
    PluginEntity,
    Route,
    Service,
)
from purekong.plugins import certificate_handlers
from purekong.plugins.mtls_auth import subject_names
from purekong.runner import NativePlugin, configure, plugin_from_class
from purekong.testing import KongHarness

NO_CERT = b'{"message":"No required TLS certificate was sent"}'
FAILED = b'{"message":"TLS certificate failed verification"}'
VERSIONS = [("TLSv1.3",), ("TLSv1.2",)]


@pytest.fixture(scope="module")
def mtls_certs(kong_pki):
    """Kong's test chain (conftest) and the certificates mtls-auth's tests add."""
    root, inter, leaf = kong_pki
    other = make_ca("CN=Other Kong Testing Root CA,O=Other Kong Testing,L=SF,ST=CA,C=US")
    san = x509.SubjectAlternativeName([x509.DNSName("example.test")])
    return {
        "root": root,
        "inter": inter,
        "other": other,
        "leaf": leaf,
        "kongclient": make_leaf(inter, "kongclient", extensions=[(san, False)]),
        "bad": make_leaf(None, "CN=bad.test,O=Kong Inc,C=US"),  # self-signed
        "stranger": make_leaf(make_intermediate(other, "Stranger CA"), "stranger"),
    }


def client(*issued):
    return CertifiedKey(tuple(i.cert for i in issued), issued[0].key)


CONSUMERS = (
    Consumer("c-foo", username="foo", custom_id="foo-custom",
             mtls_auth_credentials=(MTLSCredential("cred1", "foo@example.com", ca_certificate="ca-root"),)),
    Consumer("c-kong", username="kongclient"),
    Consumer("c-custom", custom_id="custom.test"),
    Consumer("c-anon", username="anonymous"),
)


def setup(mtls_certs, config=None, *, consumers=CONSUMERS, plugins=(), routes=None, extra=(), **kw):
    config = {"ca_certificates": ["ca-root"], **(config or {})}
    decl = Declarative(
        services=(Service("svc", "svc", "https"),),
        routes=routes or (Route("r1", "r1", "svc"),),
        plugins=(PluginEntity("mtls", "mtls-auth", config), *plugins),
        ca_certificates=(CACertificate("ca-root", mtls_certs["root"].cert), CACertificate("ca-inter", mtls_certs["inter"].cert),
                         CACertificate("ca-other", mtls_certs["other"].cert)),
        consumers=consumers,
    )
    return KongHarness(extra, declarative=decl, **kw)


def verdict(result):
    return result.log["request"]["tls"]["client_verify"]


def upstream(result):
    return dict(result.upstream_request.headers)


# -- §6.E 5 ------------------------------------------------------------------------------


def test_plain_http_is_401(mtls_certs):
    result = setup(mtls_certs).request(tls=False)
    assert result.response.status == 401 and result.response.body == NO_CERT
    assert "tls" not in result.log["request"]  # no override either: nothing to log


@pytest.mark.parametrize("versions", VERSIONS)
def test_https_without_certificate_is_401_and_logs_none(mtls_certs, versions):
    result = setup(mtls_certs).request(client_certificate=None, versions=versions)
    assert result.response.status == 401 and result.response.body == NO_CERT
    assert ("Content-Type", "application/json; charset=utf-8") in result.response.headers
    assert verdict(result) == "NONE"


@pytest.mark.parametrize("name, reason", [
    ("bad", "self-signed certificate"),
    ("stranger", "unable to get local issuer certificate"),
])
def test_untrusted_certificate_is_401_with_the_openssl_reason(mtls_certs, caplog, name, reason):
    result = setup(mtls_certs).request(client_certificate=client(mtls_certs[name]))
    assert result.response.status == 401 and result.response.body == FAILED
    assert verdict(result) == f"FAILED:{reason}"
    assert f"[mtls-auth] client certificate verify failed: {reason}" in [r.getMessage() for r in caplog.records]


@pytest.mark.parametrize("versions", VERSIONS)
def test_success_by_credential_logs_success_and_sets_consumer_headers(mtls_certs, versions):
    result = setup(mtls_certs).request(
        client_certificate=client(mtls_certs["leaf"], mtls_certs["inter"]), versions=versions,
        headers={"X-Credential-Identifier": "spoofed", "X-Anonymous-Consumer": "true"})
    assert result.response.status == 200
    assert verdict(result) == "SUCCESS"
    headers = upstream(result)
    assert headers["X-Consumer-ID"] == "c-foo"
    assert headers["X-Consumer-Username"] == "foo"
    assert headers["X-Consumer-Custom-ID"] == "foo-custom"
    # Kong's credential is {id = consumer.id}: no username, so this is cleared.
    assert "X-Credential-Identifier" not in headers and "X-Anonymous-Consumer" not in headers
    assert result.log["consumer"]["id"] == "c-foo"


def test_credential_bound_to_another_ca_does_not_match(mtls_certs):
    consumers = (Consumer("c1", username="someone-else", mtls_auth_credentials=(
        MTLSCredential("x", "foo@example.com", ca_certificate="ca-other"),)),)
    result = setup(mtls_certs, {"revocation_check_mode": "SKIP"}, consumers=consumers).request(
        client_certificate=client(mtls_certs["leaf"], mtls_certs["inter"]))
    assert result.response.status == 401 and result.response.body == FAILED
    assert verdict(result) == "FAILED:UNKNOWN"


def test_credential_without_ca_matches_any_anchor(mtls_certs):
    consumers = (Consumer("c1", mtls_auth_credentials=(MTLSCredential("x", "example.test"),)),)
    result = setup(mtls_certs, consumers=consumers).request(client_certificate=client(mtls_certs["kongclient"], mtls_certs["inter"]))
    assert result.response.status == 200 and upstream(result)["X-Consumer-ID"] == "c1"
    assert "X-Consumer-Username" not in upstream(result)


def test_consumer_by_username_and_custom_id(mtls_certs):
    result = setup(mtls_certs).request(client_certificate=client(mtls_certs["kongclient"], mtls_certs["inter"]))
    assert result.response.status == 200 and upstream(result)["X-Consumer-ID"] == "c-kong"
    # The SAN (example.test) comes first; custom_id is tried for each name too.
    custom = make_leaf(mtls_certs["inter"], "nobody", extensions=[(x509.SubjectAlternativeName(
        [x509.DNSName("custom.test")]), False)])
    result = setup(mtls_certs).request(client_certificate=client(custom, mtls_certs["inter"]))
    assert upstream(result)["X-Consumer-ID"] == "c-custom"
    result = setup(mtls_certs, {"consumer_by": ["username"]}).request(client_certificate=client(custom, mtls_certs["inter"]))
    assert result.response.status == 401


def test_anonymous_with_bad_certificate_proxies_as_anonymous(mtls_certs):
    result = setup(mtls_certs, {"anonymous": "c-anon"}).request(client_certificate=client(mtls_certs["bad"]))
    assert result.response.status == 200
    assert verdict(result) == "FAILED:self-signed certificate"
    headers = upstream(result)
    assert headers["X-Anonymous-Consumer"] == "true"
    assert headers["X-Consumer-ID"] == "c-anon" and headers["X-Consumer-Username"] == "anonymous"
    assert result.log["consumer"]["id"] == "c-anon"


def test_anonymous_by_username_and_without_certificate(mtls_certs):
    result = setup(mtls_certs, {"anonymous": "anonymous"}).request(client_certificate=None)
    assert result.response.status == 200 and verdict(result) == "NONE"
    assert upstream(result)["X-Consumer-ID"] == "c-anon"


def test_anonymous_that_does_not_exist_is_500(mtls_certs):
    result = setup(mtls_certs, {"anonymous": "ghost"}).request(client_certificate=None)
    assert result.response.status == 500


@pytest.fixture
def groups_probe():
    class Probe(NativePlugin):
        name = "groups-probe"
        priority = 1

        def access(self, kong):
            kong.service.request.set_header("X-Groups", repr(kong.nginx.get_ctx("authenticated_groups")))

    return configure(plugin_from_class(Probe))


def test_skip_consumer_lookup_sets_dn_and_san_headers(mtls_certs, groups_probe):
    kong = setup(mtls_certs, {"skip_consumer_lookup": True}, extra=[groups_probe])
    result = kong.request(client_certificate=client(mtls_certs["kongclient"], mtls_certs["inter"]))
    assert result.response.status == 200 and verdict(result) == "SUCCESS"
    headers = upstream(result)
    assert headers["X-Client-Cert-SAN"] == "example.test,kongclient"  # SAN values, then the CN
    assert headers["X-Client-Cert-DN"] == "CN=kongclient"
    assert headers["X-Groups"] == "['kongclient']"
    assert "X-Consumer-ID" not in headers


def test_skip_consumer_lookup_group_by_dn(mtls_certs, groups_probe):
    kong = setup(mtls_certs, {"skip_consumer_lookup": True, "authenticated_group_by": "DN"}, extra=[groups_probe])
    result = kong.request(client_certificate=client(mtls_certs["leaf"], mtls_certs["inter"]))
    assert upstream(result)["X-Groups"] == "['CN=foo@example.com,O=Kong Testing,ST=California,C=US']"


def test_skip_consumer_lookup_without_cn_is_401(mtls_certs):
    san = x509.SubjectAlternativeName([x509.DNSName("no-cn.test")])
    no_cn = make_leaf(mtls_certs["inter"], "O=No CN", extensions=[(san, False)])
    result = setup(mtls_certs, {"skip_consumer_lookup": True}).request(client_certificate=client(no_cn, mtls_certs["inter"]))
    assert result.response.status == 401
    assert result.response.body == b'{"message":"Certificate missing Common Name"}'
    # No override on this path: the log keeps nginx's depth-0 handshake verdict.
    assert verdict(result) == "FAILED:unable to get local issuer certificate"


# -- the verdict when the certificate is valid but nobody matches -------------------------


@pytest.mark.parametrize("mode, status, logged", [
    # Kong sets "FAILED:consumer not found", then falls through and overwrites it
    # with the last error seen: kong.cache's wrapping of the revocation error...
    ("IGNORE_CA_ERROR", 401, "FAILED:failed to get from node cache: fail to check revocation"),
    # ...or nothing at all when the check was skipped.
    ("SKIP", 401, "FAILED:UNKNOWN"),
    # STRICT without OCSP/CRL: revoked.
    ("STRICT", 401, "FAILED:certificate revoked"),
])
def test_valid_certificate_without_consumer(mtls_certs, caplog, mode, status, logged):
    caplog.set_level(logging.DEBUG, logger="purekong.kong")
    stranger_ok = make_leaf(mtls_certs["inter"], "unknown.test")
    result = setup(mtls_certs, {"revocation_check_mode": mode}).request(client_certificate=client(stranger_ok, mtls_certs["inter"]))
    assert result.response.status == status and result.response.body == FAILED
    assert verdict(result) == logged
    messages = [r.getMessage() for r in caplog.records]
    if mode == "IGNORE_CA_ERROR":
        assert ("[mtls-auth] failed to get from node cache: fail to check revocation. "
                "Ignored this as `revocation_check_mode` is `IGNORE_CA_ERROR`.") in messages
    if mode != "STRICT":
        assert ("[mtls-auth] certificate is valid but consumer matching failed, using cn = unknown.test "
                "fields = username, custom_id") in messages


def test_default_consumer(mtls_certs):
    stranger_ok = make_leaf(mtls_certs["inter"], "unknown.test")
    result = setup(mtls_certs, {"default_consumer": "kongclient"}).request(client_certificate=client(stranger_ok, mtls_certs["inter"]))
    assert result.response.status == 200 and verdict(result) == "SUCCESS"
    assert upstream(result)["X-Consumer-ID"] == "c-kong"


# -- verification policy ------------------------------------------------------------------


def test_allow_partial_chain(mtls_certs):
    chain = client(mtls_certs["leaf"], mtls_certs["inter"])
    result = setup(mtls_certs, {"ca_certificates": ["ca-inter"]}).request(client_certificate=chain)
    assert verdict(result) == "FAILED:unable to get issuer certificate"
    consumers = (Consumer("c1", mtls_auth_credentials=(MTLSCredential("x", "foo@example.com", "ca-inter"),)),)
    result = setup(mtls_certs, {"ca_certificates": ["ca-inter"], "allow_partial_chain": True},
                   consumers=consumers).request(client_certificate=chain)
    # The anchor is now the intermediate, so a credential bound to it matches.
    assert result.response.status == 200 and upstream(result)["X-Consumer-ID"] == "c1"


def test_no_purpose_check_unlike_the_handshake_verdict(mtls_certs):
    # store:verify sets no purpose: a serverAuth-only leaf authenticates.
    server_only = make_leaf(mtls_certs["inter"], "kongclient", eku=[ExtendedKeyUsageOID.SERVER_AUTH])
    result = setup(mtls_certs).request(client_certificate=client(server_only, mtls_certs["inter"]))
    assert result.response.status == 200 and verdict(result) == "SUCCESS"


def test_expired_certificate(mtls_certs):
    expired = make_leaf(mtls_certs["inter"], "kongclient", days=(-30, -1))
    result = setup(mtls_certs).request(client_certificate=client(expired, mtls_certs["inter"]))
    assert result.response.status == 401 and verdict(result) == "FAILED:certificate has expired"


# -- the handshake: DN hints (spec §6.E 5, "CA DN spec") -------------------------------------


def cadn_declarative(mtls_certs, *, send_ca_dn=True):
    """Shaped like plugins-ee/mtls-auth/spec/05-cadn_spec.lua."""
    routes = (Route("r1", "r1", "s1", snis=("test1.test",)), Route("r5", "r5", "s1", snis=("test5.test",)),
              Route("r7", "r7", "s1"), Route("r11", "r11", "s2"), Route("r10", "r10", "s2", snis=("test6.test",)))
    dn = {"send_ca_dn": send_ca_dn}
    return Declarative(
        services=(Service("s1", "s1", "http"), Service("s2", "s2", "http")),
        routes=routes,
        plugins=(
            PluginEntity("g", "mtls-auth", {"ca_certificates": ["ca-other"], **dn}),
            PluginEntity("p1", "mtls-auth", {"ca_certificates": ["ca-root"], **dn}, route="r1"),
            PluginEntity("p5", "mtls-auth", {"ca_certificates": ["ca-root"]}, route="r5"),
            PluginEntity("p7", "mtls-auth", {"ca_certificates": ["ca-root"], **dn}, route="r7"),
            PluginEntity("p8", "mtls-auth", {"ca_certificates": ["ca-inter"], **dn}, service="s2"),
        ),
        ca_certificates=(CACertificate("ca-root", mtls_certs["root"].cert), CACertificate("ca-inter", mtls_certs["inter"].cert),
                         CACertificate("ca-other", mtls_certs["other"].cert)),
    )


@pytest.mark.parametrize("versions", VERSIONS)
def test_send_ca_dn_per_sni(mtls_certs, versions, caplog):
    caplog.set_level(logging.DEBUG, logger="purekong.kong")
    handlers = certificate_handlers(cadn_declarative(mtls_certs))
    root, inter, other = der_name(mtls_certs["root"]), der_name(mtls_certs["inter"]), der_name(mtls_certs["other"])
    # A route with an SNI: only its CA.
    assert handshake(handlers, server_name="test1.test", versions=versions)[2] == [[root]]
    # A service's route with an SNI: the service instance's CA.
    assert handshake(handlers, server_name="test6.test", versions=versions)[2] == [[inter]]
    # send_ca_dn = false on that route: a request, but no names.
    assert handshake(handlers, server_name="test5.test", versions=versions)[2] == [[]]
    # No SNI, or an unknown one: the merged list of "*" (global, r7, s2's r11).
    for sni in (None, "unknown.test"):
        phases, done, sent = handshake(handlers, server_name=sni, versions=versions)
        assert sent == [[other, root, inter]]
        assert phases.requests.disable_session_reuse
    messages = [r.getMessage() for r in caplog.records]
    assert "[mtls-auth] set client ca certificate chain" in messages
    assert "[mtls-auth] client sent an unknown sni unknown.test" in messages
    assert "[mtls-auth] mTLS is enabled globally" in messages


def test_send_ca_dn_false_sends_no_names(mtls_certs):
    handlers = certificate_handlers(cadn_declarative(mtls_certs, send_ca_dn=False))
    for sni in ("test1.test", None):
        phases, done, sent = handshake(handlers, server_name=sni)
        assert sent == [[]]
        assert phases.requests.ca_certificates is None


def test_handshake_modifier_after_mtls_keeps_the_ca_list(mtls_certs):
    # mtls-auth's wrapper runs first; tls-handshake-modifier's request(nil)
    # then keeps the list (ngx.ssl.verify_client with nil replaces nothing).
    decl = cadn_declarative(mtls_certs)
    decl = Declarative(services=decl.services, routes=decl.routes, ca_certificates=decl.ca_certificates,
                       plugins=(*decl.plugins, PluginEntity("t", "tls-handshake-modifier", {})))
    _, _, sent = handshake(certificate_handlers(decl), server_name="test1.test")
    assert sent == [[der_name(mtls_certs["root"])]]


def test_mtls_auth_end_to_end_with_dn_hints(mtls_certs):
    # send_ca_dn: the handshake verdict is computed against the sent CAs (Kong's
    # store replacement), then mtls-auth overrides it.
    kong = setup(mtls_certs, {"send_ca_dn": True, "ca_certificates": ["ca-root", "ca-inter"]})
    assert kong.request(client_certificate=client(mtls_certs["leaf"], mtls_certs["inter"])).response.status == 200
    phases, done, sent = handshake(kong.certificate_handlers, certificate=client(mtls_certs["leaf"], mtls_certs["inter"]))
    assert sent == [[der_name(mtls_certs["root"]), der_name(mtls_certs["inter"])]]
    assert phases.tls_info(done).client_verify == "FAILED:unable to get issuer certificate"


# -- names --------------------------------------------------------------------------------


def test_subject_names_like_lua_resty_openssl():
    root = make_ca("Names Root")
    san = x509.SubjectAlternativeName([
        x509.DNSName("dns.test"), x509.RFC822Name("mail@test"), x509.UniformResourceIdentifier("spiffe://x/y"),
        x509.IPAddress(ipaddress.ip_address("10.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("2001:db8::1")),
        x509.RegisteredID(x509.ObjectIdentifier("1.2.3")),
    ])
    cert = make_cert("CN=first,CN=second", root, extensions=[(san, False)]).cert
    names, cn = subject_names(cert)
    assert names == ["dns.test", "mail@test", "spiffe://x/y", "10.0.0.1", "2001:db8::1", "RID:<unsupported>", "second"]
    assert cn == "second"  # the first CN in DER order (RFC 4514 strings list it last)


def test_directory_name_san_fails_like_kong(mtls_certs):
    san = x509.SubjectAlternativeName([x509.DirectoryName(x509.Name.from_rfc4514_string("CN=dir"))])
    cert = make_leaf(mtls_certs["inter"], "kongclient", extensions=[(san, False)])
    result = setup(mtls_certs).request(client_certificate=client(cert, mtls_certs["inter"]))
    assert result.response.status == 500  # table.concat on a name object: a Lua error


def test_empty_subject_fails_where_kongs_code_does(mtls_certs):
    # nginx's $ssl_client_s_dn is "not found" (nil) for an empty subject, and
    # Kong passes it on: as the revocation cache key ("key must be a string")
    # and, with SKIP, as the X-Client-Cert-DN header value. Both are 500s.
    san = x509.SubjectAlternativeName([x509.DNSName("spiffe.test")])
    empty = make_leaf(mtls_certs["inter"], x509.Name([]), extensions=[(san, True)])
    chain = client(empty, mtls_certs["inter"])
    consumers = (Consumer("c1", mtls_auth_credentials=(MTLSCredential("x", "spiffe.test"),)),)
    assert setup(mtls_certs, consumers=consumers).request(client_certificate=chain).response.status == 500
    ok = setup(mtls_certs, {"revocation_check_mode": "SKIP"}, consumers=consumers).request(client_certificate=chain)
    assert ok.response.status == 200 and upstream(ok)["X-Consumer-ID"] == "c1"
    skip = setup(mtls_certs, {"revocation_check_mode": "SKIP", "skip_consumer_lookup": True, "authenticated_group_by": "DN"})
    assert skip.request(client_certificate=chain).response.status == 500
