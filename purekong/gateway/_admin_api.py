"""Kong's DB-less Admin API, the pure part: entities as Kong shows them, its
paths, its pagination, its error bodies. No I/O (``server/_admin.py`` serves it).

:func:`admin_get` answers ``GET`` paths (``/services``, ``/services/{id or
name}``, ``/services/{x}/routes``, ...) from a :class:`Declarative`, as
``(status, body)``. Lists have Kong's pagination shape ``{"data": [...],
"next": null}`` (``?size=`` 1 to 1000, default 100; ``?offset=`` the
token a previous page's ``offset`` gave); an unknown entity gets Kong's
``{"message": "Not found"}``; a write (:func:`admin_write`) gets its 405
``operation unsupported``. :func:`config_error_body` is the body of
Kong's ``400`` for an invalid ``POST /config``: ``code`` 14, ``name``,
``message``, ``fields`` (the problems nested by entity and field) and, as
Kong gives with ``?flatten_errors=1``, ``flattened_errors`` (one entry per
entity with its ``errors``).

Entities are keyed as Kong's endpoint keys: services and routes by id or
name, consumers by id or username, snis by id or name, certificates by id
or one of their SNI names, plugins and ca_certificates by id.
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from typing import Any, Callable

from cryptography.hazmat.primitives import serialization

from ._model import Certificate, Declarative

__all__ = ["ENTITY_KINDS", "MAX_PAGE_SIZE", "admin_get", "admin_write", "config_error_body", "entity_list"]

ENTITY_KINDS = ("services", "routes", "plugins", "consumers", "certificates", "ca_certificates", "snis")
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
NOT_FOUND = {"message": "Not found"}

Body = dict[str, Any]


def _ref(entity_id: str | None) -> dict[str, str] | None:
    return {"id": entity_id} if entity_id else None


def _list(values: tuple[str, ...]) -> list[str] | None:
    return list(values) if values else None  # Kong shows an unset array as null


def _pem(chain: Any) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in chain)


def _sni_id(cert_id: str, name: str) -> str:
    # The declarative file gives SNIs no id: a stable one from what they are.
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"purekong:sni:{cert_id}:{name}"))


def _certificate(c: Certificate) -> Body:
    key = c.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    return {"id": c.id, "cert": _pem(c.chain), "key": key, "snis": list(c.snis), "tags": None}


def entity_list(d: Declarative, kind: str) -> list[Body]:
    """Every entity of one kind, as Kong's Admin API shows it."""
    if kind == "services":
        return [{"id": s.id, "name": s.name, "protocol": s.protocol, "host": s.host, "port": s.port, "path": s.path,
                 "connect_timeout": s.connect_timeout, "write_timeout": s.write_timeout, "read_timeout": s.read_timeout,
                 "retries": s.retries, "enabled": s.enabled, "tags": None, **({"asgi": s.asgi} if s.asgi else {})}
                for s in d.services]
    if kind == "routes":
        return [{"id": r.id, "name": r.name, "service": _ref(r.service), "protocols": list(r.protocols),
                 "methods": _list(r.methods), "hosts": _list(r.hosts), "paths": _list(r.paths), "snis": _list(r.snis),
                 "strip_path": r.strip_path, "preserve_host": r.preserve_host,
                 "https_redirect_status_code": r.https_redirect_status_code, "tags": None}
                for r in d.routes]
    if kind == "plugins":
        return [{"id": p.id, "name": p.name, "instance_name": p.instance_name, "config": p.config, "enabled": p.enabled,
                 "service": _ref(p.service), "route": _ref(p.route), "consumer": _ref(p.consumer),
                 "protocols": list(p.protocols), "tags": None}
                for p in d.plugins]
    if kind == "consumers":
        return [{"id": c.id, "username": c.username, "custom_id": c.custom_id, "tags": None} for c in d.consumers]
    if kind == "certificates":
        return [_certificate(c) for c in d.certificates]
    if kind == "ca_certificates":
        return [{"id": c.id, "cert": _pem((c.cert,)), "cert_digest": hashlib.sha256(c.cert.public_bytes(serialization.Encoding.DER)).hexdigest(),
                 "tags": None} for c in d.ca_certificates]
    if kind == "snis":
        return [{"id": _sni_id(c.id, name), "name": name, "certificate": {"id": c.id}, "tags": None}
                for c in d.certificates for name in c.snis]
    raise KeyError(kind)


#: Which fields besides ``id`` name an entity in a path.
_ENDPOINT_KEYS: dict[str, Callable[[Body], list[Any]]] = {
    "services": lambda e: [e["name"]],
    "routes": lambda e: [e["name"]],
    "consumers": lambda e: [e["username"]],
    "snis": lambda e: [e["name"]],
    "certificates": lambda e: list(e["snis"]),
}

#: Nested lists: (parent kind, child kind) -> does this child belong to that parent?
_NESTED: dict[tuple[str, str], Callable[[Body, Body], bool]] = {
    ("services", "routes"): lambda parent, child: child["service"] == {"id": parent["id"]},
    ("services", "plugins"): lambda parent, child: child["service"] == {"id": parent["id"]},
    ("routes", "plugins"): lambda parent, child: child["route"] == {"id": parent["id"]},
    ("consumers", "plugins"): lambda parent, child: child["consumer"] == {"id": parent["id"]},
    ("certificates", "snis"): lambda parent, child: child["certificate"] == {"id": parent["id"]},
}


def _find(d: Declarative, kind: str, key: str) -> Body | None:
    names = _ENDPOINT_KEYS.get(kind, lambda e: [])
    return next((e for e in entity_list(d, kind) if e["id"] == key or key in names(e)), None)


def _page(items: list[Body], path: str, query: dict[str, str]) -> tuple[int, Body]:
    size_text = query.get("size", str(DEFAULT_PAGE_SIZE))
    if not size_text.isdigit() or not 1 <= int(size_text) <= MAX_PAGE_SIZE:
        return 400, {"code": 9, "name": "invalid size", "message": f"size must be an integer between 1 and {MAX_PAGE_SIZE}"}
    size = int(size_text)
    start = 0
    if "offset" in query:
        try:
            start = int(base64.urlsafe_b64decode(query["offset"].encode() + b"==").decode())
        except ValueError:
            start = -1
        if start < 0:
            return 400, {"code": 7, "name": "invalid offset", "message": f"'{query['offset']}' is not a valid offset: bad base64 encoding"}
    page = items[start:start + size]
    body: Body = {"data": page, "next": None}
    if start + size < len(items):
        token = base64.urlsafe_b64encode(str(start + size).encode()).decode().rstrip("=")
        body["offset"] = token
        body["next"] = f"{path}?offset={token}&size={size}"
    return 200, body


def admin_get(d: Declarative, path: str, query: dict[str, str] | None = None) -> tuple[int, Body]:
    """A ``GET`` of the entity endpoints: (status, JSON body)."""
    query = query or {}
    parts = [p for p in path.split("/") if p]
    if not parts or parts[0] not in ENTITY_KINDS or len(parts) > 3:
        return 404, NOT_FOUND
    kind = parts[0]
    if len(parts) == 1:
        return _page(entity_list(d, kind), path, query)
    entity = _find(d, kind, parts[1])
    if entity is None:
        return 404, NOT_FOUND
    if len(parts) == 2:
        return 200, entity
    child = parts[2]
    if kind == "routes" and child == "service":  # /routes/{x}/service: the one service
        service = _find(d, "services", (entity["service"] or {}).get("id", ""))
        return (200, service) if service is not None else (404, NOT_FOUND)
    belongs = _NESTED.get((kind, child))
    if belongs is None:
        return 404, NOT_FOUND
    return _page([e for e in entity_list(d, child) if belongs(entity, e)], path, query)


_OPERATIONS = {"POST": "create", "PUT": "create or update", "PATCH": "update", "DELETE": "delete"}


def admin_write(method: str, path: str) -> tuple[int, Body]:
    """Kong DB-less's answer to writing an entity: 405, "operation unsupported" (code 12)."""
    parts = [p for p in path.split("/") if p]
    if not parts or parts[0] not in ENTITY_KINDS or len(parts) > 3:
        return 404, NOT_FOUND
    kind = parts[2] if len(parts) == 3 else parts[0]
    operation = _OPERATIONS.get(method)
    if operation is None:
        return 405, {"message": "Method not allowed"}
    return 405, {"code": 12, "name": "operation unsupported", "message": f"cannot {operation} '{kind}' entities when not using a database"}


# -- POST /config's error body -------------------------------------------------------------

_ENTRY = re.compile(r'(?P<kind>[a-z_]+)\[(?P<index>\d+)\](?: \((?P<label>\w+) "(?P<name>[^"]*)"\))?')
_SINGULAR = {"services": "service", "routes": "route", "plugins": "plugin", "consumers": "consumer",
             "certificates": "certificate", "ca_certificates": "ca_certificate", "snis": "sni"}


def _split_problem(problem: str) -> tuple[list[tuple[str, int, str | None]], str, str]:
    """``services[0] (name "a").routes[1].paths[0]: must start with "/"`` ->
    ([("services", 0, "a"), ("routes", 1, None)], "paths[0]", 'must start with "/"')."""
    where, _, message = problem.partition(": ")
    entries: list[tuple[str, int, str | None]] = []
    rest = where
    while True:
        m = _ENTRY.match(rest)
        if m is None or m.group("kind") not in _SINGULAR:
            break
        entries.append((m.group("kind"), int(m.group("index")), m.group("name")))
        rest = rest[m.end():].lstrip(".")
    return entries, rest, message


def config_error_body(problems: list[str], raw: Any = None) -> Body:
    """Kong's 400 body for an invalid declarative configuration (``POST /config``)."""
    fields: Body = {}
    flattened: dict[tuple[tuple[str, int], ...], Body] = {}
    for problem in problems:
        entries, field_name, message = _split_problem(problem)
        node: Body = fields
        for kind, index, _ in entries:
            # Kong (Lua, 1-based) nests as {"services": {"1": {...}}}; JSON keys are strings.
            node = node.setdefault(kind, {}).setdefault(str(index + 1), {})
        key = field_name or "@entity"
        if key == "@entity":
            node.setdefault("@entity", []).append(message)
        else:
            node[key] = message
        if entries:
            path = tuple((k, i) for k, i, _ in entries)
            kind, index, name = entries[-1]
            entry = flattened.setdefault(path, {
                "entity_type": _SINGULAR[kind], "entity_name": name, "entity_id": None, "entity_tags": None,
                "entity": _raw_entry(raw, path), "errors": [],
            })
            if isinstance(entry["entity"], dict):
                entry["entity_id"] = entry["entity"].get("id")
                entry["entity_name"] = entry["entity"].get("name") or entry["entity"].get("username") or name
            error: Body = {"type": "field", "field": field_name, "message": message} if field_name else {"type": "entity", "message": message}
            entry["errors"].append(error)
        else:
            flattened.setdefault((), {"entity_type": None, "errors": []})["errors"].append(
                {"type": "field" if field_name else "entity", **({"field": field_name} if field_name else {}), "message": message})
    summary = "; ".join(problems)
    return {
        "code": 14,
        "name": "invalid declarative configuration",
        "message": f"declarative config is invalid: {summary}",
        "fields": fields,
        "flattened_errors": list(flattened.values()),
    }


def _raw_entry(raw: Any, path: tuple[tuple[str, int], ...]) -> Any:
    """The posted entity an error is about (Kong echoes it), if it can be found."""
    node = raw
    for kind, index in path:
        if not isinstance(node, dict) or not isinstance(node.get(kind), list) or index >= len(node[kind]):
            return None
        node = node[kind][index]
    return node
