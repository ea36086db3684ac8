"""``kong.service.request`` (edits to the proxied request) and ``kong.service.response``."""

from __future__ import annotations

from urllib.parse import quote

from ._errors import LuaError
from ._headers import add_header, check_name, get_first, remove, set_header, to_multi_dict
from ._phases import Phase
from ._registry import pdk_function
from ._request import split_target

REWRITE_ACCESS_BALANCER = Phase.rewrite | Phase.access | Phase.balancer
ACCESS = Phase.access | Phase.rewrite
SERVICE_RESPONSE = Phase.response | Phase.header_filter | Phase.body_filter | Phase.log


@pdk_function("kong.service.request.set_header", REWRITE_ACCESS_BALANCER)
def set_header_(ctx, name, value):
    ctx.upstream.headers = set_header(ctx.upstream.headers, check_name(name), value)
    return None, None


@pdk_function("kong.service.request.add_header", REWRITE_ACCESS_BALANCER)
def add_header_(ctx, name, value):
    ctx.upstream.headers = add_header(ctx.upstream.headers, check_name(name), value)
    return None, None


@pdk_function("kong.service.request.clear_header", REWRITE_ACCESS_BALANCER)
def clear_header(ctx, name):
    ctx.upstream.headers = remove(ctx.upstream.headers, check_name(name))
    return None, None


@pdk_function("kong.service.request.set_headers", REWRITE_ACCESS_BALANCER)
def set_headers(ctx, headers):
    if not isinstance(headers, dict):
        raise LuaError("headers must be a table")
    for name, value in headers.items():
        ctx.upstream.headers = set_header(ctx.upstream.headers, check_name(name), value)
    return None, None


@pdk_function("kong.service.request.set_path", ACCESS)
def set_path(ctx, path):
    if not isinstance(path, str):
        raise LuaError("path must be a string")
    if not path.startswith("/"):
        raise LuaError("path must start with /")
    query = split_target(ctx.upstream.target)[1]
    ctx.upstream.target = path + ("?" + query if query else "")
    return None, None


@pdk_function("kong.service.request.set_raw_query", ACCESS)
def set_raw_query(ctx, query):
    if not isinstance(query, str):
        raise LuaError("query must be a string")
    path = split_target(ctx.upstream.target)[0]
    ctx.upstream.target = path + ("?" + query if query else "")
    return None, None


@pdk_function("kong.service.request.set_query", ACCESS)
def set_query(ctx, args):
    if not isinstance(args, dict):
        raise LuaError("args must be a table")
    parts = []
    for name in sorted(args):  # Kong encodes in sorted key order
        values = args[name]
        for v in values if isinstance(values, list) else [values]:
            if v is True:
                parts.append(quote(str(name), safe=""))
            else:
                parts.append(f"{quote(str(name), safe='')}={quote(str(v), safe='')}")
    return set_raw_query(ctx, "&".join(parts))


@pdk_function("kong.service.request.set_method", ACCESS)
def set_method(ctx, method):
    if not isinstance(method, str):
        raise LuaError("method must be a string")
    ctx.upstream.method = method.upper()
    return None, None


@pdk_function("kong.service.request.set_scheme", ACCESS)
def set_scheme(ctx, scheme):
    if scheme not in ("http", "https"):
        raise LuaError(f"invalid scheme: {scheme}")
    ctx.upstream.scheme = scheme
    return None, None


@pdk_function("kong.service.request.set_raw_body", REWRITE_ACCESS_BALANCER)
def set_raw_body(ctx, body):
    if isinstance(body, str):
        body = body.encode("utf-8")
    if not isinstance(body, bytes):
        raise LuaError("body must be a string")
    ctx.upstream.body = body
    return None, None


@pdk_function("kong.service.request.enable_buffering", ACCESS)
def enable_buffering(ctx):
    # purekong always buffers the upstream response; nothing to switch on.
    return None, None


def _upstream(ctx):
    return ctx.upstream_response


@pdk_function("kong.service.response.get_status", SERVICE_RESPONSE)
def get_status(ctx):
    r = _upstream(ctx)
    return (r.status if r else None), None


@pdk_function("kong.service.response.get_headers", SERVICE_RESPONSE)
def get_headers(ctx, max_headers=None):
    r = _upstream(ctx)
    return (to_multi_dict(r.headers) if r else None), None


@pdk_function("kong.service.response.get_header", SERVICE_RESPONSE)
def get_header(ctx, name):
    if not isinstance(name, str):
        raise LuaError("header name must be a string")
    r = _upstream(ctx)
    return (get_first(r.headers, name) if r else None), None


@pdk_function("kong.service.response.get_raw_body", SERVICE_RESPONSE)
def get_raw_body(ctx):
    r = _upstream(ctx)
    return (r.body if r else None), None
