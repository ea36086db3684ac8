"""Kong-style routing: which route (and service) a request goes to.

This reproduces Kong's default router, ``router_flavor =
traditional_compatible`` (Kong/kong ``kong/router/compat.lua`` on top of
``kong/router/atc.lua`` and the ``atc-router`` crate), for http/https routes
with plain (prefix) paths:

* A route matches when every field it sets matches (compat.lua
  ``get_expression``):

  - ``methods``: the request method is one of them (exact, case-sensitive);
  - ``hosts``: the Host header, its port split off, equals an entry
    (compared case-insensitively here; Kong passes the header as received),
    ``*.example.com`` matches by suffix (``.example.com``, any depth, not
    ``example.com`` itself), ``example.*`` by prefix (``example.``); an entry
    with a port (``example.com:8080``) also needs that port in the Host header;
  - ``paths``: the normalized request path starts with an entry (a plain
    string prefix: ``/api`` matches ``/apiv2`` too);
  - ``snis``: only considered for https requests
    (``net.protocol != "https" || tls.sni == ...``), then the TLS server name
    must equal an entry.

* ``protocols`` is *not* a matching criterion. Kong picks the route first and
  then, in the access phase (``kong/runloop/handler.lua``), answers 426
  "Please use HTTPS protocol" (or redirects, ``https_redirect_status_code``)
  when an https-only route was reached over http. :attr:`RouteMatch.https_required`
  carries that verdict to the server. An http-only route reached over https is
  served: Kong does not check that direction.

* Priority (compat.lua ``get_priority``), highest first, as one 64-bit number:
  bits 61-63 the number of fields set among snis, methods, hosts, paths
  (headers would count too); bit 60 "plain hosts only" (hosts set, none with a
  wildcard); bits 0-18 the length of the path prefix. A route with several
  paths of different lengths is split into one matcher per length
  (``split_routes_and_services_by_path``), so its long prefixes outrank its
  short ones. Ties go to the larger matcher UUID: atc-router keeps matchers in
  a ``BTreeMap<(priority, Uuid)>`` and walks it in reverse. A split matcher's
  UUID is ``uuid5(7f145bf9-..., "<route id>#<path length>")``, as compat.lua.

* The request path is normalized first (``kong/tools/uri.lua`` ``normalize``,
  query string removed), and the upstream path is Kong's
  ``get_upstream_uri_v0`` (``kong/router/utils.lua``) of the service path and
  the request path, ``strip_path`` applied, then percent-escaped as the
  runloop does before proxying.

Left out: regex paths (``~/...``, rejected at load), ``headers``, stream
routes (``sources``/``destinations``), the ``expressions`` flavor, and the
``traditional`` flavor's slightly different ordering.

Also here: the SNI matching the mTLS plugins share (:func:`match_sni`, spec
§7.1) and Kong's certificate selection (:func:`certificate_for`).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Iterable

from purekong._hostport import split_host_port

from ._declarative import normalize_path
from ._model import Certificate, Declarative, Route, Service

__all__ = ["Router", "RouteMatch", "sni_matches", "match_sni", "certificate_for"]

#: compat.lua: uuid.factory_v5('7f145bf9-0dce-4f91-98eb-debbce4b9f6b').
_SPLIT_NS = uuid.UUID("7f145bf9-0dce-4f91-98eb-debbce4b9f6b")

_MATCH_WEIGHT_SHIFT = 61
_PLAIN_HOST_ONLY_BIT = 1 << 60
_MAX_PATH_LENGTH = 0x7FFFF


@dataclass(frozen=True)
class RouteMatch:
    """The outcome of :meth:`Router.match`."""

    route: Route
    #: None for a route without a service (Kong answers 503 "no Service found
    #: with those values" unless a plugin responds first).
    service: Service | None
    #: The path to request upstream: Kong's upstream_uri, percent-escaped,
    #: without the query string (append the request's, as Kong does).
    upstream_path: str
    #: The prefix removed by strip_path (Kong's ``match_t.prefix``: also the
    #: X-Forwarded-Prefix value unless it is "/"); None when nothing was stripped.
    stripped_prefix: str | None
    #: What matched: the route's entries (None for a field the route does not
    #: set, or snis on a plain-http request).
    matched_path: str | None
    matched_host: str | None
    matched_method: str | None
    matched_sni: str | None
    #: The Host header to send upstream when the route has preserve_host.
    upstream_host: str | None
    #: The route only allows https and the request came over http: answer
    #: with ``route.https_redirect_status_code`` (426, or a redirect).
    https_required: bool


@dataclass(frozen=True)
class _Host:
    kind: str  # "exact", "suffix" ("*.x" -> ".x") or "prefix" ("x.*" -> "x.")
    value: str
    port: int | None
    entry: str  # as configured


@dataclass(frozen=True)
class _Matcher:
    priority: int
    uuid: bytes  # the tie-breaker, compared as atc-router compares Uuids
    route: Route
    service: Service | None
    paths: tuple[str, ...]
    hosts: tuple[_Host, ...]


#: Matches a router remembers (Kong's router keeps an LRU cache of this size,
#: ``MATCH_LRUCACHE_SIZE``); when full it forgets them all and starts again.
MATCH_CACHE_SIZE = 5_000

_NOT_CACHED = object()


class Router:
    """Routes of a :class:`Declarative`, ordered as Kong orders them."""

    def __init__(self, declarative: Declarative) -> None:
        services = {s.id: s for s in declarative.services}
        matchers: list[_Matcher] = []
        for route in declarative.routes:
            service = services.get(route.service) if route.service else None
            if service is not None and not service.enabled:
                # kong/runloop/handler.lua build_router: "routes where the
                # services.enabled == false are not put in router".
                continue
            hosts = tuple(_parse_host(h) for h in route.hosts)
            for paths, matcher_id in _split_by_path_length(route):
                matchers.append(_Matcher(_priority(route, paths), uuid.UUID(matcher_id).bytes,
                                         route, service, paths, hosts))
        matchers.sort(key=lambda m: (m.priority, m.uuid), reverse=True)
        self._matchers = tuple(matchers)
        # (protocol, method, host, path without query, sni) -> the match: the
        # router never changes, and a RouteMatch is frozen.
        self._cache: dict[tuple[str, str, str | None, str, str | None], RouteMatch | None] = {}

    @property
    def routes(self) -> tuple[Route, ...]:
        """Routes in the order they are tried (a split route appears once per
        path length)."""
        return tuple(m.route for m in self._matchers)

    def match(self, *, protocol: str, method: str, host: str | None, path: str,
              sni: str | None = None) -> RouteMatch | None:
        """The route a request goes to, or None (Kong: 404 "no Route matched
        with those values").

        ``protocol`` is the request's scheme ("http" or "https"), ``host`` the
        Host header as received (port included), ``path`` the request target
        (a query string is ignored), ``sni`` the TLS server name.
        """
        raw_path = path.partition("?")[0]
        key = (protocol, method, host, raw_path, sni)
        cached = self._cache.get(key, _NOT_CACHED)
        if cached is not _NOT_CACHED:
            return cached  # type: ignore[return-value]
        found = self._match(protocol, method, host, raw_path, sni)
        if len(self._cache) >= MATCH_CACHE_SIZE:
            self._cache.clear()
        self._cache[key] = found
        return found

    def _match(self, protocol: str, method: str, host: str | None, path: str, sni: str | None) -> RouteMatch | None:
        path = normalize_path(path, merge_slashes=True)
        req_host, req_port = _split_request_host(host)
        if sni is not None:
            sni = sni.lower()
        for m in self._matchers:
            route = m.route
            matched_method = matched_sni = matched_host = matched_path = None
            if route.methods:
                if method not in route.methods:
                    continue
                matched_method = method
            if route.snis and protocol == "https":
                if sni is None or sni not in route.snis:
                    continue
                matched_sni = sni
            if m.hosts:
                matched_host = _match_host(m.hosts, req_host, req_port)
                if matched_host is None:
                    continue
            if m.paths:
                matched_path = next((p for p in m.paths if path.startswith(p)), None)
                if matched_path is None:
                    continue
            return self._result(m, protocol, host, path, matched_path, matched_host, matched_method,
                                matched_sni)
        return None

    @staticmethod
    def _result(m: _Matcher, protocol: str, host: str | None, path: str, matched_path: str | None,
                matched_host: str | None, matched_method: str | None, matched_sni: str | None) -> RouteMatch:
        route, service = m.route, m.service
        # atc.lua select(): the prefix is the matched path when strip_path.
        prefix = matched_path if route.strip_path else None
        postfix = path[len(prefix):] if prefix is not None else path[1:]
        postfix = _sanitize_postfix(postfix)
        base = (service.path if service is not None else None) or "/"
        upstream = _upstream_uri_v0(route.strip_path, postfix, path, base)
        return RouteMatch(
            route=route,
            service=service,
            upstream_path=escape_path(upstream),
            stripped_prefix=prefix,
            matched_path=matched_path,
            matched_host=matched_host,
            matched_method=matched_method,
            matched_sni=matched_sni,
            upstream_host=host if route.preserve_host else None,
            https_required=("https" in route.protocols and "http" not in route.protocols
                            and protocol != "https"),
        )


def _split_by_path_length(route: Route) -> list[tuple[tuple[str, ...], str]]:
    """compat.lua split_route_by_path_into: one matcher per path length; a
    route with 0 or 1 path keeps its own id."""
    if len(route.paths) <= 1:
        return [(route.paths, route.id)]
    groups: dict[int, list[str]] = {}
    for p in route.paths:
        groups.setdefault(len(p), []).append(p)
    return [(tuple(paths), str(uuid.uuid5(_SPLIT_NS, f"{route.id}#{length}")))
            for length, paths in groups.items()]


def _priority(route: Route, paths: tuple[str, ...]) -> int:
    weight = sum(1 for f in (route.snis, route.methods, route.hosts, paths) if f)
    plain_hosts_only = bool(route.hosts) and not any("*" in h for h in route.hosts)
    length = len(paths[0]) if paths else 0
    return ((weight << _MATCH_WEIGHT_SHIFT)
            | (_PLAIN_HOST_ONLY_BIT if plain_hosts_only else 0)
            | (length & _MAX_PATH_LENGTH))


def _split_port(text: str) -> tuple[str, int | None]:
    """A host entry or Host header: a non-numeric port means there is none."""
    host, port = split_host_port(text)
    if host and port is not None and port.isdigit():
        return host, int(port)
    return text, None


def _parse_host(entry: str) -> _Host:
    name, port = _split_port(entry)
    if name.startswith("*"):
        return _Host("suffix", name[1:], port, entry)
    if name.endswith("*"):
        return _Host("prefix", name[:-1], port, entry)
    return _Host("exact", name, port, entry)


def _split_request_host(host: str | None) -> tuple[str | None, int | None]:
    if host is None:
        return None, None
    name, port = _split_port(host.strip())
    return name.lower(), port


def _match_host(hosts: tuple[_Host, ...], name: str | None, port: int | None) -> str | None:
    if name is None:
        return None
    for h in hosts:
        if h.port is not None and h.port != port:
            continue
        if h.kind == "exact":
            ok = name == h.value
        elif h.kind == "suffix":
            ok = name.endswith(h.value)
        else:
            ok = name.startswith(h.value)
        if ok:
            return h.entry
    return None


def _sanitize_postfix(postfix: str) -> str:
    """kong/router/utils.lua sanitize_uri_postfix."""
    if postfix in (".", ".."):
        return ""
    if postfix.startswith("./"):
        return postfix[2:]
    if postfix.startswith("../"):
        return postfix[3:]
    return postfix


def _upstream_uri_v0(strip_path: bool, postfix: str, req_uri: str, base: str) -> str:
    """kong/router/utils.lua get_upstream_uri_v0, branch for branch."""
    if base.endswith("/"):
        if strip_path:
            if postfix == "":
                if base == "/":
                    return "/"
                if req_uri.endswith("/"):
                    return base
                return base[:-1]
            if postfix.startswith("/"):
                return base[:-1] + postfix  # no double "/"
            return base + postfix
        return base + req_uri[1:]
    if strip_path:
        if postfix == "":
            if len(req_uri) > 1 and req_uri.endswith("/"):
                return base + "/"
            return base
        if postfix.startswith("/"):
            return base + postfix
        return base + "/" + postfix
    if req_uri == "/":
        return base
    return base + req_uri


#: kong/tools/uri.lua ESCAPE_PATTERN (case-insensitive): what stays as is.
_SAFE = frozenset(b"!#$&'()*+,/:;=?@[]-_.~%"
                  b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")


def escape_path(path: str) -> str:
    """Kong's ``escape``: percent-encode what is unsafe in a request line,
    leaving reserved characters and existing escapes alone."""
    raw = path.encode("utf-8", "surrogateescape")
    if all(b in _SAFE for b in raw):
        return path
    return "".join(chr(b) if b in _SAFE else f"%{b:02X}" for b in raw)


# --------------------------------------------------------------------------
# SNI matching for the mTLS plugins: spec §7.1, Kong's
# kong/tls/plugins/certificate.lua match_sni.


def sni_matches(pattern: str, name: str | None) -> bool:
    """Whether one SNI entry matches a TLS server name (None: none sent).

    ``*`` matches everything (also no SNI); ``*.foo.test`` matches names
    ending in ``.foo.test`` (any depth); ``bar.*`` names starting with
    ``bar.``; anything else must be equal. Case-insensitive, since DNS names
    are (Kong compares as sent).
    """
    pattern = pattern.lower()
    if pattern == "*":
        return True
    if name is None:
        return False
    name = name.lower()
    if pattern.startswith("*."):
        return name.endswith(pattern[1:])
    if pattern.endswith(".*"):
        return name.startswith(pattern[:-1])
    return name == pattern


def match_sni(snis: Iterable[str], name: str | None) -> str | None:
    """The entry of ``snis`` that applies to server name ``name``, in §7.1's
    order: an exact entry, then a leftmost wildcard (``*.foo.test``), then a
    rightmost one (``bar.*``), then ``*``. None if nothing applies.

    Kong walks each wildcard table with Lua ``pairs`` (undefined order); here
    the longest (most specific) wildcard wins, ties broken alphabetically, so
    the answer is deterministic.
    """
    entries = sorted({s.lower() for s in snis}, key=lambda s: (-len(s), s))
    if name is not None:
        lowered = name.lower()
        if lowered in entries:
            return lowered
        for s in entries:
            if s.startswith("*.") and lowered.endswith(s[1:]):
                return s
        for s in entries:
            if s.endswith(".*") and s != "*" and lowered.startswith(s[:-1]):
                return s
    return "*" if "*" in entries else None


# --------------------------------------------------------------------------
# Certificate selection: kong/runloop/certificate.lua find_certificate.

#: produce_wild_snis: "*" + the name without its first label (at least three
#: labels: a.b.c -> *.b.c) and the name with its last label replaced by "*"
#: (a.b -> a.*).
_WILD_PREFIX_RE = re.compile(r"^([^.]+)(\.[^.]+\.\S+)")
_WILD_SUFFIX_RE = re.compile(r"([^.]+\.)([^.]+)$")


def certificate_for(declarative: Declarative, sni: str | None) -> Certificate | None:
    """The certificate Kong serves for a TLS server name: the one with that
    exact SNI, else ``*.<name minus its first label>``, else ``<name minus its
    last label>.*``, else ``*``. None (no SNI, or nothing matches) means "the
    default certificate", which is the server's business.

    Unlike :func:`match_sni`, a wildcard stands for exactly one label here:
    Kong looks the two wildcard forms up by name.
    """
    if sni is None:
        return None
    by_name: dict[str, Certificate] = {}
    for cert in declarative.certificates:
        for name in cert.snis:
            by_name.setdefault(name.lower(), cert)
    sni = sni.lower()
    candidates = [sni]
    if "*" not in sni:
        prefix = _WILD_PREFIX_RE.sub(r"*\2", sni, count=1)
        if prefix != sni:
            candidates.append(prefix)
        suffix = _WILD_SUFFIX_RE.sub(r"\1*", sni, count=1)
        if suffix != sni:
            candidates.append(suffix)
    candidates.append("*")
    return next((by_name[c] for c in candidates if c in by_name), None)
