"""Kong-style routing, SNI matching (spec §7.1) and certificate selection."""

from __future__ import annotations

import dataclasses
import uuid

import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import given
from hypothesis import strategies as st

from _pki import make_ca, make_cert, pool_key
from purekong.gateway import (
    Declarative,
    Route,
    Router,
    Service,
    certificate_for,
    match_sni,
    parse_declarative,
    sni_matches,
)
from purekong.gateway._router import _priority


def router(*routes: dict, services: list | None = None) -> Router:
    return Router(parse_declarative({"_format_version": "3.0", "routes": list(routes),
                                     "services": services or []}))


def get(r: Router, path: str = "/", *, host: str | None = "h.test", method: str = "GET",
        protocol: str = "http", sni: str | None = None):
    return r.match(protocol=protocol, method=method, host=host, path=path, sni=sni)


def name_of(match) -> str | None:
    return match.route.name if match else None


# --------------------------------------------------------------------------
# Upstream path: Kong's own vectors, spec/01-unit/08-router_spec.lua
# "slash handling" (service path, route path, request, expected, strip_path)

SLASH_HANDLING = [
    ("/", "/", "/", "/", True),
    ("/", "/", "/foo/bar", "/foo/bar", True),
    ("/", "/", "/foo/bar/", "/foo/bar/", True),
    ("/", "/foo/bar", "/foo/bar", "/", True),
    ("/", "/foo/bar/", "/foo/bar/", "/", True),
    ("/fee/bor", "/", "/", "/fee/bor", True),
    ("/fee/bor", "/", "/foo/bar", "/fee/bor/foo/bar", True),
    ("/fee/bor", "/", "/foo/bar/", "/fee/bor/foo/bar/", True),
    ("/fee/bor", "/foo/bar", "/foo/bar", "/fee/bor", True),
    ("/fee/bor", "/foo/bar/", "/foo/bar/", "/fee/bor/", True),
    ("/fee/bor/", "/", "/", "/fee/bor/", True),
    ("/fee/bor/", "/", "/foo/bar", "/fee/bor/foo/bar", True),
    ("/fee/bor/", "/", "/foo/bar/", "/fee/bor/foo/bar/", True),
    ("/fee/bor/", "/foo/bar", "/foo/bar", "/fee/bor", True),
    ("/fee/bor/", "/foo/bar/", "/foo/bar/", "/fee/bor/", True),
    ("/", "/", "/", "/", False),
    ("/", "/", "/foo/bar", "/foo/bar", False),
    ("/", "/", "/foo/bar/", "/foo/bar/", False),
    ("/", "/foo/bar", "/foo/bar", "/foo/bar", False),
    ("/", "/foo/bar/", "/foo/bar/", "/foo/bar/", False),
    ("/fee/bor", "/", "/", "/fee/bor", False),
    ("/fee/bor", "/", "/foo/bar", "/fee/bor/foo/bar", False),
    ("/fee/bor", "/", "/foo/bar/", "/fee/bor/foo/bar/", False),
    ("/fee/bor", "/foo/bar", "/foo/bar", "/fee/bor/foo/bar", False),
    ("/fee/bor", "/foo/bar/", "/foo/bar/", "/fee/bor/foo/bar/", False),
    ("/fee/bor/", "/", "/", "/fee/bor/", False),
    ("/fee/bor/", "/", "/foo/bar", "/fee/bor/foo/bar", False),
    ("/fee/bor/", "/", "/foo/bar/", "/fee/bor/foo/bar/", False),
    ("/fee/bor/", "/foo/bar", "/foo/bar", "/fee/bor/foo/bar", False),
    ("/fee/bor/", "/foo/bar/", "/foo/bar/", "/fee/bor/foo/bar/", False),
    ("/", "/", "/foo/bars", "/foo/bars", True),
    ("/", "/", "/foo/bar/s", "/foo/bar/s", True),
    ("/", "/foo/bar", "/foo/bars", "/s", True),
    ("/", "/foo/bar/", "/foo/bar/s", "/s", True),
    ("/fee/bor", "/", "/foo/bars", "/fee/bor/foo/bars", True),
    ("/fee/bor", "/", "/foo/bar/s", "/fee/bor/foo/bar/s", True),
    ("/fee/bor", "/foo/bar", "/foo/bars", "/fee/bor/s", True),
    ("/fee/bor", "/foo/bar/", "/foo/bar/s", "/fee/bor/s", True),
    ("/fee/bor/", "/", "/foo/bars", "/fee/bor/foo/bars", True),
    ("/fee/bor/", "/", "/foo/bar/s", "/fee/bor/foo/bar/s", True),
    ("/fee/bor/", "/foo/bar", "/foo/bars", "/fee/bor/s", True),
    ("/fee/bor/", "/foo/bar/", "/foo/bar/s", "/fee/bor/s", True),
    ("/", "/", "/foo/bars", "/foo/bars", False),
    ("/", "/", "/foo/bar/s", "/foo/bar/s", False),
    ("/", "/foo/bar", "/foo/bars", "/foo/bars", False),
    ("/", "/foo/bar/", "/foo/bar/s", "/foo/bar/s", False),
    ("/fee/bor", "/", "/foo/bars", "/fee/bor/foo/bars", False),
    ("/fee/bor", "/", "/foo/bar/s", "/fee/bor/foo/bar/s", False),
    ("/fee/bor", "/foo/bar", "/foo/bars", "/fee/bor/foo/bars", False),
    ("/fee/bor", "/foo/bar/", "/foo/bar/s", "/fee/bor/foo/bar/s", False),
    ("/fee/bor/", "/", "/foo/bars", "/fee/bor/foo/bars", False),
    ("/fee/bor/", "/", "/foo/bar/s", "/fee/bor/foo/bar/s", False),
    ("/fee/bor/", "/foo/bar", "/foo/bars", "/fee/bor/foo/bars", False),
    ("/fee/bor/", "/foo/bar/", "/foo/bar/s", "/fee/bor/foo/bar/s", False),
]


@pytest.mark.parametrize("service_path, route_path, request_path, expected, strip", SLASH_HANDLING)
def test_kong_slash_handling(service_path, route_path, request_path, expected, strip):
    r = router(services=[{"name": "s", "host": "up.test", "path": service_path,
                          "routes": [{"paths": [route_path], "strip_path": strip}]}])
    m = get(r, request_path)
    assert m.upstream_path == expected
    assert m.stripped_prefix == (route_path if strip else None)


def test_host_only_route_upstream_path():
    # Kong's integration table, block "matches on host, instead of path".
    r = router(services=[{"name": "s", "url": "http://up.test/fee/bor/", "routes": [{"hosts": ["h.test"]}]}])
    assert get(r, "/foo/bar").upstream_path == "/fee/bor/foo/bar"
    assert get(r, "/").upstream_path == "/fee/bor/"


def test_request_path_is_normalized_and_escaped():
    r = router({"name": "a", "paths": ["/a/c"]}, {"name": "t", "paths": ["/~t"]})
    m = get(r, "/a/./b/../c/x%20y?q=1")
    assert (name_of(m), m.upstream_path) == ("a", "/x%20y")
    assert name_of(get(r, "/%7et")) == "t"  # unreserved escapes are decoded before matching
    assert get(r, "/a//c/%2F").upstream_path == "/%2F"  # reserved escapes stay escaped
    assert get(r, "/a/c/\u00e9").upstream_path == "/%C3%A9"


# --------------------------------------------------------------------------
# Matching rules


def test_paths_are_plain_prefixes():
    r = router({"name": "api", "paths": ["/api"]})
    assert name_of(get(r, "/api")) == "api"
    assert name_of(get(r, "/apiv2")) == "api"  # Kong: a string prefix, not a segment
    assert get(r, "/ap") is None


def test_hosts_exact_wildcards_and_ports():
    r = router({"name": "exact", "hosts": ["example.com"]},
               {"name": "left", "hosts": ["*.example.org"]},
               {"name": "right", "hosts": ["example.*"]},
               {"name": "port", "hosts": ["ported.test:8443"]})
    assert name_of(get(r, host="example.com")) == "exact"
    assert name_of(get(r, host="EXAMPLE.com:8000")) == "exact"  # port stripped, case-insensitive
    assert name_of(get(r, host="a.example.org")) == "left"
    assert name_of(get(r, host="a.b.example.org")) == "left"  # suffix match, any depth
    assert get(r, host="sub.example.org") is not None and get(r, host="xexample.org") is None
    assert name_of(get(r, host="example.org")) == "right"  # not "left": *.example.org needs a label
    assert name_of(get(r, host="example.net")) == "right"
    assert name_of(get(r, host="example.co.uk")) == "right"
    assert name_of(get(r, host="ported.test:8443")) == "port"
    assert get(r, host="ported.test") is None
    assert get(r, host="ported.test:443") is None
    assert get(r, host=None) is None
    m = get(r, host="x.example.org")
    assert m.matched_host == "*.example.org"


def test_ipv6_hosts():
    r = router({"name": "v6", "hosts": ["[::1]"]})
    assert name_of(get(r, host="[::1]:8080")) == "v6"


def test_methods():
    r = router({"name": "w", "methods": ["POST", "PUT"]})
    assert name_of(get(r, method="PUT")) == "w"
    assert get(r, method="GET") is None
    assert get(r, method="put") is None  # methods are case-sensitive
    assert get(r, method="POST").matched_method == "POST"


def test_snis_only_considered_for_https():
    r = router({"name": "sni", "snis": ["api.test"], "paths": ["/"]})
    assert name_of(get(r, protocol="https", sni="api.test")) == "sni"
    assert name_of(get(r, protocol="https", sni="API.test")) == "sni"
    assert get(r, protocol="https", sni="other.test") is None
    assert get(r, protocol="https", sni=None) is None
    m = get(r, protocol="http")  # compat.lua: net.protocol != "https" || tls.sni == ...
    assert name_of(m) == "sni" and m.matched_sni is None
    assert get(r, protocol="https", sni="api.test").matched_sni == "api.test"


def test_route_sni_trailing_dot_ignored():
    r = router({"name": "sni", "snis": ["api.test."], "paths": ["/"]})
    assert name_of(get(r, protocol="https", sni="api.test")) == "sni"


def test_protocols_are_checked_after_matching_like_kong():
    r = router({"name": "secure", "paths": ["/s"], "protocols": ["https"], "https_redirect_status_code": 301},
               {"name": "plain", "paths": ["/p"], "protocols": ["http"]},
               {"name": "low", "paths": ["/"]})
    m = get(r, "/s/x", protocol="http")
    # The https-only route still wins over the catch-all; the server answers
    # with the redirect / 426 Kong's runloop would.
    assert (name_of(m), m.https_required, m.route.https_redirect_status_code) == ("secure", True, 301)
    assert get(r, "/s/x", protocol="https").https_required is False
    m = get(r, "/p", protocol="https")  # Kong does not refuse http-only routes over https
    assert (name_of(m), m.https_required) == ("plain", False)


def test_disabled_service_routes_do_not_exist():
    r = router({"name": "off", "service": "s", "paths": ["/x"]}, {"name": "on", "paths": ["/"]},
               services=[{"name": "s", "host": "h", "enabled": False}])
    assert name_of(get(r, "/x")) == "on"


def test_serviceless_route_and_preserve_host():
    r = router({"name": "r", "paths": ["/r"], "preserve_host": True})
    m = get(r, "/r/a", host="Front.test:8443")
    assert m.service is None and m.upstream_path == "/a"
    assert m.upstream_host == "Front.test:8443"
    assert router({"name": "r", "paths": ["/r"]}).match(
        protocol="http", method="GET", host="h", path="/r").upstream_host is None


def test_asgi_service_upstream_path():
    r = router(services=[{"name": "app", "asgi": "pkg.mod:app", "routes": [{"paths": ["/app"]}]}])
    m = get(r, "/app/users")
    assert (m.service.protocol, m.upstream_path, m.stripped_prefix) == ("asgi", "/users", "/app")


# --------------------------------------------------------------------------
# Priority (compat.lua get_priority)


def test_more_fields_beat_longer_paths():
    r = router({"name": "long", "paths": ["/a/very/long/path"]},
               {"name": "host-short", "paths": ["/a"], "hosts": ["h.test"]})
    assert name_of(get(r, "/a/very/long/path")) == "host-short"


def test_plain_host_beats_wildcard_host():
    r = router({"name": "wild", "hosts": ["*.test"], "paths": ["/abcdef"]},
               {"name": "plain", "hosts": ["h.test"], "paths": ["/a"]})
    assert name_of(get(r, "/abcdef")) == "plain"


def test_longer_prefix_wins():
    r = router({"name": "root", "paths": ["/"]}, {"name": "api", "paths": ["/api"]},
               {"name": "v1", "paths": ["/api/v1"]})
    assert [name_of(get(r, p)) for p in ("/", "/api/x", "/api/v1/x", "/other")] == ["root", "api", "v1", "root"]


def test_multi_path_route_is_split_by_length():
    r = router({"name": "a", "paths": ["/x", "/x/y/z"]}, {"name": "b", "paths": ["/x/y"]})
    assert name_of(get(r, "/x/y/z/w")) == "a"  # a's 6-long prefix beats b's 4
    assert name_of(get(r, "/x/y/w")) == "b"  # b's 4-long beats a's 2-long
    assert name_of(get(r, "/x/w")) == "a"
    assert get(r, "/x/y/z").matched_path == "/x/y/z"


def test_ties_go_to_the_larger_uuid():
    low, high = "00000000-0000-4000-8000-000000000001", "ffffffff-0000-4000-8000-000000000001"
    for order in ((low, high), (high, low)):
        r = router(*({"id": i, "name": f"r{i[0]}", "paths": ["/same"]} for i in order))
        assert get(r, "/same").route.id == high


def test_split_matcher_ids_follow_compat_lua():
    route_id = "11111111-1111-4111-8111-111111111111"
    r = router({"id": route_id, "paths": ["/a", "/bb"]})
    ns = uuid.UUID("7f145bf9-0dce-4f91-98eb-debbce4b9f6b")
    got = sorted(m.uuid for m in r._matchers)
    assert got == sorted(uuid.uuid5(ns, f"{route_id}#{n}").bytes for n in (2, 3))


def test_priority_bits():
    route = Route(id=str(uuid.uuid4()), name=None, service=None, methods=("GET",), hosts=("a.test",),
                  paths=("/abc",), snis=("a.test",))
    assert _priority(route, route.paths) == (4 << 61) | (1 << 60) | 4
    wild = dataclasses.replace(route, hosts=("*.test",), snis=(), methods=())
    assert _priority(wild, ()) == (1 << 61)


# --------------------------------------------------------------------------
# Properties

_paths = st.sampled_from(["/", "/a", "/a/b", "/ab", "/b", "/a/b/c"])
_hosts = st.sampled_from(["a.test", "b.test", "*.test", "a.*", "a.test:8080"])
_route = st.fixed_dictionaries({}, optional={
    "paths": st.lists(_paths, min_size=1, max_size=3, unique=True),
    "hosts": st.lists(_hosts, min_size=1, max_size=2, unique=True),
    "methods": st.lists(st.sampled_from(["GET", "POST"]), min_size=1, max_size=2, unique=True),
    "snis": st.lists(st.sampled_from(["a.test", "b.test"]), min_size=1, max_size=2, unique=True),
}).filter(lambda r: bool(r))
_request = st.fixed_dictionaries({
    "protocol": st.sampled_from(["http", "https"]),
    "method": st.sampled_from(["GET", "POST"]),
    "host": st.sampled_from(["a.test", "b.test", "a.test:8080", "a.org", None]),
    "path": st.sampled_from(["/", "/a", "/a/b", "/a/b/c/d", "/ab", "/b/x", "/c"]),
    "sni": st.sampled_from(["a.test", "b.test", None]),
})


def _declarative(routes: list[dict]) -> Declarative:
    return parse_declarative({"_format_version": "3.0",
                              "routes": [{"id": str(uuid.UUID(int=i * 7919 + 1, version=4)), **r}
                                         for i, r in enumerate(routes)]})


def _satisfies(route: Route, req: dict) -> bool:
    """Every field the route sets matches the request (independent oracle)."""
    host = (req["host"] or "").split(":")[0]
    port = req["host"].split(":")[1] if req["host"] and ":" in req["host"] else None
    if route.methods and req["method"] not in route.methods:
        return False
    if route.snis and req["protocol"] == "https" and req["sni"] not in route.snis:
        return False
    if route.hosts:
        def host_ok(entry: str) -> bool:
            name, _, want_port = entry.partition(":")
            if want_port and want_port != port:
                return False
            if name.startswith("*"):
                return host.endswith(name[1:])
            if name.endswith("*"):
                return host.startswith(name[:-1])
            return host == name
        if req["host"] is None or not any(host_ok(h) for h in route.hosts):
            return False
    if route.paths and not any(req["path"].startswith(p) for p in route.paths):
        return False
    return True


@given(st.lists(_route, min_size=1, max_size=5), _request, st.randoms(use_true_random=False))
def test_router_properties(routes, req, rnd):
    d = _declarative(routes)
    m = Router(d).match(**req)
    # Determinism: the configuration order does not matter.
    shuffled = list(d.routes)
    rnd.shuffle(shuffled)
    again = Router(dataclasses.replace(d, routes=tuple(shuffled))).match(**req)
    assert (m and m.route.id) == (again and again.route.id)
    candidates = [r for r in d.routes if _satisfies(r, req)]
    if m is None:
        assert candidates == []
        return
    assert _satisfies(m.route, req)

    # Nothing that matches ranks above the chosen one (compat.lua priority,
    # paths split by length, ties to the larger UUID).
    def rank(route: Route) -> tuple[int, bytes]:
        best = (-1, b"")
        for path_group in ({len(p) for p in route.paths} or {None}):
            paths = tuple(p for p in route.paths if len(p) == path_group) if path_group else ()
            if paths and not any(req["path"].startswith(p) for p in paths):
                continue
            ident = route.id if len(route.paths) <= 1 else str(uuid.uuid5(
                uuid.UUID("7f145bf9-0dce-4f91-98eb-debbce4b9f6b"), f"{route.id}#{path_group}"))
            best = max(best, (_priority(route, paths), uuid.UUID(ident).bytes))
        return best

    assert rank(m.route) == max(rank(r) for r in candidates)


@given(st.lists(_route, min_size=1, max_size=4), _request)
def test_match_is_repeatable(routes, req):
    r = Router(_declarative(routes))
    assert r.match(**req) == r.match(**req)


@given(st.lists(_route, min_size=1, max_size=4), st.lists(_request, min_size=1, max_size=12),
       st.sampled_from(["", "?q=1", "?a=b&c"]))
def test_a_remembered_match_is_the_one_a_fresh_router_makes(routes, requests, query):
    """The router remembers its matches (as Kong's LRU cache does): a warm
    router answers every request, query string or not, as a new one would."""
    d = _declarative(routes)
    warm = Router(d)
    for req in requests + requests:
        assert warm.match(**{**req, "path": req["path"] + query}) == Router(d).match(**req)


def test_the_match_cache_is_bounded(monkeypatch):
    from purekong.gateway import _router

    monkeypatch.setattr(_router, "MATCH_CACHE_SIZE", 8)
    r = router({"name": "a", "paths": ["/a"]})
    for i in range(20):
        assert name_of(get(r, f"/a/{i}")) == "a" and name_of(get(r, f"/b/{i}")) is None
        assert len(r._cache) <= 8


# --------------------------------------------------------------------------
# SNI matching for the mTLS plugins (spec §7.1)


def test_match_sni_order():
    snis = ["*", "*.foo.test", "bar.*", "exact.foo.test"]
    assert match_sni(snis, "exact.foo.test") == "exact.foo.test"
    assert match_sni(snis, "a.foo.test") == "*.foo.test"
    assert match_sni(snis, "a.b.foo.test") == "*.foo.test"  # suffix, any depth
    assert match_sni(snis, "bar.foo.test") == "*.foo.test"  # leftmost before rightmost
    assert match_sni(snis, "bar.baz") == "bar.*"
    assert match_sni(snis, "other.test") == "*"
    assert match_sni(snis, None) == "*"  # no SNI: only the global entry applies
    assert match_sni(["a.test"], None) is None
    assert match_sni(["a.test", "*.test"], "b.other") is None
    assert match_sni(["A.Test"], "a.TEST") == "a.test"


def test_match_sni_most_specific_wildcard_first():
    assert match_sni(["*.test", "*.foo.test"], "a.foo.test") == "*.foo.test"
    assert match_sni(["a.*", "a.b.*"], "a.b.c") == "a.b.*"


@pytest.mark.parametrize("pattern, name, expected", [
    ("*", None, True), ("*", "x", True), ("a.test", "a.test", True), ("a.test", "A.TEST", True),
    ("a.test", "b.test", False), ("*.foo.test", "x.foo.test", True), ("*.foo.test", "foo.test", False),
    ("*.foo.test", "xfoo.test", False), ("bar.*", "bar.x.y", True), ("bar.*", "bar", False),
    ("a.test", None, False),
])
def test_sni_matches(pattern, name, expected):
    assert sni_matches(pattern, name) is expected


@given(st.lists(st.sampled_from(["*", "*.a.test", "*.test", "x.*", "x.a.*", "x.a.test", "y.test"]),
                max_size=5), st.sampled_from(["x.a.test", "y.test", "z.a.test", "x.b", "q", None]))
def test_match_sni_agrees_with_sni_matches(snis, name):
    chosen = match_sni(snis, name)
    if chosen is None:
        assert not any(sni_matches(s, name) for s in snis)
    else:
        assert chosen in snis and sni_matches(chosen, name)
        # An exact entry always wins; "*" only when nothing else applies.
        if name in snis:
            assert chosen == name
        if chosen == "*":
            assert not any(sni_matches(s, name) for s in snis if s != "*")


# --------------------------------------------------------------------------
# Certificate selection (kong/runloop/certificate.lua)


@pytest.fixture(scope="module")
def certs():
    ca = make_ca("Cert Selection Root")
    issued = [make_cert(f"c{i}.test", ca, key=pool_key("ec", 10 + i)) for i in range(4)]

    def entry(i, *names):
        key = issued[i].key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()).decode()
        return {"cert": issued[i].pem, "key": key, "snis": [{"name": n} for n in names]}

    return parse_declarative({"_format_version": "3.0", "certificates": [
        entry(0, "exact.example.test"), entry(1, "*.example.test"), entry(2, "www.example.*"), entry(3, "*"),
    ]})


def test_certificate_for_kong_order(certs):
    exact, left, right, default = certs.certificates
    assert certificate_for(certs, "exact.example.test") is exact
    assert certificate_for(certs, "Other.Example.test") is left
    assert certificate_for(certs, "www.example.com") is right
    # One label only: *.example.test is not tried for a.b.example.test.
    assert certificate_for(certs, "a.b.example.test") is default
    assert certificate_for(certs, "www.example.test") is left  # leftmost before rightmost
    assert certificate_for(certs, "unknown") is default
    assert certificate_for(certs, None) is None


def test_certificate_for_without_default():
    assert certificate_for(Declarative(), "a.test") is None
    svc = Service(id="x", name=None, protocol="http")
    assert certificate_for(Declarative(services=(svc,)), "a.test") is None
