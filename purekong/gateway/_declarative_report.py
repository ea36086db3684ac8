"""What every part of the declarative parser shares: where an entry is, how a
problem is reported, the typed field getters, and Kong's ids.

One :class:`Reader` reads one configuration.  It never stops at the first
problem: each getter reports a bad value (naming the entry and the field) and
returns a default, so the user gets *every* problem in one
:class:`ConfigError`.  Where a problem is, and how it is written, is decided
here only:

* :func:`field_path`, :func:`item_path` and :func:`labelled_path` spell an
  entry's path (``routes[2] (name "api").paths[0]``);
* :meth:`Reader.err` writes ``path: message``;
* :class:`ConfigError` puts the lines under one heading naming the source.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: Entity kinds, in the order their entries are checked.
KINDS = ("services", "routes", "plugins", "certificates", "snis", "ca_certificates", "consumers",
         "mtls_auth_credentials")

#: Accepted on every entity and without effect in purekong.
IGNORED_FIELDS = frozenset({"tags", "created_at", "updated_at", "_comment", "_ignore"})

#: Kong entity types purekong does not implement, nested under a parent.
KONG_NESTED = {
    "consumers": {"acls", "keyauth_credentials", "basicauth_credentials", "hmacauth_credentials",
                  "jwt_secrets", "oauth2_credentials", "consumer_groups"},
    "services": {"filter_chains"},
    "routes": {"filter_chains"},
}
_KEY_WORDING = {"name": "named", "username": "with username"}
#: The fields a reference object may name its target by.
_REFERENCE_KEYS = ("id", "name", "username")

_NAME_RE = re.compile(r"^[A-Za-z0-9.\-_~\u0080-\U0010ffff]+$")  # typedefs.utf8_name


class ConfigError(ValueError):
    """An invalid declarative configuration; ``problems`` lists them all."""

    def __init__(self, problems: list[str], source: str = "<config>") -> None:
        self.problems = list(problems)
        self.source = source
        count = len(self.problems)
        head = f"{source}: invalid declarative configuration ({count} problem{'s' if count != 1 else ''})"
        super().__init__("\n  ".join([head + ":", *self.problems]))


# --------------------------------------------------------------------------
# Paths and values in messages


def field_path(where: str, name: str) -> str:
    return f"{where}.{name}"


def item_path(where: str, index: int) -> str:
    return f"{where}[{index}]"


def labelled_path(where: str, label_field: str, label: str) -> str:
    """An entry with its endpoint key: ``services[0] (name "a")``."""
    return f"{where} ({label_field} {show(label)})"


def typename(value: Any) -> str:
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


def show(value: Any) -> str:
    """A value as it appears in messages: strings quoted, the rest as JSON."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def empty(value: Any) -> bool:
    """Kong's default for the fields purekong accepts only at their default."""
    return value is None or value == [] or value == {}


# --------------------------------------------------------------------------
# Ids, as Kong generates them (declarative_config.lua: generate_ids)

#: uuid.factory_v5("fd02801f-...") in declarative_config.lua; each entity
#: type gets its own namespace, v5(_ENTITIES, "<schema name>").
_ENTITIES_NS = uuid.UUID("fd02801f-0957-4a15-a55a-c8d9606f30b5")


def kong_uuid(entity: str, key: str) -> str:
    """Kong's deterministic id for an entity of type ``entity`` with ``key``.

    Checked against Kong/go-kong's kong/ids_test.go (which mirrors Kong):
    service "some.service.name" -> d9bee1f8-db6e-5a37-9281-fd4aca16dc00.
    """
    return str(uuid.uuid5(uuid.uuid5(_ENTITIES_NS, entity), key))


_MISSING: Any = object()


def cache_key(entity: str, item: dict, fields: tuple[str, ...], child_key: str | None,
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


def looks_like_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------
# Entries and the reader


@dataclass
class Entry:
    """One entity of the configuration on its way to a model object."""

    kind: str  # "services", "routes", ...
    where: str  # 'services[0] (name "a")'
    raw: dict
    values: dict = field(default_factory=dict)
    #: The id is Kong's (explicit or UUIDv5): children may build their own
    #: deterministic ids from it.
    stable_id: bool = False
    parent: Entry | None = None

    def at(self, name: str) -> str:
        """The path of one of this entry's fields."""
        return field_path(self.where, name)

    def pick(self, *names: str) -> dict:
        """Some parsed values, by name (to build a model object)."""
        return {n: self.values[n] for n in names}


class Reader:
    """The state of one parse: the entries read so far and the problems found."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[str] = []
        self.entries: dict[str, list[Entry]] = {k: [] for k in KINDS}
        self.format_version = "3.0"

    # -- reporting --------------------------------------------------------

    def err(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def raise_if_problems(self) -> None:
        if self.problems:
            raise ConfigError(self.problems, self.source)

    # -- typed getters: report and return None on a bad value -------------

    def string(self, rec: Entry, name: str, *, required: bool = False) -> str | None:
        value = rec.raw.get(name)
        if value is None:
            if required:
                self.err(rec.at(name), "required field missing")
            return None
        if not isinstance(value, str):
            self.err(rec.at(name), f"expected a string, got {typename(value)} {show(value)}")
            return None
        return value

    def boolean(self, rec: Entry, name: str, default: bool) -> bool:
        value = rec.raw.get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.err(rec.at(name), f"expected a boolean, got {typename(value)} {show(value)}")
            return default
        return value

    def integer(self, rec: Entry, name: str, default: int | None, low: int, high: int) -> int | None:
        value = rec.raw.get(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.err(rec.at(name), f"expected an integer, got {typename(value)} {show(value)}")
            return default
        if not low <= value <= high:
            self.err(rec.at(name), f"value should be between {low} and {high}")
            return default
        return value

    def strings(self, rec: Entry, name: str) -> list[tuple[str, str]] | None:
        """An array of strings as (where, value) pairs; None when absent."""
        value = rec.raw.get(name)
        if value is None:
            return None
        if not isinstance(value, list):
            self.err(rec.at(name), f"expected an array, got {typename(value)} {show(value)}")
            return None
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, str):
                self.err(item_path(rec.at(name), i), f"expected a string, got {typename(item)} {show(item)}")
            else:
                out.append((item_path(rec.at(name), i), item))
        return out

    def records(self, value: Any, where: str) -> list[tuple[str, dict]]:
        """An array of objects as (where, object) pairs."""
        if value is None:
            return []
        if not isinstance(value, list):
            self.err(where, f"expected an array, got {typename(value)} {show(value)}")
            return []
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                self.err(item_path(where, i), f"expected an object, got {typename(item)} {show(item)}")
            else:
                out.append((item_path(where, i), item))
        return out

    def name(self, rec: Entry, field_name: str = "name") -> str | None:
        value = self.string(rec, field_name)
        if value is not None and not _NAME_RE.match(value):
            self.err(rec.at(field_name),
                     f'invalid value {show(value)}: the only accepted ascii characters are '
                     'alphanumerics or ".", "-", "_" and "~"')
            return None
        return value

    def reference(self, rec: Entry, name: str) -> Any:
        """A foreign key as written: a string (endpoint key or id), or an
        object with one of ``id``, ``name``, ``username`` (decK and Konnect
        exports write ``service: {name: ...}``)."""
        value = rec.raw.get(name)
        if value is None or isinstance(value, str):
            return value
        if (isinstance(value, dict) and len(value) == 1 and set(value) <= set(_REFERENCE_KEYS)
                and isinstance(next(iter(value.values())), str)):
            return value
        self.err(rec.at(name), f"expected a name, an id, {{id: ...}} or {{name: ...}}, got {typename(value)} {show(value)}")
        return None

    # -- entries --------------------------------------------------------------

    def new(self, kind: str, where: str, raw: dict, label_field: str | None,
            allowed: set[str], defaults_only: Mapping[str, Callable[[Any], bool]],
            parent: Entry | None = None) -> Entry:
        """Start an entry: check its field names (unknown, unsupported,
        accepted only at Kong's default) and its tags."""
        label = raw.get(label_field) if label_field else None
        if label_field and isinstance(label, str):
            where = labelled_path(where, label_field, label)
        rec = Entry(kind, where, raw, parent=parent)
        for key in raw:
            if not isinstance(key, str):
                self.err(where, f"field names must be strings, got {typename(key)} {show(key)}")
            elif key in allowed or key in IGNORED_FIELDS:
                continue
            elif key in defaults_only:
                if not defaults_only[key](raw[key]):
                    self.err(rec.at(key), "not supported by purekong (only Kong's default value is accepted)")
            elif key in KONG_NESTED.get(kind, ()):
                self.err(rec.at(key), "entity type not supported by purekong")
            else:
                self.err(rec.at(key), "unknown field")
        if "tags" in raw:
            self.strings(rec, "tags")
        self.entries[kind].append(rec)
        return rec

    def set_id(self, rec: Entry, key: str | None) -> None:
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
            self.err(rec.at("id"), f"expected a UUID, got {show(value)}")
        if key is not None:
            rec.values["id"] = kong_uuid(rec.kind, key)
            rec.stable_id = True
        else:
            rec.values["id"] = str(uuid.uuid4())

    # -- uniqueness and references ------------------------------------------

    def check_unique_ids(self) -> None:
        # Two generated ids collide only when their keys do (same name, same
        # plugin scope, ...): the checks on those keys say it better.
        for kind in self.entries:
            seen: dict[str, Entry] = {}
            for rec in self.entries[kind]:
                value = rec.values["id"]
                other = seen.setdefault(value, rec)
                if other is not rec and (rec.raw.get("id") is not None or other.raw.get("id") is not None):
                    self.err(rec.where, f"duplicate id {show(value)} (also used by {other.where})")

    def check_unique(self, kind: str, field_name: str, label: str) -> None:
        """No two entries of ``kind`` share a value of ``field_name``."""
        seen: dict[Any, Entry] = {}
        for rec in self.entries[kind]:
            value = rec.values.get(field_name)
            if value is None:
                continue
            if value in seen:
                self.err(rec.at(field_name), f"duplicate {label} {show(value)} (also used by {seen[value].where})")
            else:
                seen[value] = rec

    def find(self, kind: str, ref: Any, key_field: str | None) -> Entry | None:
        """Kong's find_entity: by endpoint key first, then by id."""
        if isinstance(ref, dict):
            ((field_name, ref),) = ref.items()
            if field_name == "id":
                key_field = None
            elif field_name != key_field:
                return None
        if key_field is not None:
            for rec in self.entries[kind]:
                if rec.values.get(key_field) == ref:
                    return rec
        try:
            wanted = str(uuid.UUID(ref))
        except ValueError:
            return None
        return next((rec for rec in self.entries[kind] if rec.values.get("id") == wanted), None)

    def resolve_one(self, rec: Entry, field_name: str, kind: str, key_field: str | None, what: str) -> str | None:
        """The id of the entry ``rec``'s ``<field_name>_ref`` names, or None
        (reported when the reference names nothing)."""
        ref = rec.values.get(f"{field_name}_ref")
        if ref is None:
            return None
        target = self.find(kind, ref, key_field)
        if target is None:
            by_id = isinstance(ref, dict) and "id" in ref
            shown = next(iter(ref.values())) if isinstance(ref, dict) else ref
            if by_id or key_field is None or (not isinstance(ref, dict) and looks_like_uuid(shown)):
                self.err(rec.at(field_name), f"no {what} with id {show(shown)}")
            else:
                self.err(rec.at(field_name), f"no {what} {_KEY_WORDING[key_field]} {show(shown)}")
            return None
        target_id: str = target.values["id"]
        return target_id

    def entry_with_id(self, kind: str, entity_id: str | None) -> Entry | None:
        return next((e for e in self.entries[kind] if e.values["id"] == entity_id), None)
