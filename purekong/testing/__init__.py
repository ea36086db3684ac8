"""Test tools for purekong users: run Kong plugins, TLS clients and TLS servers
over real handshakes in memory.

    from purekong.testing import KongHarness, handshake_in_memory
"""

from ._harness import HarnessResult, KongHarness, echo_upstream
from ._memory import Endpoint, InMemoryHandshake, OpenSSLClient, handshake_in_memory

__all__ = [
    "Endpoint",
    "HarnessResult",
    "InMemoryHandshake",
    "KongHarness",
    "OpenSSLClient",
    "echo_upstream",
    "handshake_in_memory",
]
