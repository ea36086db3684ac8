"""Services (``kong/db/schema/entities/services.lua``): where a route's
requests go, an upstream by ``url`` or ``protocol``/``host``/``port``/``path``,
or an in-process ASGI application (``asgi``, purekong's own field).
Routes and plugins may nest under a service."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from ._declarative_plugins import parse_plugin
from ._declarative_report import Entry, Reader, empty, show
from ._declarative_routes import parse_route
from ._declarative_syntax import KONG_PROTOCOLS, host_problem, path_problem
from ._model import Service

_SERVICE_FIELDS = {"id", "name", "url", "protocol", "host", "port", "path", "asgi", "connect_timeout",
                   "write_timeout", "read_timeout", "retries", "enabled", "routes", "plugins"}
#: Kong fields purekong does not implement, accepted at their default only.
_SERVICE_DEFAULTS_ONLY = {
    "client_certificate": empty,
    "tls_verify": lambda v: v is None or v is False,
    "tls_verify_depth": empty,
    "ca_certificates": empty,
}
_ASGI_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def parse_service(reader: Reader, where: str, raw: dict) -> None:
    rec = reader.new("services", where, raw, "name", _SERVICE_FIELDS, _SERVICE_DEFAULTS_ONLY)
    name = reader.name(rec)
    reader.set_id(rec, name)
    v = rec.values
    v["name"] = name
    v["connect_timeout"] = reader.integer(rec, "connect_timeout", 60_000, 1, 2**31 - 2)
    v["write_timeout"] = reader.integer(rec, "write_timeout", 60_000, 1, 2**31 - 2)
    v["read_timeout"] = reader.integer(rec, "read_timeout", 60_000, 1, 2**31 - 2)
    v["retries"] = reader.integer(rec, "retries", 5, 0, 32767)
    v["enabled"] = reader.boolean(rec, "enabled", True)

    url = reader.string(rec, "url")
    asgi = reader.string(rec, "asgi")
    given = [k for k in ("protocol", "host", "port") if raw.get(k) is not None]
    if asgi is not None:
        if url is not None or given:
            clash = "url" if url is not None else given[0]
            reader.err(rec.at("asgi"), f'cannot be combined with "{clash}"')
        if not _ASGI_RE.match(asgi):
            reader.err(rec.at("asgi"), f'expected "module:attribute", got {show(asgi)}')
        v.update(protocol="asgi", asgi=asgi, host=None, port=None, path=_service_path(reader, rec))
    elif url is not None:
        if given:
            reader.err(rec.at("url"), f'cannot be combined with "{given[0]}"')
        _service_url(reader, rec, url)
    else:
        _service_fields(reader, rec)
    for w, child in reader.records(raw.get("routes"), rec.at("routes")):
        parse_route(reader, w, child, rec)
    for w, child in reader.records(raw.get("plugins"), rec.at("plugins")):
        parse_plugin(reader, w, child, rec)


def _service_url(reader: Reader, rec: Entry, url: str) -> None:
    """The ``url`` shorthand (services.lua): scheme, host, port, path."""
    where = rec.at("url")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        reader.err(where, f"could not parse url {show(url)}: {exc}")
        return
    scheme = parts.scheme.lower()
    if not scheme:
        reader.err(where, f"missing scheme in url {show(url)}")
        return
    if scheme not in ("http", "https"):
        reader.err(where, f"unsupported scheme {show(scheme)} (expected http or https)")
        return
    if not parts.hostname:
        reader.err(where, f"missing host in url {show(url)}")
        return
    # Kong's shorthand drops these silently; refusing them is kinder.
    if parts.username is not None or parts.password is not None:
        reader.err(where, "credentials in the url are not supported")
    if parts.query or parts.fragment:
        reader.err(where, "a query string or fragment in the url is not supported")
    host = parts.hostname
    problem = host_problem(host)
    if problem:
        reader.err(where, f"host {problem}" if problem.startswith("must") else problem)
    path = parts.path or None
    if path is not None:
        problem = path_problem(path)
        if problem:
            reader.err(where, f"path {problem}" if problem.startswith("must") else problem)
    rec.values.update(protocol=scheme, host=host,
                      port=port if port is not None else (443 if scheme == "https" else 80),
                      path=path)


def _service_fields(reader: Reader, rec: Entry) -> None:
    protocol = reader.string(rec, "protocol")
    if protocol is None and rec.raw.get("protocol") is None:
        protocol = "http"  # Kong's default
    if protocol is not None and protocol not in ("http", "https"):
        if protocol in KONG_PROTOCOLS:
            reader.err(rec.at("protocol"), f"protocol {show(protocol)} not supported by purekong")
        else:
            reader.err(rec.at("protocol"), f"invalid protocol {show(protocol)} (expected http or https)")
    host = reader.string(rec, "host")
    if rec.raw.get("host") is None:
        reader.err(rec.where, 'must set "url", "host" or "asgi"')
    elif host is not None:
        problem = host_problem(host)
        if problem:
            reader.err(rec.at("host"), problem)
    # Kong's default port is 80 whatever the protocol (only the url
    # shorthand derives 443 from https): kept, and documented.
    port = reader.integer(rec, "port", 80, 0, 65535)
    rec.values.update(protocol=protocol, host=host, port=port, path=_service_path(reader, rec))


def _service_path(reader: Reader, rec: Entry) -> str | None:
    path = reader.string(rec, "path")
    if path is not None:
        problem = path_problem(path)
        if problem:
            reader.err(rec.at("path"), problem)
    return path


def check_unique(reader: Reader) -> None:
    reader.check_unique("services", "name", "name")


def build(reader: Reader) -> tuple[Service, ...]:
    return tuple(
        Service(**r.pick("id", "name", "protocol", "host", "port", "path"),
                asgi=r.values.get("asgi"),
                **r.pick("connect_timeout", "write_timeout", "read_timeout", "retries", "enabled"), where=r.where)
        for r in reader.entries["services"])
