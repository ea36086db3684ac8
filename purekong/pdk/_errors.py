"""The exceptions plugins see.

Plugins written for Kong's Python PDK catch ``kong_pdk.exception.PDKException``.
When the real ``kong_pdk`` package is installed we raise *its* class so those
``except`` clauses match; otherwise our own class of the same name (and the
runner's ``kong_pdk`` shim serves this one under that import path).
"""

from __future__ import annotations

try:  # decided once, at import, before the runner may install its shim
    from kong_pdk.exception import PDKException
except ImportError:

    class PDKException(Exception):  # type: ignore[no-redef]
        """Same name and meaning as ``kong_pdk.exception.PDKException``."""


class LuaError(PDKException):
    """What Kong throws with Lua ``error()`` or a failed ``assert``.

    Phase, type and value errors.  The message is the bare Lua message, without
    the ``<file>:<line>: `` prefix Lua adds.  Raised in both call styles.
    """


class ExitUnwind(BaseException):
    """For runners: unwinds a plugin that makes a PDK call after ``kong.response.exit``.

    Kong never answers such a call (the request is over), so the plugin's code
    after ``exit`` runs only up to its next PDK call.  A ``BaseException`` so a
    plugin's ``except Exception`` does not swallow it; the runner catches it.
    """
