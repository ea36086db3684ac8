"""Plugin config from Kong's schema DSL: defaults filled, basic validation.

``Schema`` is a list of one-key dicts, ``({"message": {"type": "string",
"default": "hi"}},)``.  As in Kong's stored config, a field with no value and
no default is present as ``None`` (``ngx.null``), and a record with no value is
built from its own fields' defaults.  Messages follow Kong's
(``schema violation (config.<field>: <reason>)``).

What a Kong Python-PDK plugin receives is :func:`remove_nulls` of that: Kong in
DB-less mode strips the nulls before the configuration reaches the plugin
server, and plugins test ``'field' in self.config`` (Kong's own py-hello does).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

_TYPES: dict[str, tuple[str, tuple[type, ...]]] = {
    "string": ("a string", (str,)),
    "number": ("a number", (int, float)),
    "integer": ("an integer", (int,)),
    "boolean": ("a boolean", (bool,)),
    "array": ("an array", (list, tuple)),
    "set": ("a set", (list, tuple)),
    "map": ("a map", (dict,)),
    "record": ("a record", (dict,)),
}


class SchemaViolation(ValueError):
    pass


def _fields(schema: Iterable[Any] | None) -> list[tuple[str, dict]]:
    out = []
    for entry in schema or ():
        if not isinstance(entry, dict) or len(entry) != 1:
            raise SchemaViolation(f"schema entries must be one-key dicts, got {entry!r}")
        ((name, spec),) = entry.items()
        out.append((name, spec or {}))
    return out


def fill_config(schema: Iterable[Any] | None, config: dict | None, *, where: str = "config") -> dict[str, Any]:
    """A copy of ``config`` with every schema field present; raises SchemaViolation."""
    config = dict(config or {})
    fields = _fields(schema)
    known = {name for name, _ in fields}
    for key in config:
        if key not in known:
            raise SchemaViolation(f"schema violation ({where}.{key}: unknown field)")
    out: dict[str, Any] = {}
    for name, spec in fields:
        value = config.get(name)
        path = f"{where}.{name}"
        if value is None:
            if "default" in spec:
                value = copy.deepcopy(spec["default"])
            elif spec.get("type") == "record":
                value = fill_config(spec.get("fields"), {}, where=path)
            elif spec.get("required"):
                raise SchemaViolation(f"schema violation ({path}: required field missing)")
        elif spec.get("type") == "record" and isinstance(value, dict):
            value = fill_config(spec.get("fields"), value, where=path)
        if value is not None:
            _check(path, spec, value)
        out[name] = value
    return out


def remove_nulls(value: Any) -> Any:
    """``value`` without its ``None`` entries, at every depth (Kong's remove_nulls)."""
    if isinstance(value, dict):
        return {k: remove_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [remove_nulls(v) for v in value if v is not None]
    return value


def _check(path: str, spec: dict, value: Any) -> None:
    kind = spec.get("type")
    if kind in _TYPES:
        label, types = _TYPES[kind]
        ok = isinstance(value, types) and not (isinstance(value, bool) and kind != "boolean")
        if kind == "number" and isinstance(value, bool):
            ok = False
        if not ok:
            raise SchemaViolation(f"schema violation ({path}: expected {label})")
    one_of = spec.get("one_of")
    if one_of is not None and value not in one_of:
        raise SchemaViolation(
            f"schema violation ({path}: expected one of: {', '.join(map(str, one_of))})"
        )
