"""A stand-in ``kong_pdk`` for plugins that import it only for type hints.

Plugins written for Kong's Python PDK usually start with
``import kong_pdk.pdk.kong as kong`` and annotate ``def access(self, kong: kong.kong)``.
When the real package is not installed, :func:`install` adds a meta-path
finder (after all others, so a real package always wins) that serves just
enough: ``kong_pdk``, ``kong_pdk.pdk`` (with ``Kong`` and ``PDKException``),
``kong_pdk.pdk.kong`` (with a ``kong`` class usable in annotations),
``kong_pdk.exception`` and ``kong_pdk.cli`` (whose server functions refuse to run).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
from collections.abc import Sequence
from typing import Any, NoReturn

from purekong.pdk import PDKException

_MODULES = ("kong_pdk", "kong_pdk.pdk", "kong_pdk.pdk.kong", "kong_pdk.exception", "kong_pdk.cli")


class _AnyAttribute(type):
    # ``kong.kong.request`` and deeper names also work in annotations.
    def __getattr__(cls, name: str) -> _AnyAttribute:
        if name.startswith("__"):
            raise AttributeError(name)
        return _AnyAttribute(name, (), {})


class kong(metaclass=_AnyAttribute):  # noqa: N801  the stub's name
    """Type-hint stand-in for ``kong_pdk.pdk.kong.kong``."""


class PluginServerException(Exception):
    pass


def _not_here(*args: Any, **kwargs: Any) -> NoReturn:
    raise RuntimeError(
        "kong_pdk's plugin server is not installed; purekong runs plugins in-process"
    )


def _fill(module: types.ModuleType) -> None:
    name = module.__name__
    attrs: dict[str, Any] = {"__purekong_shim__": True}
    if name in ("kong_pdk", "kong_pdk.pdk"):
        attrs["__path__"] = []  # a package, so submodules can be found
    if name == "kong_pdk.pdk":
        attrs.update(PDKException=PDKException, Kong=_not_here)
    elif name == "kong_pdk.pdk.kong":
        attrs.update(kong=kong)
    elif name == "kong_pdk.exception":
        attrs.update(PDKException=PDKException, PluginServerException=PluginServerException)
    elif name == "kong_pdk.cli":
        attrs.update(start_server=_not_here, start_dedicated_server=_not_here)
    vars(module).update(attrs)


class _ShimFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: types.ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in _MODULES:
            return None
        return importlib.machinery.ModuleSpec(
            fullname, self, is_package=fullname in ("kong_pdk", "kong_pdk.pdk")
        )

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None  # default module creation

    def exec_module(self, module: types.ModuleType) -> None:
        _fill(module)


_FINDER = _ShimFinder()


def install() -> bool:
    """Install the shim unless a real ``kong_pdk`` is importable; True if installed."""
    if _FINDER in sys.meta_path:
        return True
    if importlib.util.find_spec("kong_pdk") is not None:
        return False
    sys.meta_path.append(_FINDER)
    return True


def uninstall() -> None:
    """Remove the shim and any module it served (for tests)."""
    if _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)
    for name in _MODULES:
        mod = sys.modules.get(name)
        if mod is not None and getattr(mod, "__purekong_shim__", False):
            del sys.modules[name]
