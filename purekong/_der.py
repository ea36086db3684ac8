"""A minimal DER reader, for the few things ``cryptography`` does not expose.

Shared by ``purekong.verify`` (raw validity times and the inner signature
algorithm, as OpenSSL reads them) and ``purekong.plugins`` (DN values as
OpenSSL prints them). Strict: definite lengths of at most four bytes, no
element running past its container.
"""

from __future__ import annotations


class DERError(ValueError):
    """The bytes are not the DER this reader expects."""


def read_tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag byte, value start, value end) of the element at ``pos``."""
    if pos + 2 > len(data):
        raise DERError("truncated")
    tag, length = data[pos], data[pos + 1]
    pos += 2
    if length & 0x80:
        size = length & 0x7F
        if not 1 <= size <= 4 or pos + size > len(data):
            raise DERError("bad length")
        length = int.from_bytes(data[pos : pos + size], "big")
        pos += size
    if pos + length > len(data):
        raise DERError("truncated")
    return tag, pos, pos + length


def children(data: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """The elements inside a constructed value: (tag, value start, value end, header start)."""
    out, pos = [], start
    while pos < end:
        tag, value_start, value_end = read_tlv(data, pos)
        out.append((tag, value_start, value_end, pos))
        pos = value_end
    if pos != end:
        raise DERError("overrun")
    return out


def oid_text(value: bytes) -> str:
    """The dotted form of an OBJECT IDENTIFIER's contents."""
    arcs, n = [], 0
    for byte in value:
        n = (n << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(n)
            n = 0
    if not arcs:
        raise DERError("empty OID")
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in [first, arcs[0] - 40 * first, *arcs[1:]])
