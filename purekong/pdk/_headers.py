"""Case-insensitive operations on ordered (name, value) header lists."""

from __future__ import annotations

from ._errors import LuaError
from ._types import Headers


def norm_name(name: str) -> str:
    # nginx's $http_<name> lookup: case-insensitive, "_" matches "-".
    return name.lower().replace("_", "-")


def get_first(headers: Headers, name: str) -> str | None:
    key = norm_name(name)
    for n, v in headers:
        if norm_name(n) == key:
            return v
    return None


def to_multi_dict(headers: Headers, limit: int | None = None) -> dict[str, list[str]]:
    """Kong's Python-PDK shape: lower-case names, every value a list."""
    out: dict[str, list[str]] = {}
    for n, v in headers:
        key = n.lower()
        if key not in out and limit is not None and len(out) >= limit:
            continue
        out.setdefault(key, []).append(v)
    return out


def remove(headers: Headers, name: str) -> Headers:
    key = name.lower()
    return [(n, v) for n, v in headers if n.lower() != key]


def values_of(name: str, value: object) -> list[str]:
    """Kong's header value validation: a string, number, boolean or list of strings."""
    if isinstance(value, (list, tuple)):
        if not value:
            raise LuaError(f'empty table is not a valid header value for "{name}"')
        return [_one(name, v) for v in value]
    return [_one(name, value)]


def _one(name: str, value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return _lua_tostring(value)
    if isinstance(value, bytes):
        return value.decode("latin-1")
    raise LuaError(
        f'invalid header value for "{name}": got {lua_type(value)}, '
        "expected array of string, string, number or boolean"
    )


def check_name(name: object) -> str:
    if isinstance(name, bytes):
        name = name.decode("latin-1")
    if not isinstance(name, str):
        raise LuaError(f'invalid header name "{name}": got {lua_type(name)}, expected string')
    return name


def set_header(headers: Headers, name: str, value: object) -> Headers:
    return remove(headers, name) + [(name, v) for v in values_of(name, value)]


def add_header(headers: Headers, name: str, value: object) -> Headers:
    return headers + [(name, v) for v in values_of(name, value)]


def lua_type(value: object) -> str:
    """The Lua type name Kong's messages use for a Python value."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, (str, bytes)):
        return "string"
    if isinstance(value, (list, tuple, dict)):
        return "table"
    if callable(value):
        return "function"
    return "userdata"


def _lua_tostring(value: str | int | float) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def replay(headers: Headers, ops: list[tuple[str, str, object]]) -> Headers:
    """Apply recorded ("set"|"add"|"clear", name, value) edits to ``headers``."""
    for op, name, value in ops:
        if op == "set":
            headers = set_header(headers, name, value)
        elif op == "add":
            headers = add_header(headers, name, value)
        else:
            headers = remove(headers, name)
    return headers
