"""``kong.response``: the response the client will get, and ``exit``/``error``."""

from __future__ import annotations

import json

from ._errors import LuaError
from ._headers import check_name, get_first, replay, set_header, to_multi_dict
from ._phases import Phase
from ._registry import pdk_function
from ._request import check_max
from ._types import Headers, Response

HEADER_BODY_LOG = (
    Phase.response | Phase.header_filter | Phase.body_filter | Phase.log | Phase.error | Phase.admin_api
)
REWRITE_ACCESS_HEADER = (
    Phase.rewrite | Phase.access | Phase.response | Phase.header_filter | Phase.error | Phase.admin_api
)

JSON_CONTENT_TYPE = "application/json; charset=utf-8"

# Kong's default messages (kong/tools/http.lua, the PDK's HTTP_MESSAGES):
# kong.response.error's bodies and the server's own error pages.
STATUS_MESSAGES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    408: "Request timeout",
    413: "Payload too large",
    494: "Request header or cookie too large",
    500: "An unexpected error occurred",
    502: "An invalid response was received from the upstream server",
    503: "The upstream server is currently unavailable",
    504: "The upstream server is timing out",
}


def default_message(status: int) -> str:
    """Kong's message for ``status`` (``{"message": ...}`` bodies)."""
    return STATUS_MESSAGES.get(status, f"The upstream server responded with {status}")


def cjson_encode(value) -> bytes:
    """JSON as lua-cjson writes it: compact, UTF-8, ``/`` escaped."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.replace("/", "\\/").encode("utf-8")


def _current_headers(ctx) -> Headers:
    """Headers as the client would get them now (edits before a response replayed)."""
    if ctx.response is not None:
        return ctx.response.headers
    return replay([], ctx.pending_response_ops)


def _edit(ctx, op: str, name: str, value=None) -> None:
    if ctx.response is None:
        # Validate now, apply when the response exists (Ctx.begin_response).
        if op != "clear":
            set_header([], name, value)
        ctx.pending_response_ops.append((op, name, value))
        return
    ctx.response.headers = replay(ctx.response.headers, [(op, name, value)])


def _check_status(status, low: int = 100, high: int = 599) -> int:
    if not isinstance(status, (int, float)) or isinstance(status, bool):
        raise LuaError("code must be a number")
    if status < low or status > high:
        raise LuaError(f"code must be a number between {low} and {high}")
    return int(status)


@pdk_function("kong.response.get_status", HEADER_BODY_LOG)
def get_status(ctx):
    return (ctx.response.status if ctx.response is not None else 200), None


@pdk_function("kong.response.get_header", HEADER_BODY_LOG)
def get_header(ctx, name):
    if not isinstance(name, str):
        raise LuaError("header name must be a string")
    return get_first(_current_headers(ctx), name), None


@pdk_function("kong.response.get_headers", HEADER_BODY_LOG)
def get_headers(ctx, max_headers=None):
    return to_multi_dict(_current_headers(ctx), check_max(max_headers, "max_headers")), None


@pdk_function("kong.response.get_source", HEADER_BODY_LOG)
def get_source(ctx):
    return ctx.source, None


@pdk_function("kong.response.set_status", REWRITE_ACCESS_HEADER)
def set_status(ctx, status):
    status = _check_status(status)
    if ctx.response is None:
        ctx.pending_status = status
    else:
        ctx.response.status = status
    return None, None


@pdk_function("kong.response.set_header", REWRITE_ACCESS_HEADER)
def set_header_(ctx, name, value):
    _edit(ctx, "set", check_name(name), value)
    return None, None


@pdk_function("kong.response.add_header", REWRITE_ACCESS_HEADER)
def add_header_(ctx, name, value):
    _edit(ctx, "add", check_name(name), value)
    return None, None


@pdk_function("kong.response.clear_header", REWRITE_ACCESS_HEADER)
def clear_header(ctx, name):
    _edit(ctx, "clear", check_name(name))
    return None, None


@pdk_function("kong.response.set_headers", REWRITE_ACCESS_HEADER)
def set_headers(ctx, headers):
    if not isinstance(headers, dict):
        raise LuaError("headers must be a table")
    for name, value in headers.items():
        _edit(ctx, "set", check_name(name), value)
    return None, None


def _finish(ctx, status: int, body: bytes, headers: dict | None, json_body: bool, source: str):
    new = _current_headers(ctx)
    ctx.pending_response_ops = []
    for name, value in (headers or {}).items():
        new = set_header(new, check_name(name), value)
    if json_body and get_first(new, "content-type") is None:
        new = new + [("Content-Type", JSON_CONTENT_TYPE)]
    ctx.pending_status = None
    ctx.response = ctx.exit_response = Response(status, new, body)
    ctx.source = source
    # Kong ends the request here; the plugin's next PDK call unwinds it.
    ctx.unwind_pending = True


@pdk_function("kong.response.exit", REWRITE_ACCESS_HEADER)
def exit_(ctx, status, body=None, headers=None):
    status = _check_status(status)
    if body is not None and not isinstance(body, (str, bytes, dict, list)):
        raise LuaError("body must be a nil, string or table")
    if headers is not None and not isinstance(headers, dict):
        raise LuaError("headers must be a nil or table")
    json_body = isinstance(body, (dict, list))
    if isinstance(body, (dict, list)):
        raw = cjson_encode(body)
    elif isinstance(body, str):
        raw = body.encode("utf-8")
    else:
        raw = body if isinstance(body, bytes) else b""
    _finish(ctx, status, raw, headers, json_body, "exit")
    return None, None


@pdk_function("kong.response.error", REWRITE_ACCESS_HEADER)
def error(ctx, status, message=None, headers=None):
    if (
        not isinstance(status, (int, float))
        or isinstance(status, bool)
        or status < 400
        or status > 599
    ):
        raise LuaError("code must be a number between 400 and 599")
    if message is not None and not isinstance(message, (str, dict, list)):
        raise LuaError("message must be a nil, a string or a table")
    if headers is not None and not isinstance(headers, dict):
        raise LuaError("headers must be a nil or table")
    # Kong picks the format from Accept; purekong always answers JSON.
    body = message if isinstance(message, (dict, list)) else {
        "message": message if message is not None else default_message(int(status))
    }
    _finish(ctx, int(status), cjson_encode(body), headers, True, "error")
    return None, None


@pdk_function("kong.response.get_raw_body", Phase.body_filter)
def get_raw_body(ctx):
    return (ctx.response.body if ctx.response is not None else b""), None


@pdk_function("kong.response.set_raw_body", Phase.body_filter)
def set_raw_body(ctx, body):
    if isinstance(body, str):
        body = body.encode("utf-8")
    if not isinstance(body, bytes):
        raise LuaError("body must be a string")
    if ctx.response is not None:
        ctx.response.body = body
    return None, None
