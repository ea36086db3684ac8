"""Test tools for purekong users: run Kong plugins, TLS clients and TLS servers
over real handshakes in memory, and test TLS with properties.

    from purekong.testing import KongHarness, handshake_in_memory
    from purekong.testing import strategies as pks       # needs purekong[testing]

Names that need hypothesis (``strategies``, ``ConnectionPairMachine``,
``AttackerPeer``, ``oracle``...) are imported on first use, so
``KongHarness`` works without it.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._drive import EndpointAnswer, client_answer, server_answer
from ._pair import ConnectionPair, PairEndpoint, PurekongEndpoint, StdlibEndpoint, purekong_pair
from ._harness import HarnessResult, KongHarness, echo_upstream
from ._memory import InMemoryHandshake, SansIOPeer, OpenSSLClient, OpenSSLServer, handshake_in_memory
from ._pki import KitPKI, kit_client_config, kit_pki, kit_server_config

# name -> module that defines it, loaded on first use (they import hypothesis).
_LAZY = {
    "strategies": ".strategies",
    "Labelled": "._labelled",
    "ConnectionPairMachine": "._machine",
    "AttackerPeer": "._attacker",
    "Edit": "._attacker",
    "edits": "._attacker",
    "oracle": ".oracle",
    "attacks": ".attacks",
    "differential": ".differential",
}

__all__ = [
    "ConnectionPair",
    "Endpoint",
    "HarnessResult",
    "InMemoryHandshake",
    "KitPKI",
    "KongHarness",
    "OpenSSLClient",
    "OpenSSLServer",
    "EndpointAnswer",
    "PairEndpoint",
    "PurekongEndpoint",
    "SansIOPeer",
    "StdlibEndpoint",
    "client_answer",
    "echo_upstream",
    "handshake_in_memory",
    "kit_client_config",
    "kit_pki",
    "kit_server_config",
    "purekong_pair",
    "server_answer",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'purekong.testing' has no attribute {name!r}")
    loaded = importlib.import_module(module, __name__)
    return loaded if name == module.lstrip(".") else getattr(loaded, name)
