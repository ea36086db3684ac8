"""Plugins (``kong/db/schema/entities/plugins.lua``): a plugin instance and
its scope, global or on a service, a route and/or a consumer (by nesting or
by reference).  Kong allows one instance of a plugin per scope."""

from __future__ import annotations

from ._declarative_report import Entry, Reader, cache_key, empty, show, typename
from ._declarative_syntax import KONG_PROTOCOLS
from ._model import PluginEntity

_PLUGIN_FIELDS = {"id", "name", "instance_name", "config", "enabled", "service", "route", "consumer", "protocols"}
#: Kong fields purekong does not implement, accepted at their default only.
_PLUGIN_DEFAULTS_ONLY = {"consumer_group": empty, "ordering": empty}
_PLUGIN_DEFAULT_PROTOCOLS: tuple[str, ...] = ("grpc", "grpcs", "http", "https")
#: The reference a nested plugin gets from its parent's kind.
_PARENT_KEY = {"services": "service", "routes": "route", "consumers": "consumer"}


def parse_plugin(reader: Reader, where: str, raw: dict, parent: Entry | None) -> None:
    rec = reader.new("plugins", where, raw, "name", _PLUGIN_FIELDS, _PLUGIN_DEFAULTS_ONLY, parent=parent)
    v = rec.values
    v["name"] = reader.string(rec, "name", required=True)
    v["instance_name"] = reader.name(rec, "instance_name")
    child_key = _PARENT_KEY[parent.kind] if parent is not None else None
    for ref in ("service", "route", "consumer"):
        if ref == child_key:
            if raw.get(ref) is not None:
                reader.err(rec.at(ref), f"must not be set on a plugin nested under a {ref}")
            v[f"{ref}_ref"] = None
        else:
            v[f"{ref}_ref"] = reader.reference(rec, ref)
    if v["instance_name"] is not None:
        reader.set_id(rec, v["instance_name"])
    else:
        parent_id = parent.values["id"] if parent is not None and parent.stable_id else None
        key = cache_key("plugins", raw, ("name", "route", "service", "consumer", "consumer_group"),
                        child_key, parent_id)
        reader.set_id(rec, key)
    config = raw.get("config")
    if config is None:
        config = {}
    elif not isinstance(config, dict):
        reader.err(rec.at("config"), f"expected an object, got {typename(config)} {show(config)}")
        config = {}
    v["config"] = config
    v["enabled"] = reader.boolean(rec, "enabled", True)
    protocols = _PLUGIN_DEFAULT_PROTOCOLS
    items = reader.strings(rec, "protocols")
    if items is not None:
        good = []
        for w, protocol in items:
            if protocol not in KONG_PROTOCOLS:
                reader.err(w, f"invalid protocol {show(protocol)}")
            elif protocol not in good:
                good.append(protocol)
        protocols = tuple(good)
    v["protocols"] = protocols


def check_unique(reader: Reader) -> None:
    reader.check_unique("plugins", "instance_name", "instance_name")


def resolve(reader: Reader) -> None:
    for rec in reader.entries["plugins"]:
        for ref, kind, key_field in (("service", "services", "name"), ("route", "routes", "name"),
                                     ("consumer", "consumers", "username")):
            if rec.parent is not None and rec.parent.kind == kind:
                rec.values[ref] = rec.parent.values["id"]
            else:
                rec.values[ref] = reader.resolve_one(rec, ref, kind, key_field, ref)
    # cache_key uniqueness (plugins.lua): one instance of a plugin per
    # (route, service, consumer) combination.
    scopes: dict[tuple, Entry] = {}
    for rec in reader.entries["plugins"]:
        v = rec.values
        if v["name"] is None:
            continue
        scope = (v["name"], v.get("route"), v.get("service"), v.get("consumer"))
        if scope in scopes:
            reader.err(rec.where, f"plugin {show(v['name'])} is already configured for the same "
                                  f"service, route and consumer (by {scopes[scope].where})")
        else:
            scopes[scope] = rec


def build(reader: Reader) -> tuple[PluginEntity, ...]:
    return tuple(
        PluginEntity(**r.pick("id", "name", "config", "enabled", "service", "route", "consumer",
                              "protocols", "instance_name"), where=r.where)
        for r in reader.entries["plugins"])
