"""Kong's phase flags and its phase checker (``kong/pdk/private/phases.lua``).

Every PDK function declares the Kong phases it may run in as a bit mask; the
checker compares it with the phase the runner is in.  Messages, bit values and
the order of names in messages are Kong's exactly, because plugins and tests
match on them.
"""

from __future__ import annotations

import enum

from ._errors import LuaError


class Phase(enum.IntFlag):
    """Kong's phase flags (current master; ``client_hello`` exists since 3.9)."""

    init_worker = 0x00000001
    certificate = 0x00000002
    client_hello = 0x00000008
    rewrite = 0x00000010
    access = 0x00000020
    balancer = 0x00000040
    response = 0x00000080
    cluster_listener = 0x00000100
    header_filter = 0x00000200
    body_filter = 0x00000400
    log = 0x00002000
    preread = 0x00004000
    error = 0x01000000
    admin_api = 0x10000000


# Ascending bit order: Kong lists accepted phases in this order in its messages,
# whatever order the mask was built in.
_ORDERED = sorted(Phase, key=lambda p: p.value)

# Kong's public alias table (``phases.request``).
ALIASES = {
    "request": Phase.rewrite
    | Phase.access
    | Phase.balancer
    | Phase.response
    | Phase.header_filter
    | Phase.body_filter
    | Phase.log
    | Phase.error
    | Phase.admin_api
    | Phase.cluster_listener,
}


def phase_mask(*names: str) -> Phase:
    """Build a mask from phase names or aliases, as ``phase_checker.new`` does."""
    mask = Phase(0)
    for name in names:
        if name in ALIASES:
            mask |= ALIASES[name]
        elif name in Phase.__members__:
            mask |= Phase[name]
        else:
            raise LuaError(f"unknown phase or phase alias: {name}")
    return mask


def phase_names(mask: int) -> str:
    """``"a, b, c"`` for the phases in ``mask``, in ascending bit order."""
    return ", ".join(str(p.name) for p in _ORDERED if mask & p.value)


def _current_name(current: int) -> str:
    # Kong looks the value up in its reverse table: a combination of flags, or
    # an unknown bit, is not a key there.
    for p in _ORDERED:
        if p.value == current:
            return str(p.name)
    return "'unknown phase'"


def check_phase(current: int | None, accepted: int, *, enabled: bool = True) -> None:
    """Raise Kong's error unless ``current`` is one of the ``accepted`` phases.

    ``enabled=False`` is Kong's "tests" mode (no ``kong.ctx``): every call passes.
    """
    if not enabled:
        return
    if current is None:
        raise LuaError(f"no phase in ngx.ctx.KONG_PHASE, (need one of {phase_names(accepted)})")
    if current & accepted:
        return
    raise LuaError(
        f"function cannot be called in {_current_name(current)} phase "
        f"(only in: {phase_names(accepted)})"
    )


def check_not_phase(current: int | None, rejected: int, *, enabled: bool = True) -> None:
    """Kong's ``check_not_phase``: raise if ``current`` is one of ``rejected``."""
    if not enabled:
        return
    if current is None:
        raise LuaError(f"no phase in ngx.ctx.KONG_PHASE, (need one of {phase_names(_ALL & ~int(rejected))})")
    if not current & rejected:
        return
    raise LuaError(
        f"function cannot be called in {_current_name(current)} phase "
        f"(can be called in any phases except: {phase_names(rejected)})"
    )


_ALL = 0
for _p in Phase:
    _ALL |= _p.value


# The nginx phase each Kong phase runs in.  With Kong's checks off, the
# underlying OpenResty functions still look at this (e.g. "API disabled in the
# current context" outside ssl_certificate_by_lua).
NGINX_PHASE = {
    Phase.init_worker: "init_worker",
    Phase.certificate: "ssl_cert",
    Phase.client_hello: "ssl_client_hello",
    Phase.rewrite: "rewrite",
    Phase.access: "access",
    Phase.balancer: "balancer",
    # Kong runs ``response`` inside access_by_lua (buffered proxying).
    Phase.response: "access",
    Phase.header_filter: "header_filter",
    Phase.body_filter: "body_filter",
    Phase.log: "log",
    Phase.preread: "preread",
    Phase.error: "content",
    Phase.admin_api: "content",
    Phase.cluster_listener: "content",
}
