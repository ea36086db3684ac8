"""A deterministic byte stream for ``random=``: tests, benchmarks and the
inspector's reproducible scenarios. Never for real connections.

Kept apart from the engine so that code which must not import tlslite (the
inspector) can use it too.
"""

from __future__ import annotations

import hashlib
from typing import Callable

__all__ = ["seeded_random_source"]


def seeded_random_source(seed: bytes) -> Callable[[int], bytes]:
    """SHA-256 in counter mode over ``seed``: the same seed, the same bytes."""
    counter = 0
    buffer = b""

    def take(n: int) -> bytes:
        nonlocal counter, buffer
        while len(buffer) < n:
            buffer += hashlib.sha256(seed + counter.to_bytes(8, "big")).digest()
            counter += 1
        out, buffer = buffer[:n], buffer[n:]
        return out

    return take
