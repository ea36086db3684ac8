"""The one place where purekong adapts tlslite-ng.

Nothing outside ``purekong.engine`` imports tlslite; inside the engine only
this package does. tlslite is used unmodified: its private methods are
overridden in ``_hooked`` and its primitives rerouted to ``cryptography`` in
``_backend``, both from our own modules.
"""

from ._driver import Driver, HandshakeFacts, PeerAlert, PeerEOF, select_alpn
from ._hello import FirstHello, HelloFacts, TooLarge, adopt_server_name, client_hello_problem, describe_hello, hello_server_name, read_client_hello
from ._hooked import Hooks
from ._settings import Plan

__all__ = [
    "Driver",
    "FirstHello",
    "HandshakeFacts",
    "HelloFacts",
    "Hooks",
    "PeerAlert",
    "PeerEOF",
    "Plan",
    "TooLarge",
    "adopt_server_name",
    "client_hello_problem",
    "describe_hello",
    "hello_server_name",
    "read_client_hello",
    "select_alpn",
]
