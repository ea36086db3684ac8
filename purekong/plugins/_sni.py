"""The SNI set of Kong's EE handshake plugins, and matching a ClientHello's SNI.

Kong builds, per plugin name, a table of the SNIs on which a client
certificate must be requested (``sni_filter.build_ssl_route_filter_set``) and
matches the server name against it at the handshake (``certificate.lua``
``match_sni``).  This is both, written from Kong's
``kong/tls/plugins/sni_filter.lua`` and ``certificate.lua`` (3.9.x, the same
code as EE's ``kong/enterprise_edition/tls/plugins/``).

It is private to the plugins: the gateway's router has its own SNI matching for
routes (``purekong.gateway._router``), which was not there yet when this was
written; the order here is Kong's for this table and is tested on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography import x509


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

    def merge(self, ca_ids) -> None:
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

    def add_route_snis(self, snis, send_ca_dn: bool, ca_ids) -> None:
        """build_snis_for_route(): a route's SNIs, or ``*`` when it has none."""
        if not snis:
            self.add_star(send_ca_dn, ca_ids)
            return
        for sni in snis:
            star = sni.find("*")
            if star == 0:  # checked first, as in Lua: a bare "*" lands here
                entry = self.leftmost.setdefault(sni, SNIEntry())
            elif star == len(sni) - 1:
                entry = self.rightmost.setdefault(sni, SNIEntry())
            else:
                entry = self.exact.setdefault(sni, SNIEntry())
            if send_ca_dn:
                entry.merge(ca_ids)

    def add_star(self, send_ca_dn: bool, ca_ids) -> None:
        if self.star is None:
            self.star = SNIEntry()
        if send_ca_dn:
            self.star.merge(ca_ids)

    def entries(self):
        yield from self.exact.values()
        yield from self.leftmost.values()
        yield from self.rightmost.values()
        if self.star is not None:
            yield self.star


def build_sni_set(declarative, plugin_name: str) -> SNISet:
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
            route = next((r for r in declarative.routes if r.id == plugin.route), None)
            sni_set.add_route_snis(route.snis if route else (), send_ca_dn, ca_ids)
        else:
            sni_set.add_star(send_ca_dn, ca_ids)
    return sni_set


def match_sni(sni_set: SNISet, server_name: str | None, debug=lambda *args: None) -> SNIEntry | None:
    """certificate.lua ``match_sni``: exact, leftmost wildcard, rightmost wildcard, ``*``.

    ``debug(*parts)`` receives Kong's debug log lines (concatenated by the caller).
    Within each wildcard table the first configured match wins (Kong iterates
    a Lua hash, in no defined order).  Matching is case-sensitive, as in Kong.
    """
    if server_name:
        entry = sni_set.exact.get(server_name)
        if entry is not None:
            debug("matched the plain sni ", server_name)
            return entry
        for sni, entry in sni_set.leftmost.items():
            if server_name.endswith(sni[1:]):
                debug(server_name, " matched the sni with the leftmost wildcard ", sni)
                return entry
        for sni, entry in sni_set.rightmost.items():
            if server_name.startswith(sni[:-1]):
                debug(server_name, " matched the sni with the rightmost wildcard ", sni)
                return entry
        debug("client sent an unknown sni ", server_name)
    else:
        debug("client didn't send an sni")
    if sni_set.star is not None:
        debug("mTLS is enabled globally")
        return sni_set.star
    return None
