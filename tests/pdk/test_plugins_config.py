"""Building the built-in plugins from plugin entities: defaults, validation, errors."""

from __future__ import annotations

import pytest

from _pki import make_ca
from purekong.gateway import CACertificate, Declarative, PluginEntity, Route, Service
from purekong.plugins import (
    BUILTIN_PLUGINS,
    PluginConfigError,
    build_plugin,
    build_plugins,
    certificate_handlers,
)

ROOT = make_ca("Config Test Root")
DECL = Declarative(
    services=(Service("s1", "s1", "http"),),
    routes=(Route("r1", "r1", "s1", snis=("a.test",)),),
    ca_certificates=(CACertificate("ca1", ROOT.cert),),
)


def entity(name, config=None, **kw):
    return PluginEntity(kw.pop("id", "p1"), name, config or {}, **kw)


def test_registry():
    assert set(BUILTIN_PLUGINS) == {"mtls-auth", "tls-handshake-modifier", "tls-metadata-headers"}
    assert {n: c.priority for n, c in BUILTIN_PLUGINS.items()} == {
        "mtls-auth": 1600, "tls-handshake-modifier": 997, "tls-metadata-headers": 996}


def test_defaults_are_kongs():
    thm = build_plugin(entity("tls-handshake-modifier"), DECL)
    assert thm.config == {"tls_client_certificate": "REQUEST"}
    tmh = build_plugin(entity("tls-metadata-headers"), DECL)
    assert tmh.config == {
        "inject_client_cert_details": False,
        "client_cert_header_name": "X-Client-Cert",
        "client_serial_header_name": "X-Client-Cert-Serial",
        "client_cert_issuer_dn_header_name": "X-Client-Cert-Issuer-DN",
        "client_cert_subject_dn_header_name": "X-Client-Cert-Subject-DN",
        "client_cert_fingerprint_header_name": "X-Client-Cert-Fingerprint",
    }
    mtls = build_plugin(entity("mtls-auth", {"ca_certificates": ["ca1"]}, route="r1"), DECL)
    assert mtls.scope == "route" and mtls.spec.priority == 1600
    assert mtls.config["consumer_by"] == ["username", "custom_id"]
    assert mtls.config["revocation_check_mode"] == "IGNORE_CA_ERROR"
    assert mtls.config["authenticated_group_by"] == "CN"
    assert mtls.config["cache_ttl"] == 60 and mtls.config["send_ca_dn"] is False
    assert mtls.config["anonymous"] is None and mtls.config["default_consumer"] is None
    assert mtls.plugin.store == [ROOT.cert]


@pytest.mark.parametrize(
    "name, config, message",
    [
        ("tls-handshake-modifier", {"tls_client_certificate": "REQUIRE"},
         "plugin p1 (tls-handshake-modifier): schema violation (config.tls_client_certificate: expected one of: REQUEST)"),
        ("tls-metadata-headers", {"inject_client_cert_details": "yes"},
         "plugin p1 (tls-metadata-headers): schema violation (config.inject_client_cert_details: expected a boolean)"),
        ("tls-metadata-headers", {"nope": 1},
         "plugin p1 (tls-metadata-headers): schema violation (config.nope: unknown field)"),
        ("mtls-auth", {},
         "plugin p1 (mtls-auth): schema violation (config.ca_certificates: required field missing)"),
        ("mtls-auth", {"ca_certificates": ["missing"]},
         "plugin p1 (mtls-auth): config.ca_certificates: CA Certificate 'missing' does not exist"),
        ("mtls-auth", {"ca_certificates": ["ca1"], "consumer_by": ["id"]},
         "plugin p1 (mtls-auth): schema violation (config.consumer_by.1: expected one of: username, custom_id)"),
        ("mtls-auth", {"ca_certificates": ["ca1"], "revocation_check_mode": "OCSP"},
         "plugin p1 (mtls-auth): schema violation (config.revocation_check_mode: expected one of: SKIP, IGNORE_CA_ERROR, STRICT)"),
        ("mtls-auth", {"ca_certificates": ["ca1"], "http_proxy_host": "proxy"},
         "plugin p1 (mtls-auth): schema violation (config: all or none of these fields must be set: "
         "'config.http_proxy_host', 'config.http_proxy_port')"),
        ("key-auth", {}, "plugin p1 (key-auth): not a built-in plugin"),
    ],
)
def test_invalid_config_names_entity_and_field(name, config, message):
    with pytest.raises(PluginConfigError) as info:
        build_plugin(entity(name, config), DECL)
    assert str(info.value).startswith(message)


def test_no_consumer_scope():
    with pytest.raises(PluginConfigError, match=r"consumer: value must be null"):
        build_plugin(entity("tls-metadata-headers", consumer="c1"), DECL)


def test_dangling_route_or_service():
    with pytest.raises(PluginConfigError, match="route: no route with id 'nope'"):
        build_plugin(entity("tls-handshake-modifier", route="nope"), DECL)
    with pytest.raises(PluginConfigError, match="service: no service with id 'nope'"):
        build_plugin(entity("tls-handshake-modifier", service="nope"), DECL)


def test_build_plugins_takes_enabled_builtins_only():
    decl = Declarative(
        plugins=(entity("tls-handshake-modifier", id="a"), entity("tls-metadata-headers", id="b", enabled=False),
                 entity("my-python-plugin", id="c")),
    )
    assert [inst.name for inst in build_plugins(decl)] == ["tls-handshake-modifier"]


def test_certificate_handlers():
    handlers = certificate_handlers(Declarative())
    # Both wrappers exist even unused (they are loaded in Kong EE), in wrapper order.
    assert [h.name for h in handlers] == ["mtls-auth", "tls-handshake-modifier"]
    bad = Declarative(plugins=(entity("mtls-auth", {"ca_certificates": ["gone"], "send_ca_dn": True}),))
    with pytest.raises(PluginConfigError, match="CA Certificate 'gone' does not exist"):
        certificate_handlers(bad)
