"""The named fields of a handshake message, with their byte spans, as rows for the views.

The dissection is inspect-core's (``_dissect.dissect_handshake``); this
flattens its tree into rows (depth, name, offset, length, value text) that
the terminal and HTML views print. A structure's row names what it is when
its first child says so (an Extension shows its extension type).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from ._dissect import Field, dissect_handshake, dissect_record
from ._recording import EPOCH_PLAINTEXT, HandshakeMessage, Record
from ._summary import describe_ca_names


@dataclass(frozen=True)
class FieldRow:
    depth: int
    name: str
    offset: int  # within the message, header included
    length: int
    value: str = ""
    leaf: bool = True
    rfc: str = ""
    status: str = ""  # "", "unknown" or "malformed", as the dissector says


def message_fields(message: HandshakeMessage, *, tls13: bool = True) -> Iterator[FieldRow]:
    """Every field of ``message`` in byte order (the outer "Handshake" wrapper left out)."""
    tree = dissect_handshake(message.raw, tls13=tls13)
    for child in tree.children:
        yield from _rows(child, 0)


def record_fields(record: Record) -> Iterator[FieldRow]:
    """The record's header and body; once decrypted, its tag too (the last bytes of the body)."""
    tree = dissect_record(record.raw, protected=record.epoch != EPOCH_PLAINTEXT)
    for child in tree.children:
        yield from _rows(child, 0)
    d = record.decrypted
    if d is not None and d.tag and len(record.raw) >= 5 + len(d.tag) and record.raw.endswith(d.tag):
        yield FieldRow(1, "tag", len(record.raw) - len(d.tag), len(d.tag), d.tag.hex(), True, "RFC 5116 §5.1")


def _rows(field: Field, depth: int) -> Iterator[FieldRow]:
    yield FieldRow(depth, field.name, field.offset, field.length, _value_text(field), not field.children, field.rfc, field.status)
    for child in field.children:
        yield from _rows(child, depth + 1)


def _value_text(field: Field) -> str:
    if field.children:
        first = field.children[0]
        if first.name.endswith("_type") and first.meaning:
            return first.meaning
        return field.meaning
    if isinstance(field.value, int):
        return f"{field.meaning} ({field.value})" if field.meaning else str(field.value)
    if isinstance(field.value, bytes):
        if field.name == "der" and "X.501" in field.meaning:  # a DN of a CA list: say whose
            return describe_ca_names((field.value,))[0]
        text = field.meaning or (field.value[:24].hex() + ("..." if len(field.value) > 24 else ""))
        return f"{text} [{field.status}]" if field.status else text
    return field.meaning
