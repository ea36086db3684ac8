"""The named fields of a handshake message, with their byte spans, for the views.

The dissection itself is inspect-core's (``_dissect``); this flattens its
tree into rows (depth, name, offset, length, value) that the terminal and
HTML views print. Until a dissector is available the rows are the 4-byte
handshake header and the body as one span.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from ._recording import HandshakeMessage


@dataclass(frozen=True)
class FieldRow:
    depth: int
    name: str
    offset: int  # within the message, header included
    length: int
    value: str = ""
    leaf: bool = True
    rfc: str = ""


def message_fields(message: HandshakeMessage) -> Iterator[FieldRow]:
    yield FieldRow(0, "msg_type", 0, 1, f"{message.name} ({message.msg_type})")
    yield FieldRow(0, "length", 1, 3, str(int.from_bytes(message.raw[1:4], "big")))
    yield FieldRow(0, "body", 4, max(len(message.raw) - 4, 0))
