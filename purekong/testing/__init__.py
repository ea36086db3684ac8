"""Test tools for purekong users: run Kong plugins, TLS clients and TLS servers
over real handshakes in memory.

    from purekong.testing import KongHarness
"""

from ._harness import HarnessResult, KongHarness, echo_upstream

__all__ = ["HarnessResult", "KongHarness", "echo_upstream"]
