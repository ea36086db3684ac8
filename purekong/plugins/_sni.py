"""The SNI set of Kong's EE handshake plugins, and matching a ClientHello's SNI.

Kong builds, per plugin name, a table of the SNIs on which a client
certificate must be requested (``sni_filter.build_ssl_route_filter_set``) and
matches the server name against it at the handshake (``certificate.lua``
``match_sni``).  This is both, written from Kong's
``kong/tls/plugins/sni_filter.lua`` and ``certificate.lua`` (3.9.x, the same
code as EE's ``kong/enterprise_edition/tls/plugins/``).

The choice of entry is the gateway router's ``match_sni``, so that a route
and the plugins on it agree on what a server name matches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from cryptography import x509

from purekong.gateway import Declarative
from purekong.gateway import match_sni as gateway_match_sni


@dataclass
class SNIEntry:
    """What one SNI (or wildcard, or ``*``) maps to.

    ``ca_ids`` is None when no instance on this SNI wants the CA DNs sent
    (``send_ca_dn``), else the merged CA ids, first seen first (Kong merges
    into a Lua set, so its order is not defined).
    """

    ca_ids: list[str] | None = None
    #: The CA certificates for ``ca_ids``, filled in by :func:`resolve_chains`.
    ca_certificates: list[x509.Certificate] | None = None

    def merge(self, ca_ids: Iterable[str] | None) -> None:
        if self.ca_ids is None:
            self.ca_ids = []
        for ca_id in ca_ids or ():
            if ca_id not in self.ca_ids:
                self.ca_ids.append(ca_id)


@dataclass
class SNISet:
    exact: dict[str, SNIEntry] = field(default_factory=dict)
    #: "*.foo.test" -> entry matched by the suffix ".foo.test" (Kong's POSTFIX table)
    leftmost: dict[str, SNIEntry] = field(default_factory=dict)
    #: "bar.*" -> entry matched by the prefix "bar." (Kong's PREFIX table)
    rightmost: dict[str, SNIEntry] = field(default_factory=dict)
    #: "*": the plugin is on somewhere without SNIs (or globally)
    star: SNIEntry | None = None

    def add_route_snis(self, snis: Iterable[str], send_ca_dn: bool, ca_ids: Iterable[str] | None) -> None:
        """build_snis_for_route(): a route's SNIs, or ``*`` when it has none."""
        if not snis:
            self.add_star(send_ca_dn, ca_ids)
            return
        for sni in snis:
            sni = sni.lower()  # as the router compares them
            if sni == "*":
                # Kong files it as a leftmost wildcard matching every SNI; the
                # router's "*" also covers a ClientHello without one.
                self.add_star(send_ca_dn, ca_ids)
                continue
            star = sni.find("*")
            if star == 0:
                entry = self.leftmost.setdefault(sni, SNIEntry())
            elif star == len(sni) - 1:
                entry = self.rightmost.setdefault(sni, SNIEntry())
            else:
                entry = self.exact.setdefault(sni, SNIEntry())
            if send_ca_dn:
                entry.merge(ca_ids)

    def add_star(self, send_ca_dn: bool, ca_ids: Iterable[str] | None) -> None:
        if self.star is None:
            self.star = SNIEntry()
        if send_ca_dn:
            self.star.merge(ca_ids)

    def keys(self) -> list[str]:
        return [*self.exact, *self.leftmost, *self.rightmost, *(["*"] if self.star is not None else [])]

    def entries(self) -> Iterator[SNIEntry]:
        yield from self.exact.values()
        yield from self.leftmost.values()
        yield from self.rightmost.values()
        if self.star is not None:
            yield self.star


def build_sni_set(declarative: Declarative, plugin_name: str) -> SNISet:
    """Kong's SNI set for ``plugin_name`` from every enabled instance.

    A global instance adds ``*``; a service instance adds every route of the
    service (its SNIs, or ``*`` for a route without SNIs); a route instance
    adds its route's SNIs, or ``*``.  With ``send_ca_dn`` the instance's
    ``ca_certificates`` are merged into each of those entries.
    """
    sni_set = SNISet()
    for plugin in declarative.plugins:
        if plugin.name != plugin_name or not plugin.enabled:
            continue
        config = plugin.config or {}
        send_ca_dn = bool(config.get("send_ca_dn"))
        ca_ids = config.get("ca_certificates") or ()
        if plugin.service:
            for route in declarative.routes:
                if route.service == plugin.service:
                    sni_set.add_route_snis(route.snis, send_ca_dn, ca_ids)
        elif plugin.route:
            scoped = next((r for r in declarative.routes if r.id == plugin.route), None)
            sni_set.add_route_snis(scoped.snis if scoped else (), send_ca_dn, ca_ids)
        else:
            sni_set.add_star(send_ca_dn, ca_ids)
    return sni_set


def match_sni(sni_set: SNISet, server_name: str | None, debug: Callable[..., object] = lambda *args: None) -> SNIEntry | None:
    """certificate.lua ``match_sni``: exact, leftmost wildcard, rightmost wildcard, ``*``.

    The choice is the gateway router's :func:`purekong.gateway.match_sni` (§7.1's
    order; case-insensitive; the longest wildcard first, where Kong iterates a
    Lua hash in no defined order), so routes and plugins agree on what an SNI
    matches.  ``debug(*parts)`` receives Kong's debug log lines.
    """
    key = gateway_match_sni(sni_set.keys(), server_name)
    if key is not None and key != "*":
        if key in sni_set.exact:
            debug("matched the plain sni ", server_name)
            return sni_set.exact[key]
        if key in sni_set.leftmost:
            debug(server_name, " matched the sni with the leftmost wildcard ", key)
            return sni_set.leftmost[key]
        debug(server_name, " matched the sni with the rightmost wildcard ", key)
        return sni_set.rightmost[key]
    if server_name:
        debug("client sent an unknown sni ", server_name)
    else:
        debug("client didn't send an sni")
    if key == "*":
        debug("mTLS is enabled globally")
        return sni_set.star
    return None
