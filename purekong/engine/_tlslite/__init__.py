"""The one place where purekong adapts tlslite-ng.

Nothing outside ``purekong.engine`` imports tlslite; inside the engine only
this package does. tlslite is used unmodified: every change purekong makes
to it (primitives rerouted to ``cryptography`` in ``_backend``, speed-ups in
``_speedups``, behaviour in ``_hooked``) is one row of ``_patches.PATCHES``,
installed once by ``purekong/engine/__init__.py``.
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
