"""Small namespaces: ``kong.ctx.shared``, ``kong.nginx``, ``kong.router``, ``kong.node``, ``kong.ip``."""

from __future__ import annotations

import socket
import uuid

from ._phases import Phase
from ._registry import pdk_function
from ._request import host_of, split_target

ROUTER_PHASES = Phase.access | Phase.header_filter | Phase.response | Phase.body_filter | Phase.log


# The Python PDK reaches kong.ctx.shared through get/set calls, not item access.
@pdk_function("kong.ctx.shared.get")
def shared_get(ctx, key):
    return ctx.shared.get(key), None


@pdk_function("kong.ctx.shared.set")
def shared_set(ctx, key, value):
    ctx.shared[key] = value
    return None, None


@pdk_function("kong.nginx.get_ctx")
def nginx_get_ctx(ctx, key):
    return ctx.nginx_ctx.get(key), None


@pdk_function("kong.nginx.set_ctx")
def nginx_set_ctx(ctx, key, value):
    ctx.nginx_ctx[key] = value
    return None, None


@pdk_function("kong.nginx.get_subsystem")
def nginx_get_subsystem(ctx):
    return "http", None


@pdk_function("kong.nginx.get_tls1_version_str")
def nginx_get_tls1_version_str(ctx):
    tls = ctx.conn.tls
    return (tls.version, None) if tls.is_tls else (None, "bad request")


def _var(ctx, name: str):
    tls, req = ctx.conn.tls, ctx.request
    if name == "ssl_client_verify":
        return tls.client_verify if tls.is_tls else None
    if name == "ssl_cipher":
        return tls.cipher
    if name == "ssl_protocol":
        return tls.version
    if name == "ssl_server_name":
        return tls.server_name
    if name == "remote_addr":
        return ctx.conn.client_ip
    if name == "remote_port":
        return str(ctx.conn.client_port)
    if name == "server_port":
        return str(ctx.conn.server_port)
    if name == "scheme":
        return "https" if tls.is_tls else "http"
    if req is None:
        return None
    if name == "request_method":
        return req.method
    if name == "request_uri":
        return req.target
    if name == "uri":
        return split_target(req.target)[0]
    if name == "args":
        q = split_target(req.target)[1]
        return q or None
    if name == "host":
        return host_of(ctx)
    return None


@pdk_function("kong.nginx.get_var")
def nginx_get_var(ctx, name):
    """A few nginx variables; an unknown name gives None (nginx: nil)."""
    return _var(ctx, name), None


def _entity(ctx, key: str):
    return getattr(ctx.request, key, None) if ctx.request is not None else None


@pdk_function("kong.router.get_route", ROUTER_PHASES)
def get_route(ctx):
    return _entity(ctx, "route"), None


@pdk_function("kong.router.get_service", ROUTER_PHASES)
def get_service(ctx):
    return _entity(ctx, "service"), None


_NODE_ID = str(uuid.uuid4())  # one per process, as a Kong node id


@pdk_function("kong.node.get_id")
def node_get_id(ctx):
    return _NODE_ID, None


@pdk_function("kong.node.get_hostname")
def node_get_hostname(ctx):
    return socket.gethostname(), None


@pdk_function("kong.ip.is_trusted")
def ip_is_trusted(ctx, address):
    # Kong's default trusted_ips is empty; purekong models no trusted proxy.
    return False, None
