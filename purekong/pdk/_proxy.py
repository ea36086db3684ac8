"""The ``kong`` object handed to plugins, in either call style.

It mirrors ``kong_pdk.pdk.Kong``: attribute access walks dotted names
(``kong.request.get_header``), a call dispatches to the implementation, and the
result is adapted to the call style:

* lua-style (the Python PDK's default): every call returns ``(data, err)``;
* python style: returns ``data``, or raises
  ``PDKException("exception from kong.x.y: <err>")`` when ``err`` is set.

As in kong_pdk, arguments to ``kong.log*`` that are not exactly str, int, list
or dict are passed through ``str()``, and ``kong.response.exit``/``error``
return ``None`` at once in both styles.  Kong's thrown errors (phase, type and
value errors) raise :class:`LuaError` in both styles.

A name that is no PDK function behaves as in Kong's plugin-server bridge
(``kong/runloop/plugin_servers``): the call logs ``could not find pdk method:
<name>`` at error level and answers with no value and no error, so kong_pdk
gives ``(None, None)`` in lua style and ``None`` in python style.  The request
goes on; a typo shows in the log, not as a 500.
"""

from __future__ import annotations

from ._errors import ExitUnwind, PDKException
from ._registry import FUNCTIONS, NON_RETURN

_LOG_ARG_TYPES = (str, int, list, dict)


def _namespaces() -> set[str]:
    out = set()
    for name in FUNCTIONS:
        parts = name.split(".")
        for i in range(1, len(parts)):
            out.add(".".join(parts[:i]))
    return out


class _Node:
    __slots__ = ("_ctx", "_lua_style", "_path")

    def __init__(self, ctx, lua_style: bool, path: str) -> None:
        self._ctx = ctx
        self._lua_style = lua_style
        self._path = path

    def __getattr__(self, name: str) -> "_Node":
        if name.startswith("__"):  # copy, pickle and friends probe for these
            raise AttributeError(name)
        return _Node(self._ctx, self._lua_style, f"{self._path}.{name}")

    def __dir__(self):
        prefix = self._path + "."
        names = {n[len(prefix):].split(".")[0] for n in FUNCTIONS if n.startswith(prefix)}
        return sorted(names)

    def __repr__(self) -> str:
        return f"<kong PDK {self._path}>"

    def __call__(self, *args, **kwargs):
        name = self._path
        impl = FUNCTIONS.get(name)
        if impl is None and name in _NAMESPACES:
            raise TypeError(f"{name} is a namespace, not a function")
        ctx = self._ctx
        if ctx.unwind_pending:
            # Kong ended the request at exit(): it never answers this call.
            raise ExitUnwind()
        if impl is None:
            ctx.logger.error("[%s] could not find pdk method: %s", ctx.plugin_name or "kong", name)
            return (None, None) if self._lua_style else None
        if name == "kong.log" or name.startswith("kong.log."):
            args = tuple(a if type(a) in _LOG_ARG_TYPES else str(a) for a in args)
        data, err = impl(ctx, *args, **kwargs)
        if name in NON_RETURN:
            return None
        if self._lua_style:
            return data, err
        if err:
            raise PDKException(f"exception from {name}: {err}")
        return data


_NAMESPACES: set[str] = set()


def make_kong(ctx, *, lua_style: bool = True) -> _Node:
    """The ``kong`` root object for ``ctx`` in the given call style."""
    if not _NAMESPACES:
        _NAMESPACES.update(_namespaces())
    return _Node(ctx, lua_style, "kong")
