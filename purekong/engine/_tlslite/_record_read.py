"""A whole handshake record taken from the buffer in one slice.

tlslite's ``RecordSocket.recv`` reads a record as three generators deep:
one byte of header, then four, then the body, each through
``BufferedSocket.recv``, and parses the header with a ``Parser`` (about
5 us a record, three or four records per server handshake). When the
record is already complete in memory, which is how the engine feeds
tlslite, ``take_buffered_record`` returns what ``recv`` would yield, the
``RecordHeader3`` and the body, with the same buffer state left behind.
Anything it does not vouch for (an SSLv2 or unknown first byte, a length
over the limits, an incomplete record, another kind of socket) returns
None, and tlslite's own ``recv`` reads it: its errors stay tlslite's.
``would_block`` says when tlslite's ``recv`` would only yield 0 (need
input), so the caller can wait for a whole record instead of starting it.
"""

from __future__ import annotations

from typing import Any

from tlslite.bufferedsocket import BufferedSocket
from tlslite.constants import ContentType
from tlslite.messages import RecordHeader3

from ._transport import MemoryTransport

_CONTENT_TYPES = frozenset(ContentType.all)
_PULL = 4096  # what BufferedSocket.recv asks its socket for when empty


def _memory_socket(records: Any) -> BufferedSocket | None:
    sock = records.sock
    if type(sock) is not BufferedSocket or type(sock.socket) is not MemoryTransport:
        return None
    return sock


def would_block(records: Any) -> bool:
    """Nothing buffered and no end of input: tlslite's ``recv`` would yield 0
    and consume nothing (``RecordSocket`` over ``BufferedSocket`` over
    ``MemoryTransport`` only)."""
    sock = _memory_socket(records)
    return sock is not None and not sock._read_buffer and not sock.socket.incoming and not sock.socket.peer_eof


def take_buffered_record(records: Any) -> tuple[RecordHeader3, bytearray] | None:
    """``records`` is a tlslite ``RecordSocket``."""
    sock = _memory_socket(records)
    if sock is None:
        return None
    buffered: bytearray = sock._read_buffer
    if not buffered:
        incoming = sock.socket.incoming
        if len(incoming) < 5:
            return None
        # What BufferedSocket.recv(1) does first: pull up to 4096 bytes.
        buffered += incoming[:_PULL]
        del incoming[:_PULL]
    if len(buffered) < 5 or buffered[0] not in _CONTENT_TYPES:
        return None
    length = (buffered[3] << 8) | buffered[4]
    limit = records.recv_record_limit
    if length > limit + 2048 or (records.tls13record and length > limit + 256):
        return None  # tlslite raises TLSRecordOverflow
    end = 5 + length
    if len(buffered) < end:
        return None
    header = RecordHeader3().create((buffered[1], buffered[2]), buffered[0], length)
    body = buffered[5:end]
    del buffered[:end]
    return header, body
