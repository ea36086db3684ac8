"""``purekong tls-server``: an asyncio TCP server on the sans-IO engine.

See docs/tls-server.md. Only ``purekong.engine`` is used here; the engine
does the TLS, this package moves bytes and keeps time.
"""

from ._tls_server import LINGER_SECONDS, ServerOptions, TLSServer, http_response, response_body, run_server

__all__ = ["LINGER_SECONDS", "ServerOptions", "TLSServer", "http_response", "response_body", "run_server"]

# ``purekong serve`` (docs/serve.md): the gateway, its settings and its HTTP layer.
from ._gateway import Gateway, Listener, ServeConfigError, ServeOptions, build_plan, load_declarative  # noqa: E402
from ._http import Limits  # noqa: E402

__all__ += ["Gateway", "Limits", "Listener", "ServeConfigError", "ServeOptions", "build_plan", "load_declarative"]
