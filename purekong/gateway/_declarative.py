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
  otherwise (see :func:`~._declarative_report.kong_uuid`).
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

The parser's parts, each readable on its own:

* this module: files (JSON, YAML, duplicate keys refused), the top level,
  and the order of the passes (read every entry, check uniqueness, resolve
  references, build the model);
* ``_declarative_report``: entry paths, problems, :class:`ConfigError`, the
  typed field getters and Kong's ids, shared by every part;
* ``_declarative_syntax``: hosts, paths, SNIs (typedefs.lua);
* one module per entity: ``_declarative_services``, ``_declarative_routes``,
  ``_declarative_plugins``, ``_declarative_certificates`` (with SNIs and CA
  certificates) and ``_declarative_consumers`` (with their credentials).
  Each has ``parse_<entity>``, ``check_unique``, ``resolve`` and ``build``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from . import _declarative_certificates as certificates
from . import _declarative_consumers as consumers
from . import _declarative_plugins as plugins
from . import _declarative_routes as routes
from . import _declarative_services as services
from ._declarative_report import KINDS, ConfigError, Reader, show, typename
from ._declarative_syntax import normalize_path
from ._model import Declarative

__all__ = ["ConfigError", "load_declarative", "normalize_path", "parse_declarative"]

FORMAT_VERSIONS = ("1.1", "2.1", "3.0")

_TOP_LEVEL = frozenset(KINDS)
#: Keys only decK and Konnect write (their own metadata): ignored, each with
#: one info line, since Kong itself never sees them.
_TOOL_TOP_LEVEL = {"_info": "decK", "_konnect": "Konnect", "_workspace": "decK"}
_log = logging.getLogger("purekong.gateway")
#: Kong entity types purekong does not implement (kong/constants.lua
#: CORE_ENTITIES and the bundled plugins' DAOs).
_KONG_TOP_LEVEL = {"upstreams", "targets", "vaults", "consumer_groups", "consumer_group_consumers",
                   "consumer_group_plugins", "keys", "key_sets", "parameters", "workspaces",
                   "filter_chains", "acls", "keyauth_credentials", "basicauth_credentials",
                   "hmacauth_credentials", "jwt_secrets", "oauth2_credentials", "_workspace"}


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
# The top level and the passes


def parse_declarative(data: dict, *, source: str = "<config>") -> Declarative:
    """Validate an already-decoded declarative configuration."""
    reader = Reader(source)
    if not isinstance(data, dict):
        reader.err("(top level)", f"expected an object, got {typename(data)}")
        reader.raise_if_problems()
    _read_format_version(reader, data)
    _check_top_level(reader, data)

    # Every entry, top-level ones by kind (nested ones with their parent).
    for where, raw in reader.records(data.get("services"), "services"):
        services.parse_service(reader, where, raw)
    for where, raw in reader.records(data.get("routes"), "routes"):
        routes.parse_route(reader, where, raw, None)
    for where, raw in reader.records(data.get("consumers"), "consumers"):
        consumers.parse_consumer(reader, where, raw)
    for where, raw in reader.records(data.get("certificates"), "certificates"):
        certificates.parse_certificate(reader, where, raw)
    for where, raw in reader.records(data.get("snis"), "snis"):
        certificates.parse_sni(reader, where, raw, None)
    for where, raw in reader.records(data.get("ca_certificates"), "ca_certificates"):
        certificates.parse_ca_certificate(reader, where, raw)
    for where, raw in reader.records(data.get("plugins"), "plugins"):
        plugins.parse_plugin(reader, where, raw, None)
    for where, raw in reader.records(data.get("mtls_auth_credentials"), "mtls_auth_credentials"):
        consumers.parse_credential(reader, where, raw, None)

    reader.check_unique_ids()
    for part in (services, routes, plugins, consumers, certificates):
        part.check_unique(reader)
    for part in (routes, plugins, consumers, certificates):
        part.resolve(reader)
    reader.raise_if_problems()
    return Declarative(services=services.build(reader), routes=routes.build(reader),
                       plugins=plugins.build(reader), certificates=certificates.build(reader),
                       ca_certificates=certificates.build_ca_certificates(reader),
                       consumers=consumers.build(reader), source=source)


def _read_format_version(reader: Reader, data: dict) -> None:
    version = data.get("_format_version")
    expected = '"1.1", "2.1" or "3.0"'
    if version is None:
        reader.err("_format_version", f"required field missing (expected {expected})")
    elif not isinstance(version, str):
        hint = f' (quote it: "{version}")' if isinstance(version, (int, float)) and not isinstance(version, bool) else ""
        reader.err("_format_version", f"expected a string, got {typename(version)} {show(version)}{hint}")
    elif version not in FORMAT_VERSIONS:
        reader.err("_format_version", f"unsupported value {show(version)} (expected {expected})")
    else:
        reader.format_version = version


def _check_top_level(reader: Reader, data: dict) -> None:
    for key in data:
        if key in _TOP_LEVEL or key in ("_format_version", "_transform", "_comment", "_ignore"):
            continue
        if key in _TOOL_TOP_LEVEL:
            _log.info("%s: %s is %s's own metadata; ignored", reader.source, key, _TOOL_TOP_LEVEL[key])
            continue
        if key in _KONG_TOP_LEVEL:
            reader.err(str(key), "entity type not supported by purekong")
        else:
            reader.err(str(key), "unknown top-level key")
    if data.get("_transform") is not None and not isinstance(data["_transform"], bool):
        reader.err("_transform", f"expected a boolean, got {typename(data['_transform'])}")
