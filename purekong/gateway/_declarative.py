"""Kong's declarative configuration (``kong.yml``), loaded and validated.

``load_declarative(path)`` reads a YAML or JSON file; ``parse_declarative(data)``
takes the already-decoded mapping. Both return a :class:`Declarative` or raise
one :class:`ConfigError` listing *every* problem found, each naming the entry
and the field::

    routes[2] (name "api").paths[0]: must start with "/"

What Kong does, and where it comes from (Kong/kong master):

* ``kong/db/schema/others/declarative_config.lua``: ``_format_version`` is one
  of "1.1", "2.1", "3.0"; ``_transform``, ``_comment`` and ``_ignore`` are
  accepted; entities nest under their parent (routes under services, plugins
  under services/routes/consumers, snis under certificates, credentials under
  consumers) or sit at the top level and name their parent by endpoint key
  (name, username) or id; ids are generated when absent, deterministically
  (UUIDv5) when the entity has an endpoint key or a cache key, randomly
  otherwise (see :func:`_kong_uuid`).
* ``kong/db/declarative/migrations/route_path.lua``: with "1.1"/"2.1", route
  paths that look like regexes become ``~`` regex paths, the others are
  normalized.
* ``kong/db/schema/entities/*.lua`` and ``typedefs.lua``: field types, ranges,
  the name/host/path/SNI syntax, the ``url`` shorthand of services, the route
  checks (``snis`` only with https; at least one matching field).

purekong is stricter than Kong in one respect: fields Kong knows but purekong
does not implement (``headers`` on routes, ``tls_verify`` on services, ...) are
accepted only with their default value, so a configuration never silently
behaves differently from what it says.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import json
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from ._model import (
    CACertificate,
    Certificate,
    Consumer,
    Declarative,
    MTLSCredential,
    PluginEntity,
    Route,
    Service,
)

__all__ = ["ConfigError", "load_declarative", "parse_declarative"]

FORMAT_VERSIONS = ("1.1", "2.1", "3.0")


class ConfigError(ValueError):
    """An invalid declarative configuration; ``problems`` lists them all."""

    def __init__(self, problems: list[str], source: str = "<config>") -> None:
        self.problems = list(problems)
        self.source = source
        count = len(self.problems)
        head = f"{source}: invalid declarative configuration ({count} problem{'s' if count != 1 else ''})"
        super().__init__("\n  ".join([head + ":", *self.problems]))


# --------------------------------------------------------------------------
# Files


def load_declarative(path: str | Path) -> Declarative:
    """Read and validate a declarative configuration file.

    Like Kong (``kong/db/declarative/init.lua``), the extension decides the
    format: ``.json`` is JSON, ``.yml``/``.yaml`` is YAML.
    """
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"cannot read the file: {exc}"], source) from None
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            data = json.loads(text, object_pairs_hook=_no_duplicate_keys)
        elif suffix in (".yml", ".yaml"):
            data = _load_yaml(text)
        else:
            raise ConfigError(
                [f"unknown file type {suffix or '(none)'!r} (accepted: .json, .yml, .yaml)"], source)
    except ConfigError:
        raise
    except Exception as exc:  # json.JSONDecodeError, yaml.YAMLError
        raise ConfigError([f"failed parsing declarative configuration: {exc}"], source) from None
    return parse_declarative(data, source=source)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict:
    """json's object_pairs_hook: a repeated key is an error, not "last wins"."""
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _load_yaml(text: str) -> Any:
    import yaml

    class _StrictLoader(yaml.SafeLoader):
        """SafeLoader that refuses duplicate keys (PyYAML keeps the last one
        silently, which would hide half of a misedited entity)."""

    def construct_mapping(loader: Any, node: Any, deep: bool = False) -> dict:
        loader.flatten_mapping(node)
        seen: set = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key: let PyYAML report it
                break
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return yaml.SafeLoader.construct_mapping(loader, node, deep)

    _StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader subclass)


# --------------------------------------------------------------------------
# Ids, as Kong generates them (declarative_config.lua: generate_ids)

#: uuid.factory_v5("fd02801f-...") in declarative_config.lua; each entity
#: type gets its own namespace, v5(_ENTITIES, "<schema name>").
_ENTITIES_NS = uuid.UUID("fd02801f-0957-4a15-a55a-c8d9606f30b5")


def _kong_uuid(entity: str, key: str) -> str:
    """Kong's deterministic id for an entity of type ``entity`` with ``key``.

    Checked against Kong/go-kong's kong/ids_test.go (which mirrors Kong):
    service "some.service.name" -> d9bee1f8-db6e-5a37-9281-fd4aca16dc00.
    """
    return str(uuid.uuid5(uuid.uuid5(_ENTITIES_NS, entity), key))


_MISSING: Any = object()


def _cache_key(entity: str, item: dict, fields: tuple[str, ...], child_key: str | None,
               parent_id: str | None) -> str | None:
    """``build_cache_key`` of declarative_config.lua, quirks included: a string
    value is used as written (a parent's *name* or id), an absent value is ""
    (or the parent's id for the field the nesting fills), an explicit null or
    an ``{id: ...}`` table contributes nothing; no known parent id, no key."""
    parts = [entity]
    for name in fields:
        value = item.get(name, _MISSING)
        if isinstance(value, str):
            parts.append(value)
        elif value is _MISSING:
            if name == child_key:
                if parent_id is None:
                    return None
                parts.append(parent_id)
            else:
                parts.append("")
    return ":".join(parts)


# --------------------------------------------------------------------------
# Field syntax (kong/db/schema/typedefs.lua)

_NAME_RE = re.compile(r"^[A-Za-z0-9.\-_~\u0080-\U0010ffff]+$")  # typedefs.utf8_name
_HOSTNAME_RE = re.compile(r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*\.?$")
_PATH_CHARS_RE = re.compile(r"^/[A-Za-z0-9.\-_~/%:@!$&'()*+,;=]*$")  # RFC 3986 pchar + "/"
_BAD_PERCENT_RE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_METHOD_RE = re.compile(r"^[A-Z]+$")
_ASGI_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
#: migrate_path_280_300.lua: a pre-3.0 path that is not "plain" was a regex.
_PLAIN_PRE30_PATH_RE = re.compile(r"^[a-zA-Z0-9.\-_~/%]*$")

#: Kong's protocols (kong/constants.lua); purekong serves only http/https.
_KONG_PROTOCOLS = ("http", "https", "tcp", "tls", "udp", "grpc", "grpcs", "tls_passthrough", "ws", "wss")
_PLUGIN_DEFAULT_PROTOCOLS = ("grpc", "grpcs", "http", "https")


def _typename(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _show(value: Any) -> str:
    """A value as it appears in messages: strings quoted, the rest as JSON."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True


def _split_port(text: str) -> tuple[str, str | None]:
    """"host:port" -> (host, "port"); bracketed IPv6 keeps its colons."""
    if text.startswith("["):
        end = text.find("]")
        if end != -1 and text[end + 1:end + 2] == ":":
            return text[:end + 1], text[end + 2:]
        return text, None
    if text.count(":") == 1:
        host, port = text.split(":")
        return host, port
    return text, None


def _host_problem(host: str, *, port_allowed: bool = False, ip_allowed: bool = True) -> str | None:
    """Why ``host`` is not a valid host name or address, or None."""
    name, port = _split_port(host)
    if port is not None:
        if not port_allowed:
            return "must not have a port"
        if not port.isdigit() or not 0 <= int(port) <= 65535:
            return f"invalid port in {_show(host)}"
    if _is_ip(name):
        return None if ip_allowed else "must not be an IP"
    if ":" in name:  # an IPv6 address that did not parse, or stray colons
        return f"invalid value: {host}"
    if not name or not _HOSTNAME_RE.match(name):
        return f"invalid value: {host}"
    return None


def _path_problem(path: str) -> str | None:
    """typedefs.path: a service path (and the syntax half of a route path)."""
    if not path.startswith("/"):
        return 'must start with "/"'
    if "//" in path:
        return "must not have empty segments"
    if not _PATH_CHARS_RE.match(path):
        return f"invalid path: {_show(path)} (characters outside of the reserved list of RFC 3986 found)"
    bad = _BAD_PERCENT_RE.search(path)
    if bad:
        return f"invalid url-encoded value: {_show(path[bad.start():bad.start() + 3])}"
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


def _wildcard_sni_problem(name: str) -> str | None:
    """typedefs.wildcard_host (snis.name), minus the forms that can never be
    looked up (Kong's certificate lookup only tries "*", "*.rest", "rest.*")."""
    if name == "*":
        return None
    stars = name.count("*")
    if stars > 1:
        return "only one wildcard must be specified"
    if stars == 1 and not (name.startswith("*.") or name.endswith(".*")):
        return 'wildcard must be the leftmost ("*.example.com") or rightmost ("example.*") label'
    return _host_problem(name.replace("*", "wildcard"), ip_allowed=False)


# --------------------------------------------------------------------------
# The parser


@dataclass
class _Rec:
    """One entity on its way to a model object."""

    kind: str  # "services", "routes", ...
    where: str  # 'services[0] (name "a")'
    raw: dict
    values: dict = field(default_factory=dict)
    #: The id is Kong's (explicit or UUIDv5): children may build their own
    #: deterministic ids from it.
    stable_id: bool = False
    parent: "_Rec | None" = None


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[str] = []
        self.recs: dict[str, list[_Rec]] = {k: [] for k in (
            "services", "routes", "plugins", "certificates", "snis",
            "ca_certificates", "consumers", "mtls_auth_credentials")}
        self.format_version = "3.0"

    # -- reporting --------------------------------------------------------

    def err(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    # -- typed getters: report and return None on a bad value -------------

    def string(self, rec: _Rec, name: str, *, required: bool = False) -> str | None:
        value = rec.raw.get(name)
        if value is None:
            if required:
                self.err(f"{rec.where}.{name}", "required field missing")
            return None
        if not isinstance(value, str):
            self.err(f"{rec.where}.{name}", f"expected a string, got {_typename(value)} {_show(value)}")
            return None
        return value

    def boolean(self, rec: _Rec, name: str, default: bool) -> bool:
        value = rec.raw.get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.err(f"{rec.where}.{name}", f"expected a boolean, got {_typename(value)} {_show(value)}")
            return default
        return value

    def integer(self, rec: _Rec, name: str, default: int | None, low: int, high: int) -> int | None:
        value = rec.raw.get(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.err(f"{rec.where}.{name}", f"expected an integer, got {_typename(value)} {_show(value)}")
            return default
        if not low <= value <= high:
            self.err(f"{rec.where}.{name}", f"value should be between {low} and {high}")
            return default
        return value

    def strings(self, rec: _Rec, name: str) -> list[tuple[str, str]] | None:
        """An array of strings as (where, value) pairs; None when absent."""
        value = rec.raw.get(name)
        if value is None:
            return None
        if not isinstance(value, list):
            self.err(f"{rec.where}.{name}", f"expected an array, got {_typename(value)} {_show(value)}")
            return None
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, str):
                self.err(f"{rec.where}.{name}[{i}]", f"expected a string, got {_typename(item)} {_show(item)}")
            else:
                out.append((f"{rec.where}.{name}[{i}]", item))
        return out

    def records(self, value: Any, where: str) -> list[tuple[str, dict]]:
        """An array of objects as (where, object) pairs."""
        if value is None:
            return []
        if not isinstance(value, list):
            self.err(where, f"expected an array, got {_typename(value)} {_show(value)}")
            return []
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                self.err(f"{where}[{i}]", f"expected an object, got {_typename(item)} {_show(item)}")
            else:
                out.append((f"{where}[{i}]", item))
        return out

    # -- common entity handling --------------------------------------------

    def new(self, kind: str, where: str, raw: dict, label_field: str | None,
            allowed: set[str], defaults_only: dict[str, Callable[[Any], bool]],
            parent: _Rec | None = None) -> _Rec:
        label = raw.get(label_field) if label_field else None
        if isinstance(label, str):
            where = f"{where} ({label_field} {_show(label)})"
        rec = _Rec(kind, where, raw, parent=parent)
        for key in raw:
            if not isinstance(key, str):
                self.err(where, f"field names must be strings, got {_typename(key)} {_show(key)}")
            elif key in allowed or key in _IGNORED_FIELDS:
                continue
            elif key in defaults_only:
                if not defaults_only[key](raw[key]):
                    self.err(f"{where}.{key}", "not supported by purekong (only Kong's default value is accepted)")
            elif key in _KONG_NESTED.get(kind, ()):
                self.err(f"{where}.{key}", "entity type not supported by purekong")
            else:
                self.err(f"{where}.{key}", "unknown field")
        if "tags" in raw:
            self.strings(rec, "tags")
        self.recs[kind].append(rec)
        return rec

    def set_id(self, rec: _Rec, key: str | None) -> None:
        """An explicit id (validated), else Kong's UUIDv5 from ``key``, else
        a random one."""
        value = rec.raw.get("id")
        if value is not None:
            if isinstance(value, str):
                try:
                    rec.values["id"] = str(uuid.UUID(value))
                    rec.stable_id = True
                    return
                except ValueError:
                    pass
            self.err(f"{rec.where}.id", f"expected a UUID, got {_show(value)}")
        if key is not None:
            rec.values["id"] = _kong_uuid(rec.kind, key)
            rec.stable_id = True
        else:
            rec.values["id"] = str(uuid.uuid4())

    def name(self, rec: _Rec, field_name: str = "name") -> str | None:
        value = self.string(rec, field_name)
        if value is not None and not _NAME_RE.match(value):
            self.err(f"{rec.where}.{field_name}",
                     f'invalid value {_show(value)}: the only accepted ascii characters are '
                     'alphanumerics or ".", "-", "_" and "~"')
            return None
        return value

    def reference(self, rec: _Rec, name: str) -> Any:
        """A foreign key as written: a string (endpoint key or id) or {id: ...}."""
        value = rec.raw.get(name)
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, dict) and set(value) == {"id"} and isinstance(value["id"], str):
            return value
        self.err(f"{rec.where}.{name}",
                 f"expected a name, an id or {{id: ...}}, got {_typename(value)} {_show(value)}")
        return None

    # -- top level ----------------------------------------------------------

    def parse(self, data: Any) -> Declarative:
        if not isinstance(data, dict):
            self.err("(top level)", f"expected an object, got {_typename(data)}")
            raise ConfigError(self.problems, self.source)
        self.format(data)
        for key in data:
            if key in _TOP_LEVEL or key in ("_format_version", "_transform", "_comment", "_ignore"):
                continue
            if key in _KONG_TOP_LEVEL:
                self.err(str(key), "entity type not supported by purekong")
            else:
                self.err(str(key), "unknown top-level key")
        if data.get("_transform") is not None and not isinstance(data["_transform"], bool):
            self.err("_transform", f"expected a boolean, got {_typename(data['_transform'])}")

        for where, raw in self.records(data.get("services"), "services"):
            self.service(where, raw)
        for where, raw in self.records(data.get("routes"), "routes"):
            self.route(where, raw, None)
        for where, raw in self.records(data.get("consumers"), "consumers"):
            self.consumer(where, raw)
        for where, raw in self.records(data.get("certificates"), "certificates"):
            self.certificate(where, raw)
        for where, raw in self.records(data.get("snis"), "snis"):
            self.sni(where, raw, None)
        for where, raw in self.records(data.get("ca_certificates"), "ca_certificates"):
            self.ca_certificate(where, raw)
        for where, raw in self.records(data.get("plugins"), "plugins"):
            self.plugin(where, raw, None)
        for where, raw in self.records(data.get("mtls_auth_credentials"), "mtls_auth_credentials"):
            self.credential(where, raw, None)

        self.check_unique()
        self.resolve()
        if self.problems:
            raise ConfigError(self.problems, self.source)
        return self.build()

    def format(self, data: dict) -> None:
        version = data.get("_format_version")
        expected = '"1.1", "2.1" or "3.0"'
        if version is None:
            self.err("_format_version", f"required field missing (expected {expected})")
        elif not isinstance(version, str):
            hint = f' (quote it: "{version}")' if isinstance(version, (int, float)) and not isinstance(version, bool) else ""
            self.err("_format_version", f"expected a string, got {_typename(version)} {_show(version)}{hint}")
        elif version not in FORMAT_VERSIONS:
            self.err("_format_version", f"unsupported value {_show(version)} (expected {expected})")
        else:
            self.format_version = version

    # -- services -----------------------------------------------------------

    def service(self, where: str, raw: dict) -> None:
        rec = self.new("services", where, raw, "name", _SERVICE_FIELDS, _SERVICE_DEFAULTS_ONLY)
        name = self.name(rec)
        self.set_id(rec, name)
        v = rec.values
        v["name"] = name
        v["connect_timeout"] = self.integer(rec, "connect_timeout", 60_000, 1, 2**31 - 2)
        v["write_timeout"] = self.integer(rec, "write_timeout", 60_000, 1, 2**31 - 2)
        v["read_timeout"] = self.integer(rec, "read_timeout", 60_000, 1, 2**31 - 2)
        v["retries"] = self.integer(rec, "retries", 5, 0, 32767)
        v["enabled"] = self.boolean(rec, "enabled", True)

        url = self.string(rec, "url")
        asgi = self.string(rec, "asgi")
        given = [k for k in ("protocol", "host", "port") if raw.get(k) is not None]
        if asgi is not None:
            if url is not None or given:
                clash = "url" if url is not None else given[0]
                self.err(f"{rec.where}.asgi", f'cannot be combined with "{clash}"')
            if not _ASGI_RE.match(asgi):
                self.err(f"{rec.where}.asgi", f'expected "module:attribute", got {_show(asgi)}')
            v.update(protocol="asgi", asgi=asgi, host=None, port=None, path=self.service_path(rec))
        elif url is not None:
            if given:
                self.err(f"{rec.where}.url", f'cannot be combined with "{given[0]}"')
            self.service_url(rec, url)
        else:
            self.service_fields(rec)
        for w, child in self.records(raw.get("routes"), f"{rec.where}.routes"):
            self.route(w, child, rec)
        for w, child in self.records(raw.get("plugins"), f"{rec.where}.plugins"):
            self.plugin(w, child, rec)

    def service_url(self, rec: _Rec, url: str) -> None:
        """The ``url`` shorthand (services.lua): scheme, host, port, path."""
        where = f"{rec.where}.url"
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            self.err(where, f"could not parse url {_show(url)}: {exc}")
            return
        scheme = parts.scheme.lower()
        if not scheme:
            self.err(where, f"missing scheme in url {_show(url)}")
            return
        if scheme not in ("http", "https"):
            self.err(where, f"unsupported scheme {_show(scheme)} (expected http or https)")
            return
        if not parts.hostname:
            self.err(where, f"missing host in url {_show(url)}")
            return
        # Kong's shorthand drops these silently; refusing them is kinder.
        if parts.username is not None or parts.password is not None:
            self.err(where, "credentials in the url are not supported")
        if parts.query or parts.fragment:
            self.err(where, "a query string or fragment in the url is not supported")
        host = parts.hostname
        problem = _host_problem(host)
        if problem:
            self.err(where, f"host {problem}" if problem.startswith("must") else problem)
        path = parts.path or None
        if path is not None:
            problem = _path_problem(path)
            if problem:
                self.err(where, f"path {problem}" if problem.startswith("must") else problem)
        rec.values.update(protocol=scheme, host=host,
                          port=port if port is not None else (443 if scheme == "https" else 80),
                          path=path)

    def service_fields(self, rec: _Rec) -> None:
        protocol = self.string(rec, "protocol")
        if protocol is None and rec.raw.get("protocol") is None:
            protocol = "http"  # Kong's default
        if protocol is not None and protocol not in ("http", "https"):
            if protocol in _KONG_PROTOCOLS:
                self.err(f"{rec.where}.protocol", f"protocol {_show(protocol)} not supported by purekong")
            else:
                self.err(f"{rec.where}.protocol", f"invalid protocol {_show(protocol)} (expected http or https)")
        host = self.string(rec, "host")
        if rec.raw.get("host") is None:
            self.err(rec.where, 'must set "url", "host" or "asgi"')
        elif host is not None:
            problem = _host_problem(host)
            if problem:
                self.err(f"{rec.where}.host", problem)
        # Kong's default port is 80 whatever the protocol (only the url
        # shorthand derives 443 from https): kept, and documented.
        port = self.integer(rec, "port", 80, 0, 65535)
        rec.values.update(protocol=protocol, host=host, port=port, path=self.service_path(rec))

    def service_path(self, rec: _Rec) -> str | None:
        path = self.string(rec, "path")
        if path is not None:
            problem = _path_problem(path)
            if problem:
                self.err(f"{rec.where}.path", problem)
        return path

    # -- routes -------------------------------------------------------------

    def route(self, where: str, raw: dict, service: _Rec | None) -> None:
        rec = self.new("routes", where, raw, "name", _ROUTE_FIELDS, _ROUTE_DEFAULTS_ONLY, parent=service)
        name = self.name(rec)
        self.set_id(rec, name)
        v = rec.values
        v["name"] = name
        if service is not None:
            if raw.get("service") is not None:
                self.err(f"{rec.where}.service", "must not be set on a route nested under a service")
            v["service_ref"] = None
        else:
            v["service_ref"] = self.reference(rec, "service")
        v["strip_path"] = self.boolean(rec, "strip_path", True)
        v["preserve_host"] = self.boolean(rec, "preserve_host", False)
        code = rec.raw.get("https_redirect_status_code")
        if code is not None and (isinstance(code, bool) or code not in (426, 301, 302, 307, 308)):
            self.err(f"{rec.where}.https_redirect_status_code",
                     f"expected one of 426, 301, 302, 307, 308, got {_show(code)}")
            code = None
        v["https_redirect_status_code"] = code if code is not None else 426
        if rec.raw.get("path_handling") not in (None, "v0"):
            self.err(f"{rec.where}.path_handling", 'only "v0" (Kong\'s default) is supported by purekong')
        self.integer(rec, "regex_priority", 0, -(2**31), 2**31 - 1)
        for flag in ("request_buffering", "response_buffering"):
            self.boolean(rec, flag, True)

        v["protocols"] = self.route_protocols(rec)
        v["methods"] = self.route_methods(rec)
        v["hosts"] = self.route_hosts(rec)
        v["paths"] = self.route_paths(rec)
        v["snis"] = self.route_snis(rec)

        protocols = v["protocols"] or ("http", "https")
        if raw.get("snis") and "https" not in protocols:
            self.err(f"{rec.where}.snis", 'can only be set when "protocols" includes "https"')
        if v["protocols"] is not None and not any(raw.get(k) for k in ("methods", "hosts", "paths", "snis")):
            # routes_subschemas.lua: a route must match on something.
            if "https" in protocols:
                self.err(rec.where, 'must set one of "methods", "hosts", "paths", "snis" when "protocols" includes "https"')
            else:
                self.err(rec.where, 'must set one of "methods", "hosts", "paths" when "protocols" is "http"')
        for w, child in self.records(raw.get("plugins"), f"{rec.where}.plugins"):
            self.plugin(w, child, rec)

    def route_protocols(self, rec: _Rec) -> tuple[str, ...] | None:
        items = self.strings(rec, "protocols")
        if items is None:
            return ("http", "https") if rec.raw.get("protocols") is None else None
        if not items and not rec.raw["protocols"]:
            self.err(f"{rec.where}.protocols", "length must be at least 1")
            return None
        out: list[str] = []
        valid = len(items) == len(rec.raw["protocols"])
        for where, protocol in items:
            if protocol in ("http", "https"):
                if protocol not in out:
                    out.append(protocol)
            elif protocol in _KONG_PROTOCOLS:
                self.err(where, f"protocol {_show(protocol)} not supported by purekong")
                valid = False
            else:
                self.err(where, f"invalid protocol {_show(protocol)} (expected http or https)")
                valid = False
        return tuple(out) if valid else None

    def route_methods(self, rec: _Rec) -> tuple[str, ...]:
        out: list[str] = []
        for where, method in self.strings(rec, "methods") or ():
            if not _METHOD_RE.match(method):
                self.err(where, f"invalid method {_show(method)} (upper-case letters only, like GET)")
            elif method not in out:
                out.append(method)
        return tuple(out)

    def route_hosts(self, rec: _Rec) -> tuple[str, ...]:
        out: list[str] = []
        for where, host in self.strings(rec, "hosts") or ():
            stars = host.count("*")
            name, _ = _split_port(host)
            if stars > 1:
                self.err(where, "invalid wildcard: must have at most one wildcard")
            elif stars == 1 and not (name.startswith("*.") or name.endswith(".*")):
                self.err(where, "invalid wildcard: must be placed at leftmost or rightmost label")
            else:
                problem = _host_problem(host.replace("*", "abc"), port_allowed=True)
                if problem:
                    self.err(where, problem)
                else:
                    # Host names are case-insensitive (RFC 9110 4.2.3).
                    out.append(host.lower())
        return tuple(out)

    def route_paths(self, rec: _Rec) -> tuple[str, ...]:
        out: list[str] = []
        for where, path in self.strings(rec, "paths") or ():
            if path.startswith("~"):
                self.err(where, "regex paths are not supported by purekong")
                continue
            if self.format_version != "3.0" and path.startswith("/") and not _PLAIN_PRE30_PATH_RE.match(path):
                self.err(where, f'{_show(path)} is a regex path under _format_version '
                                f'{_show(self.format_version)} (Kong prefixes it with "~"); '
                                "regex paths are not supported by purekong")
                continue
            problem = _path_problem(path)
            if problem:
                self.err(where, problem)
                continue
            normalized = normalize_path(path)
            if normalized != path:
                if self.format_version == "3.0":
                    self.err(where, f"non-normalized path, consider using {_show(normalized)} instead")
                    continue
                path = normalized  # route_path.lua normalizes pre-3.0 paths
            out.append(path)
        return tuple(out)

    def route_snis(self, rec: _Rec) -> tuple[str, ...]:
        out: list[str] = []
        for where, sni in self.strings(rec, "snis") or ():
            if "*" in sni:
                # Kong's router compares route SNIs with "==", so a wildcard
                # here would only ever match a client sending a literal "*".
                self.err(where, "wildcards are not supported in route snis")
                continue
            problem = _host_problem(sni, ip_allowed=False)
            if problem:
                self.err(where, problem)
                continue
            # compat.lua: "last dot in FQDNs must not be used for routing".
            sni = sni.lower()
            out.append(sni[:-1] if len(sni) > 1 and sni.endswith(".") else sni)
        return tuple(out)

    # -- plugins ------------------------------------------------------------

    def plugin(self, where: str, raw: dict, parent: _Rec | None) -> None:
        rec = self.new("plugins", where, raw, "name", _PLUGIN_FIELDS, _PLUGIN_DEFAULTS_ONLY, parent=parent)
        v = rec.values
        v["name"] = self.string(rec, "name", required=True)
        v["instance_name"] = self.name(rec, "instance_name")
        child_key = _PARENT_KEY[parent.kind] if parent is not None else None
        for ref in ("service", "route", "consumer"):
            if ref == child_key:
                if raw.get(ref) is not None:
                    self.err(f"{rec.where}.{ref}", f"must not be set on a plugin nested under a {ref}")
                v[f"{ref}_ref"] = None
            else:
                v[f"{ref}_ref"] = self.reference(rec, ref)
        if v["instance_name"] is not None:
            self.set_id(rec, v["instance_name"])
        else:
            parent_id = parent.values["id"] if parent is not None and parent.stable_id else None
            key = _cache_key("plugins", raw, ("name", "route", "service", "consumer", "consumer_group"),
                             child_key, parent_id)
            self.set_id(rec, key)
        config = raw.get("config")
        if config is None:
            config = {}
        elif not isinstance(config, dict):
            self.err(f"{rec.where}.config", f"expected an object, got {_typename(config)} {_show(config)}")
            config = {}
        v["config"] = config
        v["enabled"] = self.boolean(rec, "enabled", True)
        protocols = _PLUGIN_DEFAULT_PROTOCOLS
        items = self.strings(rec, "protocols")
        if items is not None:
            good = []
            for w, protocol in items:
                if protocol not in _KONG_PROTOCOLS:
                    self.err(w, f"invalid protocol {_show(protocol)}")
                elif protocol not in good:
                    good.append(protocol)
            protocols = tuple(good)
        v["protocols"] = protocols

    # -- consumers and credentials --------------------------------------------

    def consumer(self, where: str, raw: dict) -> None:
        rec = self.new("consumers", where, raw, "username", _CONSUMER_FIELDS, {})
        v = rec.values
        v["username"] = self.string(rec, "username")
        v["custom_id"] = self.string(rec, "custom_id")
        self.set_id(rec, v["username"])
        if raw.get("username") is None and raw.get("custom_id") is None:
            self.err(rec.where, 'must set at least one of "username" or "custom_id"')
        for w, child in self.records(raw.get("plugins"), f"{rec.where}.plugins"):
            self.plugin(w, child, rec)
        for w, child in self.records(raw.get("mtls_auth_credentials"), f"{rec.where}.mtls_auth_credentials"):
            self.credential(w, child, rec)

    def credential(self, where: str, raw: dict, consumer: _Rec | None) -> None:
        rec = self.new("mtls_auth_credentials", where, raw, "subject_name", _CREDENTIAL_FIELDS, {}, parent=consumer)
        v = rec.values
        v["subject_name"] = self.string(rec, "subject_name", required=True)
        v["ca_certificate_ref"] = self.reference(rec, "ca_certificate")
        if consumer is not None:
            if raw.get("consumer") is not None:
                self.err(f"{rec.where}.consumer", "must not be set on a credential nested under a consumer")
            v["consumer_ref"] = None
        else:
            v["consumer_ref"] = self.reference(rec, "consumer")
            if raw.get("consumer") is None:
                self.err(f"{rec.where}.consumer", "required field missing")
        # EE's mtls_auth_credentials: cache_key = { "subject_name", "ca_certificate" }
        key = _cache_key("mtls_auth_credentials", raw, ("subject_name", "ca_certificate"), "consumer",
                         consumer.values["id"] if consumer is not None and consumer.stable_id else None)
        self.set_id(rec, key if v["subject_name"] is not None else None)

    # -- certificates -------------------------------------------------------

    def certificate(self, where: str, raw: dict) -> None:
        rec = self.new("certificates", where, raw, None, _CERTIFICATE_FIELDS, _CERTIFICATE_DEFAULTS_ONLY)
        self.set_id(rec, None)  # no endpoint key, no cache key: random, as Kong
        v = rec.values
        chain = self.pem_certificates(rec, "cert")
        key_pem = self.string(rec, "key", required=True)
        key = None
        if key_pem is not None and "PRIVATE KEY-----" not in key_pem:
            self.err(f"{rec.where}.key", 'invalid key: no PEM "PRIVATE KEY" block found')
        elif key_pem is not None:
            try:
                key = serialization.load_pem_private_key(key_pem.encode(), password=None)
            except TypeError:
                self.err(f"{rec.where}.key", "encrypted private keys are not supported")
            except (ValueError, UnsupportedAlgorithm) as exc:
                self.err(f"{rec.where}.key", f"invalid key: {_first_line(exc)}")
        if chain and key is not None and not _same_public_key(chain[0], key):
            self.err(f"{rec.where}.key", "does not match the certificate")
        v["chain"], v["key"] = chain, key
        for w, child in self.records(raw.get("snis"), f"{rec.where}.snis"):
            self.sni(w, child, rec)

    def pem_certificates(self, rec: _Rec, name: str) -> tuple[x509.Certificate, ...] | None:
        pem = self.string(rec, name, required=True)
        if pem is None:
            return None
        if "-----BEGIN CERTIFICATE-----" not in pem:
            self.err(f"{rec.where}.{name}", 'invalid certificate: no PEM "CERTIFICATE" block found')
            return None
        try:
            certs = tuple(x509.load_pem_x509_certificates(pem.encode()))
        except ValueError as exc:
            self.err(f"{rec.where}.{name}", f"invalid certificate: {_first_line(exc)}")
            return None
        return certs

    def sni(self, where: str, raw: dict, certificate: _Rec | None) -> None:
        rec = self.new("snis", where, raw, "name", _SNI_FIELDS, {}, parent=certificate)
        name = self.string(rec, "name", required=True)
        if name is not None:
            problem = _wildcard_sni_problem(name)
            if problem:
                self.err(f"{rec.where}.name", problem)
            name = name.lower()
        rec.values["name"] = name
        self.set_id(rec, name)
        if certificate is not None:
            if raw.get("certificate") is not None:
                self.err(f"{rec.where}.certificate", "must not be set on an SNI nested under a certificate")
            rec.values["certificate_ref"] = None
        else:
            rec.values["certificate_ref"] = self.reference(rec, "certificate")
            if raw.get("certificate") is None:
                self.err(f"{rec.where}.certificate", "required field missing")

    def ca_certificate(self, where: str, raw: dict) -> None:
        rec = self.new("ca_certificates", where, raw, None, _CA_FIELDS, {})
        self.set_id(rec, None)
        certs = self.pem_certificates(rec, "cert")
        cert = None
        if certs is not None:
            # ca_certificates.lua: one certificate, a CA, not expired.
            if len(certs) != 1:
                self.err(f"{rec.where}.cert", "please submit only one certificate at a time")
            else:
                cert = certs[0]
                if cert.not_valid_after_utc < _dt.datetime.now(_dt.timezone.utc):
                    self.err(f"{rec.where}.cert", 'certificate expired, "Not After" time is in the past')
                    cert = None
                elif not _is_ca(cert):
                    self.err(f"{rec.where}.cert", "certificate does not appear to be a CA because "
                                                 'it is missing the "CA" basic constraint')
                    cert = None
        rec.values["cert"] = cert

    # -- uniqueness and references ------------------------------------------

    def check_unique(self) -> None:
        def unique(kind: str, field_name: str, label: str) -> None:
            seen: dict[Any, _Rec] = {}
            for rec in self.recs[kind]:
                value = rec.values.get(field_name)
                if value is None:
                    continue
                if value in seen:
                    self.err(rec.where if field_name == "id" else f"{rec.where}.{field_name}",
                             f"duplicate {label} {_show(value)} (also used by {seen[value].where})")
                else:
                    seen[value] = rec

        # Two generated ids collide only when their keys do (same name, same
        # plugin scope, ...): the checks on those keys say it better.
        for kind in self.recs:
            seen: dict[str, _Rec] = {}
            for rec in self.recs[kind]:
                value = rec.values["id"]
                other = seen.setdefault(value, rec)
                if other is not rec and (rec.raw.get("id") is not None or other.raw.get("id") is not None):
                    self.err(rec.where, f"duplicate id {_show(value)} (also used by {other.where})")
        unique("services", "name", "name")
        unique("routes", "name", "name")
        unique("plugins", "instance_name", "instance_name")
        unique("consumers", "username", "username")
        unique("consumers", "custom_id", "custom_id")
        unique("snis", "name", "SNI")
        digests: dict[bytes, _Rec] = {}
        for rec in self.recs["ca_certificates"]:
            cert = rec.values.get("cert")
            if cert is not None:
                digest = cert.fingerprint(_sha256())
                if digest in digests:
                    self.err(f"{rec.where}.cert", f"duplicate CA certificate (also used by {digests[digest].where})")
                else:
                    digests[digest] = rec

    def find(self, kind: str, ref: Any, key_field: str | None) -> _Rec | None:
        """Kong's find_entity: by endpoint key first, then by id."""
        if isinstance(ref, dict):
            ref, key_field = ref["id"], None
        if key_field is not None:
            for rec in self.recs[kind]:
                if rec.values.get(key_field) == ref:
                    return rec
        try:
            wanted = str(uuid.UUID(ref))
        except ValueError:
            return None
        return next((rec for rec in self.recs[kind] if rec.values.get("id") == wanted), None)

    def resolve_one(self, rec: _Rec, field_name: str, kind: str, key_field: str | None, what: str) -> str | None:
        ref = rec.values.get(f"{field_name}_ref")
        if ref is None:
            return None
        target = self.find(kind, ref, key_field)
        if target is None:
            shown = ref["id"] if isinstance(ref, dict) else ref
            by_id = isinstance(ref, dict) or key_field is None or _looks_like_uuid(shown)
            if by_id:
                self.err(f"{rec.where}.{field_name}", f"no {what} with id {_show(shown)}")
            else:
                self.err(f"{rec.where}.{field_name}", f"no {what} {_KEY_WORDING[key_field]} {_show(shown)}")
            return None
        return target.values["id"]

    def resolve(self) -> None:
        for rec in self.recs["routes"]:
            if rec.parent is not None:
                rec.values["service"] = rec.parent.values["id"]
            else:
                rec.values["service"] = self.resolve_one(rec, "service", "services", "name", "service")
        for rec in self.recs["plugins"]:
            for ref, kind, key_field in (("service", "services", "name"), ("route", "routes", "name"),
                                         ("consumer", "consumers", "username")):
                if rec.parent is not None and rec.parent.kind == kind:
                    rec.values[ref] = rec.parent.values["id"]
                else:
                    rec.values[ref] = self.resolve_one(rec, ref, kind, key_field, ref)
        # cache_key uniqueness (plugins.lua): one instance of a plugin per
        # (route, service, consumer) combination.
        scopes: dict[tuple, _Rec] = {}
        for rec in self.recs["plugins"]:
            v = rec.values
            if v["name"] is None:
                continue
            scope = (v["name"], v.get("route"), v.get("service"), v.get("consumer"))
            if scope in scopes:
                self.err(rec.where, f"plugin {_show(v['name'])} is already configured for the same "
                                    f"service, route and consumer (by {scopes[scope].where})")
            else:
                scopes[scope] = rec
        for rec in self.recs["mtls_auth_credentials"]:
            rec.values["ca_certificate"] = self.resolve_one(
                rec, "ca_certificate", "ca_certificates", None, "CA certificate")
            if rec.parent is not None:
                rec.values["consumer"] = rec.parent
            else:
                consumer_id = self.resolve_one(rec, "consumer", "consumers", "username", "consumer")
                rec.values["consumer"] = next(
                    (c for c in self.recs["consumers"] if c.values["id"] == consumer_id), None)
        # The credential's cache key, subject_name + ca_certificate, is
        # unique across consumers: a certificate maps to one consumer.
        subjects: dict[tuple, _Rec] = {}
        for rec in self.recs["mtls_auth_credentials"]:
            subject = (rec.values["subject_name"], rec.values["ca_certificate"])
            if subject[0] is None:
                continue
            if subject in subjects:
                self.err(rec.where, f"duplicate credential: subject_name {_show(subject[0])} with the same "
                                    f"ca_certificate is already used by {subjects[subject].where}")
            else:
                subjects[subject] = rec
        for rec in self.recs["snis"]:
            if rec.parent is not None:
                rec.values["certificate"] = rec.parent
            else:
                cert_id = self.resolve_one(rec, "certificate", "certificates", None, "certificate")
                rec.values["certificate"] = next(
                    (c for c in self.recs["certificates"] if c.values["id"] == cert_id), None)

    # -- building -------------------------------------------------------------

    def build(self) -> Declarative:
        def vals(rec: _Rec, *names: str) -> dict:
            return {n: rec.values[n] for n in names}

        services = tuple(
            Service(**vals(r, "id", "name", "protocol", "host", "port", "path"),
                    asgi=r.values.get("asgi"),
                    **vals(r, "connect_timeout", "write_timeout", "read_timeout", "retries", "enabled"))
            for r in self.recs["services"])
        routes = tuple(
            Route(**vals(r, "id", "name", "service", "protocols", "methods", "hosts", "paths", "snis",
                         "strip_path", "preserve_host", "https_redirect_status_code"))
            for r in self.recs["routes"])
        plugins = tuple(
            PluginEntity(**vals(r, "id", "name", "config", "enabled", "service", "route", "consumer",
                                "protocols", "instance_name"))
            for r in self.recs["plugins"])
        snis_of: dict[int, list[str]] = {}
        for r in self.recs["snis"]:
            snis_of.setdefault(id(r.values["certificate"]), []).append(r.values["name"])
        certificates = tuple(
            Certificate(id=r.values["id"], chain=r.values["chain"], key=r.values["key"],
                        snis=tuple(snis_of.get(id(r), ())))
            for r in self.recs["certificates"])
        cas = tuple(CACertificate(id=r.values["id"], cert=r.values["cert"]) for r in self.recs["ca_certificates"])
        creds_of: dict[int, list[MTLSCredential]] = {}
        for r in self.recs["mtls_auth_credentials"]:
            creds_of.setdefault(id(r.values["consumer"]), []).append(
                MTLSCredential(**vals(r, "id", "subject_name", "ca_certificate")))
        consumers = tuple(
            Consumer(**vals(r, "id", "username", "custom_id"),
                     mtls_auth_credentials=tuple(creds_of.get(id(r), ())))
            for r in self.recs["consumers"])
        return Declarative(services=services, routes=routes, plugins=plugins, certificates=certificates,
                           ca_certificates=cas, consumers=consumers)


def parse_declarative(data: dict, *, source: str = "<config>") -> Declarative:
    """Validate an already-decoded declarative configuration."""
    return _Parser(source).parse(data)


# --------------------------------------------------------------------------
# Field tables

#: Accepted on every entity and without effect in purekong.
_IGNORED_FIELDS = frozenset({"tags", "created_at", "updated_at", "_comment", "_ignore"})

_SERVICE_FIELDS = {"id", "name", "url", "protocol", "host", "port", "path", "asgi", "connect_timeout",
                   "write_timeout", "read_timeout", "retries", "enabled", "routes", "plugins"}
_ROUTE_FIELDS = {"id", "name", "service", "protocols", "methods", "hosts", "paths", "snis", "strip_path",
                 "preserve_host", "https_redirect_status_code", "plugins", "path_handling",
                 "regex_priority", "request_buffering", "response_buffering"}
_PLUGIN_FIELDS = {"id", "name", "instance_name", "config", "enabled", "service", "route", "consumer", "protocols"}
_CONSUMER_FIELDS = {"id", "username", "custom_id", "plugins", "mtls_auth_credentials"}
_CREDENTIAL_FIELDS = {"id", "subject_name", "ca_certificate", "consumer"}
_CERTIFICATE_FIELDS = {"id", "cert", "key", "snis"}
_SNI_FIELDS = {"id", "name", "certificate"}
_CA_FIELDS = {"id", "cert", "cert_digest"}


def _empty(value: Any) -> bool:
    return value is None or value == [] or value == {}


#: Kong fields purekong does not implement, accepted at their default only.
_SERVICE_DEFAULTS_ONLY = {
    "client_certificate": _empty,
    "tls_verify": lambda v: v is None or v is False,
    "tls_verify_depth": _empty,
    "ca_certificates": _empty,
}
_ROUTE_DEFAULTS_ONLY = {"headers": _empty, "sources": _empty, "destinations": _empty}
_PLUGIN_DEFAULTS_ONLY = {"consumer_group": _empty, "ordering": _empty}
_CERTIFICATE_DEFAULTS_ONLY = {"cert_alt": _empty, "key_alt": _empty}

_TOP_LEVEL = {"services", "routes", "plugins", "certificates", "snis", "ca_certificates", "consumers",
              "mtls_auth_credentials"}
#: Kong entity types purekong does not implement (kong/constants.lua
#: CORE_ENTITIES and the bundled plugins' DAOs).
_KONG_TOP_LEVEL = {"upstreams", "targets", "vaults", "consumer_groups", "consumer_group_consumers",
                   "consumer_group_plugins", "keys", "key_sets", "parameters", "workspaces",
                   "filter_chains", "acls", "keyauth_credentials", "basicauth_credentials",
                   "hmacauth_credentials", "jwt_secrets", "oauth2_credentials", "_workspace"}
_KONG_NESTED = {
    "consumers": {"acls", "keyauth_credentials", "basicauth_credentials", "hmacauth_credentials",
                  "jwt_secrets", "oauth2_credentials", "consumer_groups"},
    "services": {"filter_chains"},
    "routes": {"filter_chains"},
}
_PARENT_KEY = {"services": "service", "routes": "route", "consumers": "consumer"}
_KEY_WORDING = {"name": "named", "username": "with username"}


# --------------------------------------------------------------------------
# Small helpers


def _first_line(exc: Exception) -> str:
    """The first sentence of an exception's message (cryptography's run on)."""
    text = (str(exc).strip() or type(exc).__name__).splitlines()[0]
    return text.split(". ")[0].rstrip(".")


def _sha256() -> Any:
    from cryptography.hazmat.primitives import hashes

    return hashes.SHA256()


def _same_public_key(cert: x509.Certificate, key: Any) -> bool:
    def spki(public: Any) -> bytes:
        return public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)

    try:
        return spki(cert.public_key()) == spki(key.public_key())
    except (ValueError, TypeError, AttributeError):
        return False


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False
    except ValueError:  # a malformed extension
        return False


def _looks_like_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
