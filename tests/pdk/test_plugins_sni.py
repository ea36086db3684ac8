"""Kong EE's SNI set (sni_filter.lua) and its matching (certificate.lua), in isolation."""

from __future__ import annotations

from purekong.gateway import Declarative, PluginEntity, Route, Service
from purekong.plugins import build_sni_set, match_sni
from purekong.plugins._sni import SNISet

SERVICES = (Service("s1", "s1", "http"), Service("s2", "s2", "http"))


def routes(*specs):
    return tuple(Route(rid, rid, service, snis=tuple(snis)) for rid, service, snis in specs)


def test_scopes_build_the_set():
    decl = Declarative(
        services=SERVICES,
        routes=routes(("r1", "s1", ["test1.test"]), ("r2", "s1", ["*.foo.test", "bar.*"]),
                      ("r3", "s2", ["test3.test"]), ("r4", "s2", [])),
        plugins=(
            PluginEntity("p1", "mtls-auth", {"ca_certificates": ["a"]}, route="r1"),
            PluginEntity("p2", "mtls-auth", {"ca_certificates": ["b"]}, route="r2"),
            PluginEntity("p3", "mtls-auth", {"ca_certificates": ["c"]}, service="s2"),
            PluginEntity("p4", "tls-handshake-modifier", {}),  # another plugin's: ignored
            PluginEntity("p5", "mtls-auth", {"ca_certificates": ["d"]}, enabled=False),
        ),
    )
    snis = build_sni_set(decl, "mtls-auth")
    assert set(snis.exact) == {"test1.test", "test3.test"}
    assert set(snis.leftmost) == {"*.foo.test"} and set(snis.rightmost) == {"bar.*"}
    assert snis.star is not None  # r4 has no SNIs
    # Without send_ca_dn nothing is merged: no DN list for any entry.
    assert all(entry.ca_ids is None for entry in snis.entries())
    only_thm = build_sni_set(decl, "tls-handshake-modifier")
    assert only_thm.star is not None and not only_thm.exact


def test_send_ca_dn_merges_ca_ids_per_sni():
    # Shaped like plugins-ee/mtls-auth/spec/05-cadn_spec.lua.
    decl = Declarative(
        services=SERVICES,
        routes=routes(("r1", "s1", ["test1.test"]), ("r3", "s1", ["test3.test"]), ("r4", "s1", ["test3.test"]),
                      ("r5", "s1", ["test4.test"]), ("r6", "s1", ["test5.test"]), ("r7", "s1", []),
                      ("r9", "s2", ["test4.test"]), ("r10", "s2", ["test6.test"]), ("r11", "s2", [])),
        plugins=(
            PluginEntity("g", "mtls-auth", {"ca_certificates": ["other"], "send_ca_dn": True}),
            PluginEntity("p1", "mtls-auth", {"ca_certificates": ["root"], "send_ca_dn": True}, route="r1"),
            PluginEntity("p3", "mtls-auth", {"ca_certificates": ["root"], "send_ca_dn": True}, route="r3"),
            PluginEntity("p4", "mtls-auth", {"ca_certificates": ["sub"], "send_ca_dn": True}, route="r4"),
            PluginEntity("p5", "mtls-auth", {"ca_certificates": ["root"], "send_ca_dn": True}, route="r5"),
            PluginEntity("p6", "mtls-auth", {"ca_certificates": ["root"]}, route="r6"),
            PluginEntity("p7", "mtls-auth", {"ca_certificates": ["root"], "send_ca_dn": True}, route="r7"),
            PluginEntity("p8", "mtls-auth", {"ca_certificates": ["sub"], "send_ca_dn": True}, service="s2"),
        ),
    )
    snis = build_sni_set(decl, "mtls-auth")
    assert snis.exact["test1.test"].ca_ids == ["root"]
    assert snis.exact["test3.test"].ca_ids == ["root", "sub"]  # two routes, same SNI
    assert snis.exact["test4.test"].ca_ids == ["root", "sub"]  # a route and a service
    assert snis.exact["test5.test"].ca_ids is None  # send_ca_dn = false
    assert snis.exact["test6.test"].ca_ids == ["sub"]
    # "*": global, a route without SNIs, a service's route without SNIs. Every
    # instance is visited (the 3.9 sni_filter has no early exit on "*").
    assert snis.star.ca_ids == ["other", "root", "sub"]


def test_match_order_and_log_lines():
    snis = SNISet()
    snis.add_route_snis(["exact.foo.test", "*.foo.test", "bar.*"], False, ())
    lines = []

    def debug(*parts):
        lines.append("".join(parts))

    assert match_sni(snis, "exact.foo.test", debug) is snis.exact["exact.foo.test"]
    assert match_sni(snis, "a.foo.test", debug) is snis.leftmost["*.foo.test"]
    assert match_sni(snis, "a.b.foo.test", debug) is snis.leftmost["*.foo.test"]  # a suffix match
    assert match_sni(snis, "bar.x", debug) is snis.rightmost["bar.*"]
    assert match_sni(snis, "bar.foo.test", debug) is snis.leftmost["*.foo.test"]  # leftmost first
    assert match_sni(snis, "x.y.z", debug) is None
    assert match_sni(snis, None, debug) is None
    assert lines == [
        "matched the plain sni exact.foo.test",
        "a.foo.test matched the sni with the leftmost wildcard *.foo.test",
        "a.b.foo.test matched the sni with the leftmost wildcard *.foo.test",
        "bar.x matched the sni with the rightmost wildcard bar.*",
        "bar.foo.test matched the sni with the leftmost wildcard *.foo.test",
        "client sent an unknown sni x.y.z",
        "client didn't send an sni",
    ]


def test_star_is_the_fallback_for_unknown_and_missing_sni():
    snis = SNISet()
    snis.add_route_snis(["known.test"], False, ())
    snis.add_star(False, ())
    lines = []
    debug = lambda *parts: lines.append("".join(parts))  # noqa: E731
    assert match_sni(snis, "other.test", debug) is snis.star
    assert match_sni(snis, None, debug) is snis.star
    assert lines == ["client sent an unknown sni other.test", "mTLS is enabled globally",
                     "client didn't send an sni", "mTLS is enabled globally"]


def test_matching_follows_the_gateway_router():
    # purekong.gateway.match_sni decides: case-insensitive, and among
    # wildcards the longest first (Kong: Lua hash order, undefined).
    snis = SNISet()
    snis.add_route_snis(["known.test", "*.test", "*.b.test", "A.*"], False, ())
    assert match_sni(snis, "KNOWN.test") is snis.exact["known.test"]
    assert match_sni(snis, "a.b.test") is snis.leftmost["*.b.test"]
    assert match_sni(snis, "x.test") is snis.leftmost["*.test"]
    assert match_sni(snis, "a.example") is snis.rightmost["a.*"]


def test_a_bare_star_sni_is_the_star_entry():
    snis = SNISet()
    snis.add_route_snis(["*"], True, ["ca"])
    assert snis.star is not None and snis.star.ca_ids == ["ca"] and not snis.leftmost
    assert match_sni(snis, None) is snis.star
