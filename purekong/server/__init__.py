"""``purekong tls-server``: an asyncio TCP server on the sans-IO engine.

See docs/tls-server.md. Only ``purekong.engine`` is used here; the engine
does the TLS, this package moves bytes and keeps time.
"""

from ._tls_server import LINGER_SECONDS, ServerOptions, TLSServer, http_response, response_body, run_server

__all__ = ["LINGER_SECONDS", "ServerOptions", "TLSServer", "http_response", "response_body", "run_server"]
