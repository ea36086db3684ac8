"""``kong.log``: log lines, ``serialize`` and ``set_serialize_value``."""

from __future__ import annotations

import copy
import json
import logging
import time

from ._errors import LuaError
from ._phases import Phase
from ._registry import pdk_function
from ._request import host_of, parse_query, split_target

PHASES_WITH_CTX = (
    Phase.rewrite | Phase.access | Phase.header_filter | Phase.response | Phase.body_filter | Phase.log
)

_LEVELS = {
    "emerg": logging.CRITICAL,
    "alert": logging.CRITICAL,
    "crit": logging.CRITICAL,
    "err": logging.ERROR,
    "warn": logging.WARNING,
    "notice": logging.INFO,
    "info": logging.INFO,
    "debug": logging.DEBUG,
}


def _emit(ctx, level: int, args) -> None:
    # Like ngx.log: arguments are concatenated with no separator.
    message = "".join(a if isinstance(a, str) else str(a) for a in args)
    ctx.logger.log(level, "[%s] %s", ctx.plugin_name or "kong", message)


def _make_level(level_name: str):
    def log_at(ctx, *args):
        _emit(ctx, _LEVELS[level_name], args)
        return None, None

    log_at.__name__ = level_name
    return log_at


for _name in _LEVELS:
    pdk_function(f"kong.log.{_name}")(_make_level(_name))
# kong.log(...) itself logs at notice level.
pdk_function("kong.log")(_make_level("notice"))


@pdk_function("kong.log.deprecation")
def deprecation(ctx, *args):
    _emit(ctx, logging.WARNING, args)
    return None, None


def _lua_table(multi: dict) -> dict:
    """A dict-of-lists back in Lua's shape: one value -> string, a flag -> true."""
    out = {}
    for k, values in multi.items():
        out[k] = True if not values else values[0] if len(values) == 1 else list(values)
    return out


def build_tls_info(ctx) -> dict | None:
    tls = ctx.conn.tls
    if not tls.is_tls:  # plain HTTP: no tls field at all, override ignored
        return None
    return {
        "version": tls.version,
        "cipher": tls.cipher,
        "client_verify": ctx.client_verify_override or tls.client_verify,
    }


def build_serialized(ctx) -> dict:
    """Kong's ``kong.log.serialize()`` table for an HTTP request."""
    req = ctx.request
    path_query = req.target if req else "/"
    scheme = "https" if ctx.conn.tls.is_tls else "http"
    headers: dict = {}
    for n, v in req.headers if req else []:
        headers.setdefault(n.lower(), []).append(v)
    request = {
        "uri": path_query,
        "url": f"{scheme}://{host_of(ctx)}:{ctx.conn.server_port}{path_query}",
        "querystring": _lua_table(parse_query(split_target(path_query)[1])),
        "method": req.method if req else "GET",
        "headers": _lua_table(headers),
        # $request_length (line, headers, body) when the server measured it.
        "size": ctx.request_size if ctx.request_size is not None else (len(req.body) if req else 0),
    }
    tls = build_tls_info(ctx)
    if tls is not None:
        request["tls"] = tls
    response = ctx.response
    resp_headers: dict = {}
    for n, v in response.headers if response else []:
        resp_headers.setdefault(n.lower(), []).append(v)
    root = {
        "request": request,
        "upstream_uri": ctx.upstream.target,
        "response": {
            "status": response.status if response else 200,
            "headers": _lua_table(resp_headers),
            "size": response.size if response else 0,
        },
        "latencies": {**(ctx.latencies or {"kong": 0, "proxy": -1, "receive": 0}),
                      "request": round((time.time() - ctx.started_at) * 1000)},
        "route": copy.deepcopy(req.route) if req and req.route else None,
        "service": copy.deepcopy(req.service) if req and req.service else None,
        "consumer": copy.deepcopy(ctx.consumer),
        "authenticated_entity": _authenticated_entity(ctx),
        "client_ip": ctx.conn.client_ip,
        "started_at": int(ctx.started_at * 1000),
        "source": ctx.source,
    }
    if ctx.upstream_response is not None:
        root["upstream_status"] = str(ctx.upstream_response.status)
    # Lua tables drop nil fields; so does cjson.
    root = {k: v for k, v in root.items() if v is not None}
    for path, value, mode in ctx.serialize_values:
        _set_value(root, path, value, mode)
    return root


def _authenticated_entity(ctx) -> dict | None:
    cred = ctx.credential
    if not cred:
        return None
    entity = {"id": cred.get("id"), "consumer_id": cred.get("consumer_id")}
    return {k: v for k, v in entity.items() if v is not None}


def _set_value(root: dict, path: list[str], value, mode: str) -> None:
    node = root
    for key in path[:-1]:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    last = path[-1]
    exists = node.get(last) is not None
    if mode == "set" or (mode == "add" and not exists) or (mode == "replace" and exists):
        node[last] = copy.deepcopy(value)


def _valid_value(value, seen: set[int]) -> bool:
    if value is None or isinstance(value, (str, int, float, bool)):
        return True
    if isinstance(value, (dict, list, tuple)):
        if id(value) in seen:
            return False
        seen.add(id(value))
        items = list(value.items()) if isinstance(value, dict) else list(enumerate(value))
        ok = all(_valid_value(k, seen) and _valid_value(v, seen) for k, v in items)
        seen.discard(id(value))  # only cycles are invalid, not shared sub-tables
        return ok
    return False


@pdk_function("kong.log.serialize", Phase.log)
def serialize(ctx, *, as_dict: bool = False):
    """JSON text, as the Python PDK returns it; ``as_dict=True`` (purekong) the dict."""
    data = build_serialized(ctx)
    if as_dict:
        return data, None
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False), None


@pdk_function("kong.log.set_serialize_value", PHASES_WITH_CTX)
def set_serialize_value(ctx, key, value, options=None):
    options = options or {}
    mode = options.get("mode", "set") if isinstance(options, dict) else "set"
    if not isinstance(key, str):
        raise LuaError("key must be a string")
    if mode not in ("set", "add", "replace"):
        raise LuaError("mode must be 'set', 'add' or 'replace'")
    if not _valid_value(value, set()):
        raise LuaError(
            "value must be a number, string, boolean or a non-self-referencing "
            "table containing numbers, string and booleans"
        )
    ctx.serialize_values.append((key.split("."), value, mode))
    return None, None

