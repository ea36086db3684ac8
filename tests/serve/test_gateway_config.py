"""Kong's declarative configuration: loading, validation, error messages.

Every error kind is asserted with its exact text, since the messages are the
user interface of a configuration that failed to load.
"""

from __future__ import annotations

import json
import uuid

import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import given
from hypothesis import strategies as st

from _pki import make_ca, make_cert, make_leaf, pool_key
from purekong.gateway import ConfigError, Declarative, load_declarative, parse_declarative

CA_ID = "11111111-1111-4111-8111-111111111111"
KONG_NS = uuid.UUID("fd02801f-0957-4a15-a55a-c8d9606f30b5")
BACKEND_ID = str(uuid.uuid5(uuid.uuid5(KONG_NS, "services"), "backend"))


def key_pem(key) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


@pytest.fixture(scope="module")
def config_certs():
    ca = make_ca("Gateway Test Root")
    server = make_cert("example.test", ca, key=pool_key("ec", 1))
    other = make_cert("other.test", ca, key=pool_key("ec", 2))
    expired = make_ca("Old Root", days=(-30, -1))
    leaf = make_leaf(ca, "client")
    return {"ca": ca, "server": server, "other": other, "expired": expired, "leaf": leaf}


def cfg(**entities) -> dict:
    return {"_format_version": "3.0", **entities}


def problems(data: dict) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_declarative(data)
    return info.value.problems


def only_problem(data: dict) -> str:
    found = problems(data)
    assert len(found) == 1, found
    return found[0]


# --------------------------------------------------------------------------
# Valid configurations


def full_config(config_certs) -> dict:
    return cfg(
        services=[{
            "name": "backend",
            "url": "https://upstream.test:8443/v1",
            "routes": [{
                "name": "api", "paths": ["/api"], "hosts": ["API.example.com"], "methods": ["GET", "POST"],
                "snis": ["api.example.com"], "protocols": ["https"], "strip_path": False, "preserve_host": True,
                "plugins": [{"name": "tls-metadata-headers", "config": {"inject_client_cert_details": True}}],
            }],
            "plugins": [{"name": "mtls-auth", "config": {"ca_certificates": [CA_ID]}}],
        }, {
            "name": "app", "asgi": "myapp.main:app",
        }],
        routes=[{"name": "app-route", "service": "app", "paths": ["/app"]},
                {"name": "by-id", "service": {"id": BACKEND_ID}, "paths": ["/x"]}],
        consumers=[{
            "username": "alice", "custom_id": "a-1",
            "mtls_auth_credentials": [{"subject_name": "CN=alice", "ca_certificate": CA_ID}],
            "plugins": [{"name": "rate-limiting", "config": {"minute": 5}}],
        }, {"custom_id": "b-2"}],
        ca_certificates=[{"id": CA_ID, "cert": config_certs["ca"].pem}],
        certificates=[{"cert": config_certs["server"].pem, "key": key_pem(config_certs["server"].key),
                       "snis": [{"name": "example.test"}, {"name": "*.example.test"}]}],
        plugins=[{"name": "tls-handshake-modifier"},
                 {"name": "cors", "route": "app-route", "consumer": "alice", "enabled": False,
                  "protocols": ["https"]}],
    )


def test_full_config_nested_and_top_level(config_certs):
    d = parse_declarative(full_config(config_certs))
    assert isinstance(d, Declarative)
    backend, app = d.services
    assert (backend.protocol, backend.host, backend.port, backend.path) == ("https", "upstream.test", 8443, "/v1")
    assert (app.protocol, app.asgi, app.host) == ("asgi", "myapp.main:app", None)
    api = d.routes[0]
    assert api.service == backend.id
    assert api.hosts == ("api.example.com",)  # host names are case-insensitive
    assert (api.methods, api.protocols, api.strip_path, api.preserve_host) == (
        ("GET", "POST"), ("https",), False, True)
    assert d.routes[1].service == app.id
    assert d.routes[2].service == backend.id  # {id: ...} reference
    by_name = {p.name: p for p in d.plugins}
    assert by_name["tls-metadata-headers"].route == api.id
    assert by_name["tls-metadata-headers"].config == {"inject_client_cert_details": True}
    assert by_name["mtls-auth"].service == backend.id and by_name["mtls-auth"].scope == "service"
    assert by_name["rate-limiting"].consumer == d.consumers[0].id
    assert by_name["tls-handshake-modifier"].scope == "global"
    cors = by_name["cors"]
    assert (cors.route, cors.consumer, cors.enabled, cors.protocols) == (d.routes[1].id, d.consumers[0].id,
                                                                        False, ("https",))
    alice = d.consumer("alice", by="username")
    assert alice.custom_id == "a-1"
    (cred,) = alice.mtls_auth_credentials
    assert (cred.subject_name, cred.ca_certificate) == ("CN=alice", CA_ID)
    assert d.consumer("b-2", by="custom_id").username is None
    assert d.ca_certificate(CA_ID).cert == config_certs["ca"].cert
    (cert,) = d.certificates
    assert cert.snis == ("example.test", "*.example.test")
    assert cert.chain == (config_certs["server"].cert,)
    assert by_name["mtls-auth"].protocols == ("grpc", "grpcs", "http", "https")


def test_defaults_match_kong(config_certs):
    d = parse_declarative(cfg(services=[{"host": "up.test", "routes": [{"paths": ["/"]}]}]))
    (s,) = d.services
    # services.lua: protocol http, port 80 (whatever the protocol), timeouts 60s, retries 5
    assert (s.protocol, s.port, s.path, s.connect_timeout, s.read_timeout, s.write_timeout, s.retries) == (
        "http", 80, None, 60000, 60000, 60000, 5)
    (r,) = d.routes
    assert (r.protocols, r.strip_path, r.preserve_host, r.https_redirect_status_code) == (
        ("http", "https"), True, False, 426)
    https = parse_declarative(cfg(services=[{"host": "up.test", "protocol": "https"}])).services[0]
    assert https.port == 80  # Kong's schema default, only the url shorthand derives 443
    assert parse_declarative(cfg(services=[{"url": "https://up.test"}])).services[0].port == 443
    assert parse_declarative(cfg(services=[{"url": "http://up.test"}])).services[0].port == 80


def test_kong_deterministic_ids():
    # Expected values from Kong/go-kong kong/ids_test.go, which mirrors
    # Kong's declarative_config.lua generate_ids.
    d = parse_declarative(cfg(services=[{"name": "some.service.name", "host": "h"}],
                              routes=[{"name": "some.service.name", "paths": ["/"]}],
                              consumers=[{"username": "some.username"}]))
    assert d.services[0].id == "d9bee1f8-db6e-5a37-9281-fd4aca16dc00"
    assert d.routes[0].id == "7f0753cd-bff2-5f74-85b0-e8e2057d9500"
    assert d.consumers[0].id == "782780c4-d345-5682-bdf6-722dccaf93e0"


def test_ids_stable_across_loads_and_random_when_kong_has_no_key(config_certs):
    data = full_config(config_certs)
    a, b = parse_declarative(data), parse_declarative(json.loads(json.dumps(data)))
    assert [s.id for s in a.services] == [s.id for s in b.services]
    assert [p.id for p in a.plugins] == [p.id for p in b.plugins]
    assert a.consumers[0].id == b.consumers[0].id
    # No endpoint key, no cache key: a random id, as Kong (uuid4).
    assert a.certificates[0].id != b.certificates[0].id
    assert uuid.UUID(a.certificates[0].id).version == 4
    assert a.consumers[1].id != b.consumers[1].id  # custom_id only


def test_explicit_ids_are_kept_and_normalized():
    upper = "D9BEE1F8-DB6E-5A37-9281-FD4ACA16DC00"
    d = parse_declarative(cfg(services=[{"id": upper, "host": "h"}],
                              routes=[{"service": upper.lower(), "paths": ["/"]}]))
    assert d.services[0].id == upper.lower()
    assert d.routes[0].service == upper.lower()


def test_plugin_id_follows_kong_cache_key():
    # build_cache_key: "plugins:<name>:<route>:<service>:<consumer>:<group>",
    # references as written, absent ones "".
    ns = uuid.uuid5(KONG_NS, "plugins")
    d = parse_declarative(cfg(services=[{"name": "s", "host": "h", "plugins": [{"name": "cors"}]}],
                              plugins=[{"name": "cors"}, {"name": "acl", "service": "s"}]))
    nested, global_, top = d.plugins
    assert global_.id == str(uuid.uuid5(ns, "plugins:cors::::"))
    assert top.id == str(uuid.uuid5(ns, "plugins:acl::s::"))
    assert nested.id == str(uuid.uuid5(ns, f"plugins:cors::{d.services[0].id}::"))


def test_format_versions_kong_accepts():
    for version in ("1.1", "2.1", "3.0"):
        parse_declarative({"_format_version": version})
    assert only_problem({"_format_version": "4.0"}) == \
        '_format_version: unsupported value "4.0" (expected "1.1", "2.1" or "3.0")'
    assert only_problem({}) == '_format_version: required field missing (expected "1.1", "2.1" or "3.0")'
    assert only_problem({"_format_version": 3.0}) == \
        '_format_version: expected a string, got number 3.0 (quote it: "3.0")'


def test_meta_keys_accepted():
    parse_declarative({"_format_version": "3.0", "_transform": True, "_comment": "hi", "_ignore": [1],
                       "services": [{"host": "h", "tags": ["a"], "_comment": "x"}]})


def test_pre30_paths_are_migrated_like_kong():
    d = parse_declarative({"_format_version": "2.1",
                           "routes": [{"paths": ["/a/%7Eb/./c"]}]})
    assert d.routes[0].paths == ("/a/~b/c",)
    assert only_problem({"_format_version": "2.1", "routes": [{"name": "r", "paths": ["/v(1|2)"]}]}) == (
        'routes[0] (name "r").paths[0]: "/v(1|2)" is a regex path under _format_version "2.1" '
        '(Kong prefixes it with "~"); regex paths are not supported by purekong')


def test_empty_config_and_empty_lists():
    d = parse_declarative({"_format_version": "3.0", "services": [], "routes": None})
    assert d == Declarative()


# --------------------------------------------------------------------------
# Error messages, one kind at a time


@pytest.mark.parametrize("entry, message", [
    ({"paths": ["api"]}, 'routes[0] (name "api").paths[0]: must start with "/"'),
    ({"paths": ["/a//b"]}, 'routes[0] (name "api").paths[0]: must not have empty segments'),
    ({"paths": ["/a/../b"]}, 'routes[0] (name "api").paths[0]: non-normalized path, consider using "/b" instead'),
    ({"paths": ["/%7e"]}, 'routes[0] (name "api").paths[0]: non-normalized path, consider using "/~" instead'),
    ({"paths": ["/a b"]}, 'routes[0] (name "api").paths[0]: invalid path: "/a b" '
                          '(characters outside of the reserved list of RFC 3986 found)'),
    ({"paths": ["/a%zz"]}, 'routes[0] (name "api").paths[0]: invalid url-encoded value: "%zz"'),
    ({"paths": ["~/v[0-9]+"]}, 'routes[0] (name "api").paths[0]: regex paths are not supported by purekong'),
    ({"paths": [5]}, 'routes[0] (name "api").paths[0]: expected a string, got integer 5'),
    ({"paths": "/x"}, 'routes[0] (name "api").paths: expected an array, got string "/x"'),
    ({"hosts": ["a.*.com"]}, 'routes[0] (name "api").hosts[0]: invalid wildcard: must be placed at leftmost '
                             'or rightmost label'),
    ({"hosts": ["*.*.com"]}, 'routes[0] (name "api").hosts[0]: invalid wildcard: must have at most one wildcard'),
    ({"hosts": ["bad host"]}, 'routes[0] (name "api").hosts[0]: invalid value: bad host'),
    ({"hosts": ["a.test:99999"]}, 'routes[0] (name "api").hosts[0]: invalid port in "a.test:99999"'),
    ({"methods": ["get"]}, 'routes[0] (name "api").methods[0]: invalid method "get" '
                           '(upper-case letters only, like GET)'),
    ({"snis": ["*.a.test"]}, 'routes[0] (name "api").snis[0]: wildcards are not supported in route snis'),
    ({"snis": ["10.0.0.1"]}, 'routes[0] (name "api").snis[0]: must not be an IP'),
    ({"snis": ["a.test:443"]}, 'routes[0] (name "api").snis[0]: must not have a port'),
    ({"snis": ["a.test"], "protocols": ["http"]},
     'routes[0] (name "api").snis: can only be set when "protocols" includes "https"'),
    ({"paths": ["/"], "protocols": ["grpc"]},
     'routes[0] (name "api").protocols[0]: protocol "grpc" not supported by purekong'),
    ({"paths": ["/"], "protocols": ["ftp"]},
     'routes[0] (name "api").protocols[0]: invalid protocol "ftp" (expected http or https)'),
    ({"paths": ["/"], "protocols": []}, 'routes[0] (name "api").protocols: length must be at least 1'),
    ({"paths": ["/"], "protocols": ["https", 1]},
     'routes[0] (name "api").protocols[1]: expected a string, got integer 1'),
    ({}, 'routes[0] (name "api"): must set one of "methods", "hosts", "paths", "snis" when "protocols" '
         'includes "https"'),
    ({"protocols": ["http"]}, 'routes[0] (name "api"): must set one of "methods", "hosts", "paths" when '
                              '"protocols" is "http"'),
    ({"paths": ["/"], "strip_path": "yes"}, 'routes[0] (name "api").strip_path: expected a boolean, '
                                            'got string "yes"'),
    ({"paths": ["/"], "https_redirect_status_code": 303},
     'routes[0] (name "api").https_redirect_status_code: expected one of 426, 301, 302, 307, 308, got 303'),
    ({"paths": ["/"], "headers": {"x-a": ["1"]}},
     'routes[0] (name "api").headers: not supported by purekong (only Kong\'s default value is accepted)'),
    ({"paths": ["/"], "path_handling": "v1"},
     'routes[0] (name "api").path_handling: only "v0" (Kong\'s default) is supported by purekong'),
    ({"paths": ["/"], "color": "red"}, 'routes[0] (name "api").color: unknown field'),
    ({"paths": ["/"], "service": "nope"}, 'routes[0] (name "api").service: no service named "nope"'),
    ({"paths": ["/"], "service": 5}, 'routes[0] (name "api").service: expected a name, an id, {id: ...} or '
                                     '{name: ...}, got integer 5'),
    ({"paths": ["/"], "id": "xyz"}, 'routes[0] (name "api").id: expected a UUID, got "xyz"'),
])
def test_route_errors(entry, message):
    assert only_problem(cfg(routes=[{"name": "api", **entry}])) == message


def test_duplicate_protocols_and_methods_are_merged():
    d = parse_declarative(cfg(routes=[{"paths": ["/"], "protocols": ["https", "https"], "methods": ["GET", "GET"]}]))
    assert (d.routes[0].protocols, d.routes[0].methods) == (("https",), ("GET",))


def test_route_headers_null_or_empty_is_fine():
    parse_declarative(cfg(routes=[{"paths": ["/"], "headers": {}, "sources": None}]))


@pytest.mark.parametrize("entry, message", [
    ({"url": "ftp://files.test"}, 'services[0].url: unsupported scheme "ftp" (expected http or https)'),
    ({"url": "files.test/x"}, 'services[0].url: missing scheme in url "files.test/x"'),
    ({"url": "http:///x"}, 'services[0].url: missing host in url "http:///x"'),
    ({"url": "http://h:99999"}, 'services[0].url: could not parse url "http://h:99999": '
                                'Port out of range 0-65535'),
    ({"url": "http://h/?a=1"}, 'services[0].url: a query string or fragment in the url is not supported'),
    ({"url": "http://u:p@h/"}, "services[0].url: credentials in the url are not supported"),
    ({"url": "http://h/a//b"}, "services[0].url: path must not have empty segments"),
    ({"url": "http://h", "host": "h"}, 'services[0].url: cannot be combined with "host"'),
    ({"host": "h", "asgi": "app:app"}, 'services[0].asgi: cannot be combined with "host"'),
    ({"asgi": "not a target"}, 'services[0].asgi: expected "module:attribute", got "not a target"'),
    ({}, 'services[0]: must set "url", "host" or "asgi"'),
    ({"host": "h:80"}, "services[0].host: must not have a port"),
    ({"host": "bad host"}, "services[0].host: invalid value: bad host"),
    ({"host": "h", "protocol": "grpcs"}, 'services[0].protocol: protocol "grpcs" not supported by purekong'),
    ({"host": "h", "protocol": "gopher"}, 'services[0].protocol: invalid protocol "gopher" (expected http or https)'),
    ({"host": "h", "port": 70000}, "services[0].port: value should be between 0 and 65535"),
    ({"host": "h", "port": "80"}, 'services[0].port: expected an integer, got string "80"'),
    ({"host": "h", "port": True}, "services[0].port: expected an integer, got boolean true"),
    ({"host": "h", "path": "v1"}, 'services[0].path: must start with "/"'),
    ({"host": "h", "read_timeout": 0}, "services[0].read_timeout: value should be between 1 and 2147483646"),
    ({"host": "h", "retries": -1}, "services[0].retries: value should be between 0 and 32767"),
    ({"host": "h", "tls_verify": True},
     "services[0].tls_verify: not supported by purekong (only Kong's default value is accepted)"),
    ({"host": "h", "name": "a b"}, 'services[0] (name "a b").name: invalid value "a b": the only accepted '
                                   'ascii characters are alphanumerics or ".", "-", "_" and "~"'),
    ({"host": "h", "routes": {}}, "services[0].routes: expected an array, got object {}"),
    ({"host": "h", "routes": ["x"]}, 'services[0].routes[0]: expected an object, got string "x"'),
])
def test_service_errors(entry, message):
    assert only_problem(cfg(services=[entry])) == message


def test_service_tls_verify_default_accepted():
    parse_declarative(cfg(services=[{"host": "h", "tls_verify": False, "ca_certificates": []}]))


def test_nested_route_and_plugin_locations():
    found = problems(cfg(services=[{
        "name": "s", "host": "h",
        "routes": [{"name": "r", "paths": ["nope"], "service": "s",
                    "plugins": [{"name": "cors", "route": "r", "config": "x"}]}],
    }]))
    assert found == [
        'services[0] (name "s").routes[0] (name "r").service: must not be set on a route nested under a service',
        'services[0] (name "s").routes[0] (name "r").paths[0]: must start with "/"',
        'services[0] (name "s").routes[0] (name "r").plugins[0] (name "cors").route: '
        'must not be set on a plugin nested under a route',
        'services[0] (name "s").routes[0] (name "r").plugins[0] (name "cors").config: '
        'expected an object, got string "x"',
    ]


@pytest.mark.parametrize("entry, message", [
    ({"name": "mtls-auth", "route": "nope"}, 'plugins[0] (name "mtls-auth").route: no route named "nope"'),
    ({"name": "mtls-auth", "service": "nope"}, 'plugins[0] (name "mtls-auth").service: no service named "nope"'),
    ({"name": "mtls-auth", "consumer": "bob"},
     'plugins[0] (name "mtls-auth").consumer: no consumer with username "bob"'),
    ({"name": "mtls-auth", "route": CA_ID}, f'plugins[0] (name "mtls-auth").route: no route with id "{CA_ID}"'),
    ({"name": "mtls-auth", "route": {"id": "x"}}, 'plugins[0] (name "mtls-auth").route: no route with id "x"'),
    ({"config": {}}, "plugins[0].name: required field missing"),
    ({"name": ["mtls-auth"]}, 'plugins[0].name: expected a string, got array ["mtls-auth"]'),
    ({"name": "x", "enabled": "no"}, 'plugins[0] (name "x").enabled: expected a boolean, got string "no"'),
    ({"name": "x", "protocols": ["smtp"]}, 'plugins[0] (name "x").protocols[0]: invalid protocol "smtp"'),
    ({"name": "x", "consumer_group": "g"},
     'plugins[0] (name "x").consumer_group: not supported by purekong (only Kong\'s default value is accepted)'),
    ({"name": "x", "run_on": "first"}, 'plugins[0] (name "x").run_on: unknown field'),
])
def test_plugin_errors(entry, message):
    assert only_problem(cfg(plugins=[entry])) == message


def test_plugin_config_is_not_validated_here():
    d = parse_declarative(cfg(plugins=[{"name": "anything", "config": {"whatever": [1, {"x": None}]}}]))
    assert d.plugins[0].config == {"whatever": [1, {"x": None}]}


def test_duplicate_plugin_scope():
    found = problems(cfg(plugins=[{"name": "cors"}, {"name": "cors"}, {"name": "cors", "enabled": False}]))
    assert found == [
        'plugins[1] (name "cors"): plugin "cors" is already configured for the same service, route and '
        'consumer (by plugins[0] (name "cors"))',
        'plugins[2] (name "cors"): plugin "cors" is already configured for the same service, route and '
        'consumer (by plugins[0] (name "cors"))',
    ]
    # Same route named two ways: still the same scope.
    found = problems(cfg(routes=[{"name": "r", "id": CA_ID, "paths": ["/"], "plugins": [{"name": "acl"}]}],
                         plugins=[{"name": "acl", "route": "r"}]))
    assert found == ['plugins[0] (name "acl"): plugin "acl" is already configured for the same service, '
                     'route and consumer (by routes[0] (name "r").plugins[0] (name "acl"))']


def test_certificate_errors(config_certs):
    server, other = config_certs["server"], config_certs["other"]
    good_key = key_pem(server.key)
    cases = [
        ({"cert": server.pem, "key": key_pem(other.key)}, "certificates[0].key: does not match the certificate"),
        ({"cert": "junk", "key": good_key}, 'certificates[0].cert: invalid certificate: no PEM "CERTIFICATE" '
                                            'block found'),
        ({"key": good_key}, "certificates[0].cert: required field missing"),
        ({"cert": server.pem}, "certificates[0].key: required field missing"),
        ({"cert": server.pem, "key": "junk"}, 'certificates[0].key: invalid key: no PEM "PRIVATE KEY" block found'),
        ({"cert": server.pem, "key": good_key, "snis": ["a.test"]},
         'certificates[0].snis[0]: expected an object, got string "a.test"'),
        ({"cert": server.pem, "key": good_key, "snis": [{"name": "a.*.test"}]},
         'certificates[0].snis[0] (name "a.*.test").name: wildcard must be the leftmost ("*.example.com") or '
         'rightmost ("example.*") label'),
        ({"cert": server.pem, "key": good_key, "snis": [{"name": "10.1.1.1"}]},
         'certificates[0].snis[0] (name "10.1.1.1").name: must not be an IP'),
        ({"cert": server.pem, "key": good_key, "cert_alt": server.pem},
         "certificates[0].cert_alt: not supported by purekong (only Kong's default value is accepted)"),
    ]
    for entry, message in cases:
        assert only_problem(cfg(certificates=[entry])) == message
    encrypted = server.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.BestAvailableEncryption(b"pw")).decode()
    assert only_problem(cfg(certificates=[{"cert": server.pem, "key": encrypted}])) == \
        "certificates[0].key: encrypted private keys are not supported"


def test_certificate_with_chain_and_index_in_message(config_certs):
    server, ca = config_certs["server"], config_certs["ca"]
    d = parse_declarative(cfg(certificates=[{"cert": server.pem + ca.pem, "key": key_pem(server.key)}]))
    assert d.certificates[0].chain == (server.cert, ca.cert)
    found = problems(cfg(certificates=[
        {"cert": server.pem, "key": key_pem(server.key)},
        {"cert": config_certs["other"].pem, "key": key_pem(server.key)},
    ]))
    assert found == ["certificates[1].key: does not match the certificate"]


def test_duplicate_snis_across_certificates(config_certs):
    server, other = config_certs["server"], config_certs["other"]
    found = problems(cfg(certificates=[
        {"cert": server.pem, "key": key_pem(server.key), "snis": [{"name": "a.test"}]},
        {"cert": other.pem, "key": key_pem(other.key), "snis": [{"name": "A.test"}]},
    ]))
    assert found == ['certificates[1].snis[0] (name "A.test").name: duplicate SNI "a.test" '
                     '(also used by certificates[0].snis[0] (name "a.test"))']


def test_top_level_snis(config_certs):
    server = config_certs["server"]
    cert_id = "22222222-2222-4222-8222-222222222222"
    d = parse_declarative(cfg(certificates=[{"id": cert_id, "cert": server.pem, "key": key_pem(server.key)}],
                              snis=[{"name": "top.test", "certificate": cert_id}]))
    assert d.certificates[0].snis == ("top.test",)
    assert only_problem(cfg(snis=[{"name": "x.test", "certificate": cert_id}])) == \
        f'snis[0] (name "x.test").certificate: no certificate with id "{cert_id}"'


@pytest.mark.parametrize("which, message", [
    ("leaf", 'ca_certificates[0].cert: certificate does not appear to be a CA because it is missing the '
             '"CA" basic constraint'),
    ("expired", 'ca_certificates[0].cert: certificate expired, "Not After" time is in the past'),
    ("two", "ca_certificates[0].cert: please submit only one certificate at a time"),
])
def test_ca_certificate_errors(config_certs, which, message):
    pem = config_certs["ca"].pem * 2 if which == "two" else config_certs[which].pem
    assert only_problem(cfg(ca_certificates=[{"cert": pem}])) == message


def test_duplicate_ca_certificate(config_certs):
    found = problems(cfg(ca_certificates=[{"cert": config_certs["ca"].pem}, {"cert": config_certs["ca"].pem}]))
    assert found == ["ca_certificates[1].cert: duplicate CA certificate (also used by ca_certificates[0])"]


def test_consumer_and_credential_errors(config_certs):
    found = problems(cfg(
        consumers=[
            {"username": "alice", "mtls_auth_credentials": [
                {"subject_name": "CN=a", "ca_certificate": CA_ID},
                {"ca_certificate": "nope"},
            ], "keyauth_credentials": [{"key": "k"}]},
            {"username": "alice"},
            {},
            {"custom_id": 7},
        ],
    ))
    assert found == [
        'consumers[0] (username "alice").keyauth_credentials: entity type not supported by purekong',
        'consumers[0] (username "alice").mtls_auth_credentials[1].subject_name: required field missing',
        'consumers[2]: must set at least one of "username" or "custom_id"',
        "consumers[3].custom_id: expected a string, got integer 7",
        'consumers[1] (username "alice").username: duplicate username "alice" (also used by consumers[0] '
        '(username "alice"))',
        'consumers[0] (username "alice").mtls_auth_credentials[0] (subject_name "CN=a").ca_certificate: '
        f'no CA certificate with id "{CA_ID}"',
        'consumers[0] (username "alice").mtls_auth_credentials[1].ca_certificate: '
        'no CA certificate with id "nope"',
    ]


def test_top_level_credentials(config_certs):
    d = parse_declarative(cfg(consumers=[{"username": "bob"}],
                              ca_certificates=[{"id": CA_ID, "cert": config_certs["ca"].pem}],
                              mtls_auth_credentials=[{"consumer": "bob", "subject_name": "CN=bob",
                                                      "ca_certificate": {"id": CA_ID}}]))
    assert d.consumers[0].mtls_auth_credentials[0].subject_name == "CN=bob"
    found = problems(cfg(mtls_auth_credentials=[{"subject_name": "CN=x"}, {"subject_name": "CN=y",
                                                                            "consumer": "zed"}]))
    assert found == [
        'mtls_auth_credentials[0] (subject_name "CN=x").consumer: required field missing',
        'mtls_auth_credentials[1] (subject_name "CN=y").consumer: no consumer with username "zed"',
    ]


def test_credential_subject_unique_across_consumers(config_certs):
    found = problems(cfg(consumers=[
        {"username": "a", "mtls_auth_credentials": [{"subject_name": "CN=x"}]},
        {"username": "b", "mtls_auth_credentials": [{"subject_name": "CN=x"}]},
    ]))
    assert found == ['consumers[1] (username "b").mtls_auth_credentials[0] (subject_name "CN=x"): duplicate '
                     'credential: subject_name "CN=x" with the same ca_certificate is already used by '
                     'consumers[0] (username "a").mtls_auth_credentials[0] (subject_name "CN=x")']


def test_unique_names_and_ids():
    found = problems(cfg(services=[{"name": "s", "host": "h"}, {"name": "s", "host": "h"}],
                         routes=[{"id": CA_ID, "paths": ["/"]}, {"id": CA_ID.upper(), "paths": ["/"]}]))
    assert found == [
        f'routes[1]: duplicate id "{CA_ID}" (also used by routes[0])',
        'services[1] (name "s").name: duplicate name "s" (also used by services[0] (name "s"))',
    ]


def test_top_level_keys():
    found = problems({"_format_version": "3.0", "upstreams": [], "servics": [], "_transform": "yes"})
    assert found == [
        "upstreams: entity type not supported by purekong",
        "servics: unknown top-level key",
        '_transform: expected a boolean, got string',
    ]
    assert problems([1]) == ["(top level): expected an object, got array"]


def test_all_problems_reported_at_once(config_certs):
    data = cfg(
        services=[{"name": "s", "url": "ftp://x"}],
        routes=[{"name": "api", "paths": ["a", "/b//"], "service": "s"}],
        plugins=[{"name": "mtls-auth", "route": "nope"}],
        certificates=[{"cert": config_certs["server"].pem, "key": key_pem(config_certs["other"].key)}],
    )
    with pytest.raises(ConfigError) as info:
        parse_declarative(data, source="kong.yml")
    assert info.value.problems == [
        'services[0] (name "s").url: unsupported scheme "ftp" (expected http or https)',
        'routes[0] (name "api").paths[0]: must start with "/"',
        'routes[0] (name "api").paths[1]: must not have empty segments',
        "certificates[0].key: does not match the certificate",
        'plugins[0] (name "mtls-auth").route: no route named "nope"',
    ]
    text = str(info.value)
    assert text.startswith("kong.yml: invalid declarative configuration (5 problems):\n  services[0]")
    assert info.value.source == "kong.yml"


# --------------------------------------------------------------------------
# Files


def test_load_yaml_and_json(tmp_path, config_certs):
    yml = tmp_path / "kong.yml"
    yml.write_text(
        '_format_version: "3.0"\n'
        "services:\n"
        "- name: backend\n"
        "  url: http://upstream.test\n"
        "  routes:\n"
        "  - name: api\n"
        "    paths: [/api]\n"
        "certificates:\n"
        "- cert: |\n" + "".join(f"    {line}\n" for line in config_certs["server"].pem.splitlines()) +
        "  key: |\n" + "".join(f"    {line}\n" for line in key_pem(config_certs["server"].key).splitlines()) +
        "  snis:\n  - name: example.test\n"
    )
    d = load_declarative(yml)
    assert d.routes[0].paths == ("/api",) and d.certificates[0].snis == ("example.test",)
    js = tmp_path / "kong.json"
    js.write_text(json.dumps(full_config(config_certs)))
    assert len(load_declarative(str(js)).services) == 2


def test_load_errors(tmp_path):
    missing = tmp_path / "nope.yml"
    with pytest.raises(ConfigError) as info:
        load_declarative(missing)
    assert info.value.problems[0].startswith("cannot read the file: ")
    assert info.value.source == str(missing)

    other = tmp_path / "kong.toml"
    other.write_text("x")
    with pytest.raises(ConfigError) as info:
        load_declarative(other)
    assert info.value.problems == ["unknown file type '.toml' (accepted: .json, .yml, .yaml)"]

    broken = tmp_path / "kong.json"
    broken.write_text("{")
    with pytest.raises(ConfigError) as info:
        load_declarative(broken)
    assert info.value.problems[0].startswith("failed parsing declarative configuration: Expecting")

    dup = tmp_path / "dup.yaml"
    dup.write_text('_format_version: "3.0"\nservices:\n- host: a\n  host: b\n')
    with pytest.raises(ConfigError) as info:
        load_declarative(dup)
    assert "duplicate key 'host'" in info.value.problems[0]

    dup_json = tmp_path / "dup.json"
    dup_json.write_text('{"_format_version": "3.0", "_format_version": "3.0"}')
    with pytest.raises(ConfigError) as info:
        load_declarative(dup_json)
    assert info.value.problems == ["failed parsing declarative configuration: duplicate key '_format_version'"]

    unquoted = tmp_path / "unquoted.yml"
    unquoted.write_text("_format_version: 3.0\n")
    with pytest.raises(ConfigError) as info:
        load_declarative(unquoted)
    assert info.value.problems == ['_format_version: expected a string, got number 3.0 (quote it: "3.0")']

    unsafe = tmp_path / "unsafe.yaml"
    unsafe.write_text('_format_version: !!python/object/apply:os.system ["true"]\n')
    with pytest.raises(ConfigError) as info:
        load_declarative(unsafe)
    assert info.value.problems[0].startswith("failed parsing declarative configuration:")

    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("hello\n")
    with pytest.raises(ConfigError) as info:
        load_declarative(scalar)
    assert info.value.problems == ["(top level): expected an object, got string"]


# --------------------------------------------------------------------------
# Properties: whatever the input, ConfigError or a Declarative, nothing else


_scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 70000), st.floats(allow_nan=False),
                     st.sampled_from(["", "/", "/api", "a", "h.test", "*.h.test", "GET", "http", "https",
                                      "http://u.test/p", "ftp://x", "~/re", "s", "r", CA_ID, "a b",
                                      "mod:app", "3.0"]))
_values = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.dictionaries(st.sampled_from(["name", "host", "paths", "id", "x", "url", "service", "route"]),
                    inner, max_size=3)), max_leaves=8)

_FIELDS = {
    "services": ["name", "url", "host", "port", "protocol", "path", "asgi", "retries", "routes", "plugins",
                 "enabled", "tls_verify", "bogus"],
    "routes": ["name", "service", "paths", "hosts", "methods", "snis", "protocols", "strip_path",
               "preserve_host", "plugins", "headers", "id"],
    "plugins": ["name", "config", "enabled", "service", "route", "consumer", "protocols", "instance_name"],
    "consumers": ["username", "custom_id", "plugins", "mtls_auth_credentials", "id"],
    "ca_certificates": ["id", "cert"],
    "certificates": ["cert", "key", "snis"],
}


def _entity(kind: str):
    return st.dictionaries(st.sampled_from(_FIELDS[kind]), _values, max_size=6)


_configs = st.fixed_dictionaries(
    {"_format_version": st.sampled_from(["3.0", "3.0", "2.1", "1.1", "9", 3.0])},
    optional={kind: st.lists(_entity(kind), max_size=3) for kind in _FIELDS},
)


@given(_configs)
def test_random_configs_raise_only_config_error(data):
    try:
        d = parse_declarative(data)
    except ConfigError as exc:
        assert exc.problems and all(isinstance(p, str) and ": " in p for p in exc.problems)
    else:
        assert isinstance(d, Declarative)


@given(st.lists(st.sampled_from(["/a", "/a/b", "/b", "/", "/a/b/c"]), min_size=1, max_size=4, unique=True),
       st.sampled_from(["s1", "s2", None]))
def test_valid_routes_always_load_and_keep_order(paths, name):
    data = cfg(services=[{"name": "s1", "host": "h"}],
               routes=[{"name": name, "paths": paths, "service": "s1"}] if name else [{"paths": paths}])
    if name == "s2":
        data["routes"][0]["name"] = "s2"
    d = parse_declarative(data)
    assert d.routes[0].paths == tuple(paths)
