"""``purekong tls-server``: an asyncio TCP server on the sans-IO engine.

See docs/tls-server.md. Only ``purekong.engine`` is used here; the engine
does the TLS, this package moves bytes and keeps time.
"""

from ._tls_server import LINGER_SECONDS, ServerOptions, TLSServer, http_response, response_body, run_server

__all__ = ["LINGER_SECONDS", "ServerOptions", "TLSServer", "http_response", "response_body", "run_server"]

# ``purekong serve`` (docs/serve.md): the gateway, its settings and its HTTP
# layer, imported on first use so ``purekong tls-server`` does not load the
# gateway, the runner and the plugins.
_SERVE = {"Gateway": "_gateway", "Listener": "_gateway", "ServeConfigError": "_gateway", "ServeOptions": "_gateway",
          "build_plan": "_gateway", "load_declarative": "_gateway", "Limits": "_http"}
__all__ += sorted(_SERVE)


def __getattr__(name: str):
    if name in _SERVE:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_SERVE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
