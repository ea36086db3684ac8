"""Bytes that say what they are: the value every kit strategy for wire data draws."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import currently_in_test_context, event, note

from purekong.engine import AlertDescription


@dataclass(frozen=True)
class Labelled:
    """Wire bytes with a readable label, e.g. ``"ClientHello with a duplicate key_share group"``.

    ``defect`` is ``None`` for a valid example and otherwise a short
    machine name (``"duplicate_key_share_group"``); ``alerts`` are the alerts
    the RFC allows a receiver to answer with (``clause`` says where), empty
    when the RFC asks for none. ``bytes(example)`` gives the data.
    """

    data: bytes
    label: str
    defect: str | None = None
    alerts: tuple[AlertDescription, ...] = ()
    clause: str = ""

    @property
    def valid(self) -> bool:
        return self.defect is None

    def __bytes__(self) -> bytes:
        return self.data

    def record(self, version: int = 0x0301) -> bytes:
        """A handshake-message example framed in records (content type 22), ready for ``receive_data``."""
        from ._wire import records

        return records(22, self.data, version)

    def __len__(self) -> int:
        return len(self.data)

    def describe(self) -> str:
        """The label, the RFC's answer and the bytes, for a failure message."""
        text = self.label
        if self.alerts:
            text += f" (expected: {' or '.join(a.name for a in self.alerts)}, {self.clause})"
        shown = self.data[:64].hex()
        return f"{text}; {len(self.data)} bytes: {shown}{'...' if len(self.data) > 64 else ''}"


def tell(example: Labelled) -> Labelled:
    """Record the label in hypothesis's output (``note``) and statistics (``event``).

    Outside a test (``strategy.example()`` in a shell) it does nothing, so
    strategies stay usable interactively.
    """
    if currently_in_test_context():
        note(example.describe())
        event(example.label if example.valid else f"defect: {example.defect}")
    return example
