"""Small namespaces: ``kong.ctx.shared``, ``kong.nginx``, ``kong.router``, ``kong.node``, ``kong.ip``, ``kong.plugin``, ``kong.cluster``."""

from __future__ import annotations

import os
import socket
import uuid

from ._errors import LuaError
from ._phases import Phase
from ._registry import pdk_function
from ._request import host_of, split_target
from ._shared_dict import WORKER_SHARED

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


@pdk_function("kong.plugin.get_id")  # Kong's code checks no phase (its docs list six)
def plugin_get_id(ctx):
    return ctx.plugin_id, None


@pdk_function("kong.telemetry.log")
def telemetry_log(ctx, plugin_name, plugin_config, message_type, message, attributes=None):
    # Kong forwards these to the OpenTelemetry plugin's log pipeline when that
    # is enabled; purekong has none, so the call does nothing, as Kong's then.
    return None, None


@pdk_function("kong.cluster.get_id")
def cluster_get_id(ctx):
    # Kong in DB-less mode without a cluster id configured returns nil.
    return None, None


@pdk_function("kong.nginx.req_start_time")
def nginx_req_start_time(ctx):
    return ctx.started_at, None


@pdk_function("kong.nginx.get_statistics")
def nginx_get_statistics(ctx):
    return ctx.statistics.as_table(), None


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _bytes_to_str(count: int, unit: str | None, scale: int | None) -> int | str:
    # kong.tools.utils.bytes_to_str
    if not unit or unit.lower() == "b":
        return count
    units = {"k": ("KiB", 1024), "m": ("MiB", 1024**2), "g": ("GiB", 1024**3)}
    name, size = units.get(unit.lower(), (None, 0))
    if name is None:
        raise LuaError(f"invalid unit '{unit}' (expected 'k/K', 'm/M', or 'g/G')")
    return f"{count / size:.{2 if scale is None else scale}f} {name}"


@pdk_function("kong.node.get_memory_stats")
def node_get_memory_stats(ctx, unit=None, scale=None):
    shared = WORKER_SHARED
    used = shared.capacity - shared.free_space()
    return {
        "lua_shared_dicts": {"kong": {"allocated_slabs": _bytes_to_str(used, unit, scale),
                                      "capacity": _bytes_to_str(shared.capacity, unit, scale)}},
        # one Python process per worker stands in for a worker's Lua VM
        "workers_lua_vms": [{"http_allocated_gc": _bytes_to_str(_rss_bytes(), unit, scale), "pid": os.getpid()}],
    }, None
