"""``kong.request``: the client's request as received (read-only)."""

from __future__ import annotations

import json
import posixpath
from urllib.parse import unquote, unquote_to_bytes

from purekong._hostport import split_host_port

from ._errors import LuaError
from ._headers import get_first, to_multi_dict
from ._phases import Phase, phase_mask
from ._registry import pdk_function

REQUEST = phase_mask("request")
BEFORE_CONTENT = Phase.rewrite | Phase.access | Phase.response | Phase.error | Phase.admin_api


def split_target(target: str) -> tuple[str, str]:
    path, _, query = target.partition("?")
    return path, query


def host_of(ctx) -> str:
    # nginx's $host: the Host header without its port, lower-cased; else the
    # server name from TLS SNI.
    host = get_first(ctx.request.headers, "host") if ctx.request else None
    if not host:
        return (ctx.conn.tls.server_name or "").lower()
    return split_host_port(host)[0].lower()  # an IPv6 literal keeps its brackets


def parse_query(query: str, max_args: int | None = None) -> dict:
    """``ngx.req.get_uri_args`` as the Python PDK receives it: values in lists.

    ``a=1&a=2`` -> ``["1", "2"]``; a bare ``flag`` (Lua ``true``) -> ``[]``.
    """
    out: dict = {}
    count = 0
    for part in query.split("&"):
        if not part:
            continue
        if max_args is not None and count >= max_args:
            break
        count += 1
        name, eq, value = part.partition("=")
        name = unquote(name.replace("+", " "))
        if not name:
            continue
        values = out.setdefault(name, [])
        if eq:
            values.append(unquote(value.replace("+", " ")))
        # a flag adds nothing: Lua's `true` becomes an empty list.
    return out


def check_max(value, what: str) -> int:
    if value is None:
        return 100
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise LuaError(f"{what} must be a number")
    if value < 1:
        raise LuaError(f"{what} must be >= 1")
    if value > 1000:
        raise LuaError(f"{what} must be <= 1000")
    return int(value)


def _req(ctx):
    from ._types import Request

    return ctx.request or Request()


@pdk_function("kong.request.get_scheme", REQUEST)
def get_scheme(ctx):
    return ("https" if ctx.conn.tls.is_tls else "http"), None


@pdk_function("kong.request.get_host", REQUEST)
def get_host(ctx):
    return host_of(ctx), None


@pdk_function("kong.request.get_port", REQUEST)
def get_port(ctx):
    return ctx.conn.server_port, None


@pdk_function("kong.request.get_forwarded_scheme", REQUEST)
def get_forwarded_scheme(ctx):
    return get_scheme(ctx)


@pdk_function("kong.request.get_forwarded_host", REQUEST)
def get_forwarded_host(ctx):
    return host_of(ctx), None


@pdk_function("kong.request.get_forwarded_port", REQUEST)
def get_forwarded_port(ctx):
    return ctx.conn.server_port, None


@pdk_function("kong.request.get_http_version", REQUEST)
def get_http_version(ctx):
    v = float(_req(ctx).http_version)
    return (int(v) if v.is_integer() else v), None


@pdk_function("kong.request.get_method", REQUEST)
def get_method(ctx):
    return _req(ctx).method, None


@pdk_function("kong.request.get_raw_path", REQUEST)
def get_raw_path(ctx):
    return split_target(_req(ctx).target)[0], None


@pdk_function("kong.request.get_path", REQUEST)
def get_path(ctx):
    # Normalised: percent-decoded, dot segments and repeated slashes removed.
    raw = split_target(_req(ctx).target)[0]
    path = unquote_to_bytes(raw).decode("utf-8", "replace")
    norm = posixpath.normpath(path) if path else "/"
    if norm.startswith("//"):  # posixpath keeps a leading "//"
        norm = "/" + norm.lstrip("/")
    if path.endswith("/") and norm != "/":
        norm += "/"
    return norm, None


@pdk_function("kong.request.get_path_with_query", REQUEST)
def get_path_with_query(ctx):
    return _req(ctx).target, None


@pdk_function("kong.request.get_raw_query", REQUEST)
def get_raw_query(ctx):
    return split_target(_req(ctx).target)[1], None


@pdk_function("kong.request.get_query", REQUEST)
def get_query(ctx, max_args=None):
    limit = check_max(max_args, "max_args")
    return parse_query(split_target(_req(ctx).target)[1], limit), None


@pdk_function("kong.request.get_query_arg", REQUEST)
def get_query_arg(ctx, name):
    if not isinstance(name, str):
        raise LuaError("query argument name must be a string")
    args = parse_query(split_target(_req(ctx).target)[1])
    if name not in args:
        return None, None
    values = args[name]
    return (values[0] if values else True), None


@pdk_function("kong.request.get_header", REQUEST)
def get_header(ctx, name):
    if not isinstance(name, str):
        raise LuaError("header name must be a string")
    return get_first(_req(ctx).headers, name), None


@pdk_function("kong.request.get_headers", REQUEST)
def get_headers(ctx, max_headers=None):
    limit = check_max(max_headers, "max_headers")
    return to_multi_dict(_req(ctx).headers, limit), None


@pdk_function("kong.request.get_raw_body", BEFORE_CONTENT)
def get_raw_body(ctx):
    return bytes(_req(ctx).body), None


@pdk_function("kong.request.get_start_time", REQUEST)
def get_start_time(ctx):
    return int(ctx.started_at * 1000), None


def decode_body(body: bytes, content_type: str | None, max_args: int | None = None) -> tuple[object, str | None]:
    """A JSON or urlencoded body as Kong's ``get_body`` gives it: ``(value, err)``."""
    if not content_type:
        return None, "missing content type"
    mime = content_type.split(";", 1)[0].strip().lower()
    if mime == "application/json":
        try:
            return json.loads(body or b"null"), None
        except ValueError:
            return None, "invalid json body"
    if mime == "application/x-www-form-urlencoded":
        form = parse_query(body.decode("latin-1"), check_max(max_args, "max_args"))
        # a Lua table: one value a string, a flag true, repeats a list
        return {k: (True if not v else v[0] if len(v) == 1 else v) for k, v in form.items()}, None
    return None, f"unsupported content type '{content_type}'"


@pdk_function("kong.request.get_body", BEFORE_CONTENT)
def get_body(ctx, mimetype=None, max_args=None):
    """JSON or urlencoded bodies, parsed.  Kong returns a third value (the
    mimetype) that the Python PDK's bridge drops."""
    req = _req(ctx)
    return decode_body(req.body, mimetype or get_first(req.headers, "content-type"), max_args)


# purekong trusts no proxy (Kong's default trusted_ips is empty), so the
# client's X-Forwarded-Path/-Prefix are never believed, as in Kong.
@pdk_function("kong.request.get_forwarded_path", REQUEST)
def get_forwarded_path(ctx):
    return split_target(_req(ctx).target)[0], None


@pdk_function("kong.request.get_forwarded_prefix", REQUEST)
def get_forwarded_prefix(ctx):
    # nginx's $upstream_x_forwarded_prefix: the prefix the route stripped.
    return _req(ctx).forwarded_prefix, None


@pdk_function("kong.request.get_uri_captures", REQUEST)
def get_uri_captures(ctx):
    # purekong's router does not capture (routes are matched by the server).
    return {"unnamed": [], "named": {}}, None
