"""``kong.service.request`` (edits to the proxied request) and ``kong.service.response``."""

from __future__ import annotations

import uuid
from urllib.parse import quote

from ._errors import LuaError
from ._headers import add_header, check_name, get_first, lua_type, remove, set_header, to_multi_dict
from ._phases import Phase
from ._registry import pdk_function
from ._request import decode_body, split_target
from ._response import cjson_encode

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
    return set_raw_query(ctx, _form_encode(args))


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


# -- kong.service: where and how the request is proxied (kong/pdk/service.lua)

REWRITE_ACCESS_BALANCER_PREREAD = REWRITE_ACCESS_BALANCER | Phase.preread
_MAX_TIMEOUT = 2147483646


def _integer(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and int(value) == value


@pdk_function("kong.service.set_upstream", Phase.access)
def set_upstream(ctx, host):
    if not isinstance(host, str):
        raise LuaError("host must be a string")
    # purekong's configuration has no Upstream entities (see docs/pdk.md).
    return None, f"could not find an Upstream named '{host}'"


@pdk_function("kong.service.set_target", REWRITE_ACCESS_BALANCER_PREREAD)
def set_target(ctx, host, port):
    if not isinstance(host, str):
        raise LuaError("host must be a string")
    if not _integer(port):
        raise LuaError("port must be an integer")
    if port < 0 or port > 65535:
        raise LuaError(f"port must be an integer between 0 and 65535: given {port}")
    ctx.upstream.target_host, ctx.upstream.target_port = host, int(port)
    return None, None


@pdk_function("kong.service.set_retries", Phase.access)
def set_retries(ctx, retries):
    if not _integer(retries):
        raise LuaError("retries must be an integer")
    if retries < 0 or retries > 32767:
        # Kong's message says "port" here; kept as Kong has it.
        raise LuaError(f"port must be an integer between 0 and 32767: given {retries}")
    ctx.upstream.retries = int(retries)
    return None, None


@pdk_function("kong.service.set_timeouts", Phase.access)
def set_timeouts(ctx, connect_timeout, write_timeout, read_timeout):
    values = {"connect_timeout": connect_timeout, "write_timeout": write_timeout, "read_timeout": read_timeout}
    for name, value in values.items():
        if not _integer(value):
            raise LuaError(f"{name} must be an integer")
        if value < 1 or value > _MAX_TIMEOUT:
            raise LuaError(f"{name} must be an integer between 1 and {_MAX_TIMEOUT}: given {value}")
    up = ctx.upstream
    up.connect_timeout, up.write_timeout, up.read_timeout = int(connect_timeout), int(write_timeout), int(read_timeout)
    return None, None


@pdk_function("kong.service.set_tls_verify", REWRITE_ACCESS_BALANCER_PREREAD)
def set_tls_verify(ctx, on):
    if not isinstance(on, bool):
        raise LuaError("argument must be a boolean")
    ctx.upstream.tls_verify = on
    return True, None


@pdk_function("kong.service.set_tls_verify_depth", REWRITE_ACCESS_BALANCER_PREREAD)
def set_tls_verify_depth(ctx, depth):
    if not isinstance(depth, (int, float)) or isinstance(depth, bool):
        raise LuaError("argument must be a number")
    ctx.upstream.tls_verify_depth = int(depth)
    return True, None


@pdk_function("kong.service.request.disable_tls", Phase.preread | Phase.balancer)
def disable_tls(ctx):
    # Only reachable in balancer/preread, where Python plugins never run: the
    # phase check above is what a plugin sees, as in Kong.
    return None, "not available"


_FORM = "application/x-www-form-urlencoded"
_JSON = "application/json"
_MULTIPART = "multipart/form-data"


def _form_encode(args: dict) -> str:
    parts = []
    for name in sorted(args):  # lexicographic keys; a key's values keep their order
        values = args[name]
        for v in values if isinstance(values, list) else [values]:
            if v is True:
                parts.append(quote(str(name), safe=""))
            elif v is False:
                continue
            else:
                parts.append(f"{quote(str(name), safe='')}={quote(str(v), safe='')}")
    return "&".join(parts)


def _multipart_encode(args: dict, mime: str) -> tuple[str, str]:
    at = mime.find("boundary=")
    if at >= 0:
        boundary = mime[at + 9:]
        if boundary.startswith('"'):
            boundary = boundary[1:boundary.index('"', 1)]
    else:
        boundary = uuid.uuid4().hex
    out = []
    for name in sorted(args):
        if not isinstance(name, str):
            raise LuaError(f"invalid key {name!r}: got {lua_type(name)}, expected string")
        value = args[name]
        if not isinstance(value, (str, int, float, bool)):
            raise LuaError(f"invalid value {name!r}: got {lua_type(value)}, expected string, number or boolean")
        text = str(value).lower() if isinstance(value, bool) else str(value)
        out.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{text}\r\n')
    out.append(f"--{boundary}--\r\n")
    return "".join(out), f"{_MULTIPART}; boundary={boundary}"


@pdk_function("kong.service.request.set_body", ACCESS)
def set_body(ctx, args, mimetype=None):
    if not isinstance(args, dict):
        raise LuaError("args must be a table")
    if mimetype is not None and not isinstance(mimetype, str):
        raise LuaError("mime must be a string")
    mime = mimetype or get_first(ctx.upstream.headers, "content-type")
    if not mime:
        return None, "content type was neither explicitly given as an argument or received as a header"
    bare = mime.split(";", 1)[0]
    if bare == _FORM:
        body, content_type = _form_encode(args).encode("ascii"), mime
    elif bare == _JSON:
        body, content_type = cjson_encode(args), mime
    elif bare == _MULTIPART:
        text, content_type = _multipart_encode(args, mime)
        body = text.encode("utf-8")
    else:
        raise LuaError(f"unsupported content type {mime}")
    ctx.upstream.body = body
    ctx.upstream.headers = set_header(ctx.upstream.headers, "Content-Type", content_type)
    return True, None


@pdk_function("kong.service.response.get_body", SERVICE_RESPONSE)
def get_body(ctx, mimetype=None, max_args=None):
    r = _upstream(ctx)
    if r is None:
        return None, None
    return decode_body(r.body, mimetype or get_first(r.headers, "content-type"), max_args)
