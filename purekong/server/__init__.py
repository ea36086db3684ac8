"""purekong's asyncio servers on the sans-IO engine.

``purekong tls-server`` (docs/tls-server.md): :class:`TLSServer`, only
``purekong.engine`` underneath; the engine does the TLS, this package moves
bytes and keeps time. ``purekong serve`` (docs/serve.md): the gateway, one
module per job (settings, start-up, worker, one request, processes).
"""

from ._settings import ClientTimeouts, Limits, Listener, ServeConfigError, ServeOptions, TLSServerOptions
from ._tls_server import LINGER_SECONDS, TLSServer, http_response, response_body, run_server

__all__ = ["ClientTimeouts", "LINGER_SECONDS", "Limits", "Listener", "ServeConfigError", "ServeOptions", "TLSServer",
           "TLSServerOptions", "http_response", "response_body", "run_server"]

# The gateway's modules, imported on first use so ``purekong tls-server`` does
# not load the gateway, the runner and the plugins.
_SERVE = {"LoadedConfig": "_config", "load_config": "_config", "load_declarative": "_config", "Worker": "_worker"}
__all__ += sorted(_SERVE)


def __getattr__(name: str) -> object:
    if name in _SERVE:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_SERVE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
