"""The key schedule, recomputed independently of the engine.

(Filled in by the key-schedule step: for now a recording passes through.)
"""

from __future__ import annotations

from ._recording import Recording


def recompute(recording: Recording) -> Recording:
    """The recording with its key schedule recomputed and checked."""
    return recording
