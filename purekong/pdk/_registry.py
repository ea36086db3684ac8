"""The table of PDK functions, by dotted name.

Each implementation takes the :class:`KongContext` first and returns Lua's
return values as a ``(data, err)`` pair; the ``kong`` object (``_proxy``)
turns that pair into either call style.  The phase check runs first, before
any argument check, as in Kong.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

from ._phases import check_not_phase, check_phase

Impl = Callable[..., tuple[Any, Any]]

FUNCTIONS: dict[str, Impl] = {}

# Fire-and-forget in kong_pdk: the call returns None at once in both styles.
NON_RETURN = frozenset({"kong.response.exit", "kong.response.error"})


def pdk_function(name: str, accepted: int | None = None, *, rejected: int | None = None):
    """Register ``fn`` as ``name``, allowed in ``accepted`` phases (None: any)."""

    def decorate(fn: Impl) -> Impl:
        @functools.wraps(fn)
        def checked(ctx, *args, **kwargs):
            if accepted is not None:
                check_phase(ctx.phase, accepted, enabled=ctx.check_phases)
            if rejected is not None:
                check_not_phase(ctx.phase, rejected, enabled=ctx.check_phases)
            return fn(ctx, *args, **kwargs)

        FUNCTIONS[name] = checked
        return fn

    return decorate
