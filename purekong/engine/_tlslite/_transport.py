"""A socket stand-in that keeps bytes in memory, so tlslite never sees a socket.

The one such stand-in in the project: the driver runs every connection on
it, and tests/engine/test_backend.py and the benchmarks drive plain tlslite
connections over it too. It imports nothing but ``errno`` (the benchmarks
load it from its file so that their plain-tlslite column stays unpatched).
"""

from __future__ import annotations

import errno


class MemoryTransport:
    """What tlslite's ``TLSConnection`` reads from and writes to.

    tlslite turns an ``OSError`` whose ``args[0]`` is EWOULDBLOCK into
    "yield 0" (need input); a bare ``BlockingIOError()`` would crash it.
    """

    def __init__(self) -> None:
        self.incoming = bytearray()
        # Written pieces, joined once by take(): a sealed record is appended
        # without being copied into a growing buffer first.
        self.outgoing: list[bytes] = []
        self.peer_eof = False
        self.closed = False

    # -- engine side -------------------------------------------------------
    def write(self, data: bytes) -> None:
        self.outgoing.append(data if type(data) is bytes else bytes(data))

    def take(self) -> bytes:
        pieces = self.outgoing
        if not pieces:
            return b""
        if len(pieces) == 1:
            out = pieces[0]
        else:
            out = b"".join(pieces)
        pieces.clear()
        return out

    # -- tlslite side: the socket interface --------------------------------
    def recv(self, bufsize: int) -> bytes:
        if not self.incoming:
            if self.peer_eof:
                return b""  # tlslite raises TLSAbruptCloseError
            raise BlockingIOError(errno.EWOULDBLOCK, "no buffered input")
        data = bytes(self.incoming[:bufsize])
        del self.incoming[:bufsize]
        return data

    def send(self, data: bytes) -> int:
        self.write(data)
        return len(data)

    def sendall(self, data: bytes) -> None:
        self.write(data)

    def close(self) -> None:
        self.closed = True

    def shutdown(self, how: int) -> None:
        pass
