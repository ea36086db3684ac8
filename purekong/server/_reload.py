"""Where ``purekong serve``'s configuration comes from, at start and on reload.

A :class:`ConfigSource` knows everything a :class:`~._config.LoadedConfig`
is built from besides the entities' file: the options, the default
certificate, the embedded default's extra plugins. :meth:`ConfigSource.load`
(re-)reads the declarative file and the plugins directory, as at start-up;
:meth:`ConfigSource.load_data` takes already-decoded entities (``POST
/config``). Both validate everything and raise
:class:`~._settings.ServeConfigError` with every problem, so an invalid new
configuration never replaces a working one.

SIGHUP runs :meth:`ConfigSource.load` (``_processes``); with ``--workers
N`` the parent validates first, then each worker loads and switches
(:meth:`~._worker.Worker.reload`). ``POST /config`` with several workers
writes the accepted entities to :attr:`ConfigSource.posted_path` and tells
the parent (SIGUSR2), which tells every worker to load that file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from purekong import gateway

from . import _config
from ._settings import ServeConfigError, ServeOptions

if TYPE_CHECKING:
    from purekong.engine import CertifiedKey
    from purekong.gateway import Declarative
    from purekong.runner import PluginSpec

__all__ = ["ConfigSource"]


@dataclass
class ConfigSource:
    options: ServeOptions
    default_cert: "CertifiedKey | None" = None
    #: The embedded default's entities (no ``-c``): reloads reuse them.
    embedded: "Declarative | None" = None
    extra_plugins: "dict[str, PluginSpec]" = field(default_factory=dict)

    def load(self) -> _config.LoadedConfig:
        """The declarative file and the plugins directory, read again."""
        if self.embedded is not None:
            return self._loaded(self.embedded)
        path = self.options.declarative
        assert path is not None
        if not path.is_file():
            raise ServeConfigError(f"-c {path}: no such file")
        return self._loaded(_config.load_declarative(path))

    def load_data(self, data: Any, source: str = "<POST /config>") -> _config.LoadedConfig:
        """Decoded entities (``POST /config``), validated as a file's would be.

        Raises :class:`gateway.ConfigError` for invalid entities (so the
        Admin API can shape Kong's error body) and ServeConfigError for the
        rest (plugins, ASGI apps, certificates)."""
        return self._loaded(gateway.parse_declarative(data, source=source))

    def _loaded(self, declarative: "Declarative") -> _config.LoadedConfig:
        return _config.load_config(declarative, self.options, default_cert=self.default_cert, extra_plugins=self.extra_plugins)

    # -- POST /config with several workers ------------------------------------------------
    @property
    def posted_path(self) -> Path | None:
        state = self.options.state_dir
        return None if state is None else state / f"posted-config-{os.getpid() if self.options.workers <= 1 else os.getppid()}.json"

    def write_posted(self, data: Any) -> None:
        path = self.posted_path
        assert path is not None
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, path)  # the other workers never read half a file

    def load_posted(self) -> _config.LoadedConfig:
        path = self.posted_path
        if path is None or not path.is_file():
            raise ServeConfigError("no configuration was posted")
        return self.load_data(json.loads(path.read_text()))
