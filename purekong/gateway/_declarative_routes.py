"""Routes (``kong/db/schema/entities/routes.lua``): what a request must match
(protocols, methods, hosts, paths, SNIs) and which service it goes to.
Plugins may nest under a route; a top-level route names its service."""

from __future__ import annotations

import re

from ._declarative_plugins import parse_plugin
from ._declarative_report import Entry, Reader, empty, show
from ._declarative_syntax import KONG_PROTOCOLS, host_problem, normalize_path, path_problem, split_port
from ._model import Route

_ROUTE_FIELDS = {"id", "name", "service", "protocols", "methods", "hosts", "paths", "snis", "strip_path",
                 "preserve_host", "https_redirect_status_code", "plugins", "path_handling",
                 "regex_priority", "request_buffering", "response_buffering"}
#: Kong fields purekong does not implement, accepted at their default only.
_ROUTE_DEFAULTS_ONLY = {"headers": empty, "sources": empty, "destinations": empty}
_METHOD_RE = re.compile(r"^[A-Z]+$")
#: migrate_path_280_300.lua: a pre-3.0 path that is not "plain" was a regex.
_PLAIN_PRE30_PATH_RE = re.compile(r"^[a-zA-Z0-9.\-_~/%]*$")


def parse_route(reader: Reader, where: str, raw: dict, service: Entry | None) -> None:
    rec = reader.new("routes", where, raw, "name", _ROUTE_FIELDS, _ROUTE_DEFAULTS_ONLY, parent=service)
    name = reader.name(rec)
    reader.set_id(rec, name)
    v = rec.values
    v["name"] = name
    if service is not None:
        if raw.get("service") is not None:
            reader.err(rec.at("service"), "must not be set on a route nested under a service")
        v["service_ref"] = None
    else:
        v["service_ref"] = reader.reference(rec, "service")
    v["strip_path"] = reader.boolean(rec, "strip_path", True)
    v["preserve_host"] = reader.boolean(rec, "preserve_host", False)
    code = rec.raw.get("https_redirect_status_code")
    if code is not None and (isinstance(code, bool) or code not in (426, 301, 302, 307, 308)):
        reader.err(rec.at("https_redirect_status_code"),
                   f"expected one of 426, 301, 302, 307, 308, got {show(code)}")
        code = None
    v["https_redirect_status_code"] = code if code is not None else 426
    if rec.raw.get("path_handling") not in (None, "v0"):
        reader.err(rec.at("path_handling"), 'only "v0" (Kong\'s default) is supported by purekong')
    reader.integer(rec, "regex_priority", 0, -(2**31), 2**31 - 1)
    for flag in ("request_buffering", "response_buffering"):
        reader.boolean(rec, flag, True)

    v["protocols"] = _protocols(reader, rec)
    v["methods"] = _methods(reader, rec)
    v["hosts"] = _hosts(reader, rec)
    v["paths"] = _paths(reader, rec)
    v["snis"] = _snis(reader, rec)

    protocols = v["protocols"] or ("http", "https")
    if raw.get("snis") and "https" not in protocols:
        reader.err(rec.at("snis"), 'can only be set when "protocols" includes "https"')
    if v["protocols"] is not None and not any(raw.get(k) for k in ("methods", "hosts", "paths", "snis")):
        # routes_subschemas.lua: a route must match on something.
        if "https" in protocols:
            reader.err(rec.where, 'must set one of "methods", "hosts", "paths", "snis" when "protocols" includes "https"')
        else:
            reader.err(rec.where, 'must set one of "methods", "hosts", "paths" when "protocols" is "http"')
    for w, child in reader.records(raw.get("plugins"), rec.at("plugins")):
        parse_plugin(reader, w, child, rec)


def _protocols(reader: Reader, rec: Entry) -> tuple[str, ...] | None:
    items = reader.strings(rec, "protocols")
    if items is None:
        return ("http", "https") if rec.raw.get("protocols") is None else None
    if not items and not rec.raw["protocols"]:
        reader.err(rec.at("protocols"), "length must be at least 1")
        return None
    out: list[str] = []
    valid = len(items) == len(rec.raw["protocols"])
    for where, protocol in items:
        if protocol in ("http", "https"):
            if protocol not in out:
                out.append(protocol)
        elif protocol in KONG_PROTOCOLS:
            reader.err(where, f"protocol {show(protocol)} not supported by purekong")
            valid = False
        else:
            reader.err(where, f"invalid protocol {show(protocol)} (expected http or https)")
            valid = False
    return tuple(out) if valid else None


def _methods(reader: Reader, rec: Entry) -> tuple[str, ...]:
    out: list[str] = []
    for where, method in reader.strings(rec, "methods") or ():
        if not _METHOD_RE.match(method):
            reader.err(where, f"invalid method {show(method)} (upper-case letters only, like GET)")
        elif method not in out:
            out.append(method)
    return tuple(out)


def _hosts(reader: Reader, rec: Entry) -> tuple[str, ...]:
    out: list[str] = []
    for where, host in reader.strings(rec, "hosts") or ():
        stars = host.count("*")
        name, _ = split_port(host)
        if stars > 1:
            reader.err(where, "invalid wildcard: must have at most one wildcard")
        elif stars == 1 and not (name.startswith("*.") or name.endswith(".*")):
            reader.err(where, "invalid wildcard: must be placed at leftmost or rightmost label")
        else:
            problem = host_problem(host.replace("*", "abc"), port_allowed=True)
            if problem:
                reader.err(where, problem)
            else:
                # Host names are case-insensitive (RFC 9110 4.2.3).
                out.append(host.lower())
    return tuple(out)


def _paths(reader: Reader, rec: Entry) -> tuple[str, ...]:
    out: list[str] = []
    for where, path in reader.strings(rec, "paths") or ():
        if path.startswith("~"):
            reader.err(where, "regex paths are not supported by purekong")
            continue
        if reader.format_version != "3.0" and path.startswith("/") and not _PLAIN_PRE30_PATH_RE.match(path):
            reader.err(where, f'{show(path)} is a regex path under _format_version '
                              f'{show(reader.format_version)} (Kong prefixes it with "~"); '
                              "regex paths are not supported by purekong")
            continue
        problem = path_problem(path)
        if problem:
            reader.err(where, problem)
            continue
        normalized = normalize_path(path)
        if normalized != path:
            if reader.format_version == "3.0":
                reader.err(where, f"non-normalized path, consider using {show(normalized)} instead")
                continue
            path = normalized  # route_path.lua normalizes pre-3.0 paths
        out.append(path)
    return tuple(out)


def _snis(reader: Reader, rec: Entry) -> tuple[str, ...]:
    out: list[str] = []
    for where, sni in reader.strings(rec, "snis") or ():
        if "*" in sni:
            # Kong's router compares route SNIs with "==", so a wildcard
            # here would only ever match a client sending a literal "*".
            reader.err(where, "wildcards are not supported in route snis")
            continue
        problem = host_problem(sni, ip_allowed=False)
        if problem:
            reader.err(where, problem)
            continue
        # compat.lua: "last dot in FQDNs must not be used for routing".
        sni = sni.lower()
        out.append(sni[:-1] if len(sni) > 1 and sni.endswith(".") else sni)
    return tuple(out)


def check_unique(reader: Reader) -> None:
    reader.check_unique("routes", "name", "name")


def resolve(reader: Reader) -> None:
    for rec in reader.entries["routes"]:
        if rec.parent is not None:
            rec.values["service"] = rec.parent.values["id"]
        else:
            rec.values["service"] = reader.resolve_one(rec, "service", "services", "name", "service")


def build(reader: Reader) -> tuple[Route, ...]:
    return tuple(
        Route(**r.pick("id", "name", "service", "protocols", "methods", "hosts", "paths", "snis",
                       "strip_path", "preserve_host", "https_redirect_status_code"))
        for r in reader.entries["routes"])
