"""Loading plugins: Kong Python PDK modules, unchanged, and native purekong classes.

A Kong Python PDK plugin is a module with a ``Plugin`` class and optional
``Schema``, ``version`` and ``priority`` (kong_pdk ``module.py``).  It is loaded
with importlib from its file, so its ``if __name__ == "__main__":`` block never
runs.  Only the phases kong_pdk recognises count for it; it also gets the
runner's call style.  A :class:`NativePlugin` subclass may use every phase
(``client_hello``, ``balancer``, ``header_filter``, ``body_filter`` too).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import re
import sys
import traceback
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import _shim

_log = logging.getLogger("purekong.runner")

# kong_pdk module.py: anything else on the class is ignored.
PY_PDK_PHASES = ("certificate", "rewrite", "log", "access", "preread", "response")
NATIVE_PHASES = (
    "certificate",
    "client_hello",
    "rewrite",
    "access",
    "balancer",
    "response",
    "header_filter",
    "body_filter",
    "log",
)


class PluginLoadError(Exception):
    pass


class NativePlugin:
    """Base class for plugins written for purekong rather than for kong_pdk.

    Set ``name``, ``priority``, ``version`` and ``schema`` (Kong's DSL, as a
    Python PDK ``Schema``) on the subclass and define any of
    :data:`NATIVE_PHASES` as ``def <phase>(self, kong)``.  The ``kong`` object
    is python style (returns data, raises ``PDKException``) unless
    ``lua_style = True``.
    """

    name: str | None = None
    priority: int = 0
    version: str | None = None
    schema: Any = ()
    lua_style: bool = False

    def __init__(self, config: dict) -> None:
        self.config = config


@dataclass(frozen=True)
class PluginSpec:
    """A loaded plugin, before configuration."""

    name: str
    cls: type
    schema: tuple
    version: str | None
    priority: int
    phases: frozenset[str]
    native: bool
    lua_style: bool | None  # None: the runner's default

    def __repr__(self) -> str:
        return f"<PluginSpec {self.name} priority={self.priority} phases={sorted(self.phases)}>"


def plugin_from_class(
    cls: type,
    *,
    name: str | None = None,
    schema: Any = None,
    version: str | None = None,
    priority: int | None = None,
) -> PluginSpec:
    """A spec from a plugin class (native, or a kong_pdk ``Plugin``)."""
    names: tuple[str, ...] = PY_PDK_PHASES
    lua_style: bool | None = None  # the runner's default
    native = False
    if isinstance(cls, type) and issubclass(cls, NativePlugin):
        native = True
        name = name or cls.name or cls.__name__
        schema = cls.schema if schema is None else schema
        version = cls.version if version is None else version
        priority = cls.priority if priority is None else priority
        names = NATIVE_PHASES
        lua_style = bool(cls.lua_style)
    if not name:
        raise PluginLoadError("a plugin needs a name")
    # kong_pdk checks the class with hasattr, so inherited methods count.
    phases = frozenset(p for p in names if hasattr(cls, p))
    return PluginSpec(
        name=name,
        cls=cls,
        schema=tuple(schema or ()),
        version=version,
        priority=int(priority or 0),
        phases=phases,
        native=native,
        lua_style=lua_style,
    )


def plugin_from_module(module: types.ModuleType, name: str) -> PluginSpec:
    """A spec from a loaded kong_pdk plugin module (its ``Plugin``, ``Schema``,
    ``version`` and ``priority``), or from a module whose ``Plugin`` is native."""
    cls = getattr(module, "Plugin", None)
    if cls is None:
        raise PluginLoadError(f"plugin {name!r} has no Plugin class")
    if isinstance(cls, type) and issubclass(cls, NativePlugin):
        return plugin_from_class(cls, name=cls.name or name)
    spec = plugin_from_class(
        cls,
        name=name,
        schema=getattr(module, "Schema", []),
        version=getattr(module, "version", None),
        priority=getattr(module, "priority", 0),
    )
    # purekong's extension: a module-level ``lua_style = True/False`` fixes the
    # plugin's call style whatever the server's --plugin-style says.
    style = getattr(module, "lua_style", None)
    if style is not None:
        if not isinstance(style, bool):
            raise PluginLoadError(f"plugin {name!r}: lua_style must be True or False, got {style!r}")
        spec = dataclasses.replace(spec, lua_style=style)
    return spec


def _module_name(name: str) -> str:
    # Namespaced so a plugin called e.g. "json" cannot shadow a real module.
    return "purekong_plugin_" + re.sub(r"\W", "_", name)


def load_plugin_file(path: str | Path, name: str | None = None) -> PluginSpec:
    """Load one plugin file; its name is the file's stem unless given."""
    path = Path(path)
    name = name or path.stem
    _shim.install()
    module_name = _module_name(name)
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise PluginLoadError(f"cannot load plugin {name!r} from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[module_name]
        raise PluginLoadError(f"plugin {name!r} failed to load: {where_it_failed(exc, path)}") from exc
    return plugin_from_module(module, name)


def where_it_failed(exc: BaseException, path: Path) -> str:
    """``<file>:<line>: <exception>``: the plugin file's own line where it has one."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{exc.filename}:{exc.lineno}: {type(exc).__name__}: {exc.msg}"
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename) == path]
    frame = frames[-1] if frames else None
    at = f"{frame.filename}:{frame.lineno}: " if frame else f"{path}: "
    return f"{at}{type(exc).__name__}: {exc}"


def scan_plugins_dir(directory: str | Path) -> tuple[dict[str, PluginSpec], dict[str, PluginLoadError]]:
    """Every ``*.py`` plugin directly in ``directory``, by name, and the files
    that failed to load, by name, with why (file, line and exception)."""
    loaded: dict[str, PluginSpec] = {}
    failed: dict[str, PluginLoadError] = {}
    for path in sorted(Path(directory).glob("*.py")):
        if path.name.startswith("_"):
            continue
        try:
            loaded[path.stem] = load_plugin_file(path)
        except PluginLoadError as exc:
            failed[path.stem] = exc
    return loaded, failed


def load_plugins_dir(directory: str | Path) -> dict[str, PluginSpec]:
    """Every ``*.py`` plugin directly in ``directory``, by name.

    As kong_pdk's directory mode, a file that fails to load is logged and skipped.
    """
    loaded, failed = scan_plugins_dir(directory)
    for name, exc in failed.items():
        _log.warning("skipping %s: %s", Path(directory) / f"{name}.py", exc)
    return loaded
