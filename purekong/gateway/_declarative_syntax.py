"""Field syntax shared by the declarative parser's parts (Kong's
``kong/db/schema/typedefs.lua``): hosts, paths, wildcard SNIs, and
Kong's path normalization, which the router applies to request paths too.

Each ``*_problem`` function returns why a value is invalid, or None.
"""

from __future__ import annotations

import ipaddress
import re

from purekong._hostport import split_host_port

from ._declarative_report import show

_HOSTNAME_RE = re.compile(r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*\.?$")
_PATH_CHARS_RE = re.compile(r"^/[A-Za-z0-9.\-_~/%:@!$&'()*+,;=]*$")  # RFC 3986 pchar + "/"
_BAD_PERCENT_RE = re.compile(r"%(?![0-9A-Fa-f]{2})")

#: Kong's protocols (kong/constants.lua); purekong serves only http/https.
KONG_PROTOCOLS = ("http", "https", "tcp", "tls", "udp", "grpc", "grpcs", "tls_passthrough", "ws", "wss")


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True


def split_port(text: str) -> tuple[str, str | None]:
    """"host:port" -> (host, "port"); bracketed IPv6 keeps its colons."""
    return split_host_port(text)  # the package's one parser


def host_problem(host: str, *, port_allowed: bool = False, ip_allowed: bool = True) -> str | None:
    """Why ``host`` is not a valid host name or address, or None."""
    name, port = split_port(host)
    if port is not None:
        if not port_allowed:
            return "must not have a port"
        if not port.isdigit() or not 0 <= int(port) <= 65535:
            return f"invalid port in {show(host)}"
    if _is_ip(name):
        return None if ip_allowed else "must not be an IP"
    if ":" in name:  # an IPv6 address that did not parse, or stray colons
        return f"invalid value: {host}"
    if not name or not _HOSTNAME_RE.match(name):
        return f"invalid value: {host}"
    return None


def path_problem(path: str) -> str | None:
    """typedefs.path: a service path (and the syntax half of a route path)."""
    if not path.startswith("/"):
        return 'must start with "/"'
    if "//" in path:
        return "must not have empty segments"
    if not _PATH_CHARS_RE.match(path):
        return f"invalid path: {show(path)} (characters outside of the reserved list of RFC 3986 found)"
    bad = _BAD_PERCENT_RE.search(path)
    if bad:
        return f"invalid url-encoded value: {show(path[bad.start():bad.start() + 3])}"
    return None


# kong/tools/uri.lua normalize(): shared with the router, which applies it to
# request paths before matching.
_RESERVED = frozenset(b"!*'();:@&=+$,/?%#[]")
_PERCENT_RE = re.compile(rb"%([0-9A-Fa-f]{2})")


def normalize_path(path: str, merge_slashes: bool = True) -> str:
    """Kong's ``normalize(uri, merge_slashes)``: decode percent-escapes of
    everything but reserved characters, then remove dot segments (and merge
    slashes). Works on UTF-8 bytes; undecodable bytes survive as surrogates."""
    if path in ("", "/"):
        return path
    raw = path.encode("utf-8", "surrogateescape")
    if b"%" in raw:
        def decode(m: re.Match) -> bytes:
            num = int(m.group(1), 16)
            return m.group(0).upper() if num in _RESERVED else bytes([num])
        raw = _PERCENT_RE.sub(decode, raw)
    if b"." not in raw and not (merge_slashes and b"//" in raw):
        return raw.decode("utf-8", "surrogateescape")
    out: list[bytes] = []
    while raw:
        if raw == b"/.":
            raw = b"/"
        elif raw == b"/..":
            raw = b"/"
            if out:
                out.pop()
        elif raw in (b".", b".."):
            raw = b""
        elif raw.startswith(b"../"):
            raw = raw[3:]
        elif raw.startswith(b"./"):
            raw = raw[2:]
        elif raw.startswith(b"/./"):
            raw = raw[2:]
        elif raw.startswith(b"/../"):
            raw = raw[3:]
            if out:
                out.pop()
        elif merge_slashes and raw.startswith(b"//"):
            raw = raw[1:]
        else:
            cut = raw.find(b"/", 1)
            if cut == -1:
                out.append(raw)
                raw = b""
            else:
                out.append(raw[:cut])
                raw = raw[cut:]
    return b"".join(out).decode("utf-8", "surrogateescape")


def wildcard_sni_problem(name: str) -> str | None:
    """typedefs.wildcard_host (snis.name), minus the forms that can never be
    looked up (Kong's certificate lookup only tries "*", "*.rest", "rest.*")."""
    if name == "*":
        return None
    stars = name.count("*")
    if stars > 1:
        return "only one wildcard must be specified"
    if stars == 1 and not (name.startswith("*.") or name.endswith(".*")):
        return 'wildcard must be the leftmost ("*.example.com") or rightmost ("example.*") label'
    return host_problem(name.replace("*", "wildcard"), ip_allowed=False)
