"""Every record in and out, reported to a traced connection's observer.

Installed only on a connection that has a ``trace=`` callback (so an
untraced connection runs tlslite's record layer untouched): it wraps, on
this one connection's objects, the four places of tlslite's RecordLayer a
record passes (``_recordSocket.send``/``recv`` see the raw record,
``_encryptThenSeal``/``_decryptAndUnseal`` its keys' state and sequence
number), and the record fast path (``_records``) reports through the same
``report`` for the records it takes. Nonce and additional data are derived
from the raw record and the state as RFC 8446 §5.2-5.3, RFC 5288 §3 and
RFC 7905 §2 define them (purekong.inspect recomputes them independently and
compares).
"""

from __future__ import annotations

from typing import Any, Callable

from .._trace import RecordTrace

_TAG = 16
_HEADER = 5

#: (direction, raw, plaintext, inner type, padding, state or None, seq, tls13)
RecordReport = Callable[[str, bytes, bytes, int, int, Any, int, bool], None]


class RecordTracer:
    """Builds RecordTrace events for one connection; ``report`` is the one entry point."""

    def __init__(self, emit: Callable[[RecordTrace], None]) -> None:
        self._emit = emit
        self._states: dict[str, list[Any]] = {"sent": [], "received": []}  # key states seen, in order (the epochs)

    def report(self, direction: str, raw: bytes, plaintext: bytes, inner_type: int, padding: int,
               state: Any, seq: int, tls13: bool) -> None:
        if state is None:
            self._emit(RecordTrace(direction, "plaintext", raw, raw[0], inner_type, plaintext))
            return
        nonce, aad = protection(raw, state, seq, tls13, len(plaintext) + (1 + padding if tls13 else 0))
        self._emit(RecordTrace(direction, self._epoch(direction, state, tls13), raw, raw[0], inner_type, plaintext,
                               padding, seq, nonce, aad, raw[-_TAG:]))

    def _epoch(self, direction: str, state: Any, tls13: bool) -> str:
        """TLS 1.3: handshake, application, application_1...; TLS 1.2: application."""
        seen = self._states[direction]  # tlslite replaces the state object at each change of keys
        index = next((i for i, s in enumerate(seen) if s is state), len(seen))
        if index == len(seen):
            seen.append(state)
        if not tls13:
            return "application" if index == 0 else f"application_{index}"
        return "handshake" if index == 0 else "application" if index == 1 else f"application_{index - 1}"

    def attach(self, tls: Any) -> None:
        """Wrap this connection's record layer (instance attributes; the class is untouched).

        A record is sealed just before it is sent, and read just before it
        is opened, so one slot each way carries what the second hook needs.
        """
        layer = tls._recordLayer
        socket = layer._recordSocket
        sealing: list[tuple[Any, int, bytes]] = []  # (state, seq, plaintext as sealed)
        opening: list[tuple[Any, int]] = []
        read: list[bytes] = []
        send, recv = socket.send, socket.recv
        seal, unseal, recv_record = layer._encryptThenSeal, layer._decryptAndUnseal, layer.recvRecord
        report = self.report

        def seal_hook(buf: bytearray, content_type: int) -> Any:
            sealing[:] = [(layer._writeState, layer._writeState.seqnum, bytes(buf))]
            return seal(buf, content_type)

        def send_hook(msg: Any, padding: int = 0) -> Any:
            data = bytes(msg.write())
            raw = bytes((msg.contentType, *socket.version)) + len(data).to_bytes(2, "big") + data
            if sealing:
                (state, seq, plaintext), tls13 = sealing.pop(), layer._is_tls13_plus()
                report("sent", raw, *_inner(plaintext, msg.contentType, tls13), state, seq, tls13)
            else:
                report("sent", raw, data, msg.contentType, 0, None, 0, False)
            return send(msg, padding)

        def recv_hook() -> Any:
            for result in recv():
                if result not in (0, 1):
                    header, data = result
                    read[:] = [bytes(header.write()) + bytes(data)]
                yield result

        def unseal_hook(header: Any, buf: bytearray) -> Any:
            opening[:] = [(layer._readState, layer._readState.seqnum)]
            return unseal(header, buf)

        def recv_record_hook() -> Any:
            for result in recv_record():
                if result not in (0, 1) and read:
                    header, parser = result
                    raw, content = read.pop(), bytes(parser.bytes)
                    state, seq = opening.pop() if opening else (None, 0)
                    tls13 = layer._is_tls13_plus()
                    report("received", raw, content, header.type, _padding_of(raw, content, state, tls13), state, seq, tls13)
                yield result

        socket.send, socket.recv = send_hook, recv_hook
        layer._encryptThenSeal, layer._decryptAndUnseal, layer.recvRecord = seal_hook, unseal_hook, recv_record_hook


def _inner(buf: bytes, outer_type: int, tls13: bool) -> tuple[bytes, int, int]:
    """(content, real type, padding) of a record's plaintext as sealed."""
    if not tls13:
        return buf, outer_type, 0
    end = len(buf)
    while end and not buf[end - 1]:
        end -= 1
    return buf[: end - 1], buf[end - 1] if end else 0, len(buf) - end


def _padding_of(raw: bytes, content: bytes, state: Any, tls13: bool) -> int:
    """TLS 1.3 zero padding: what the body holds beyond content, type byte and tag."""
    if state is None or not tls13:
        return 0
    return max(0, len(raw) - _HEADER - _TAG - 1 - len(content))


def protection(raw: bytes, state: Any, seq: int, tls13: bool, sealed_length: int) -> tuple[bytes, bytes]:
    """(nonce, additional data) of one protected record (``sealed_length``: the AEAD's plaintext length)."""
    fixed = bytes(state.fixedNonce)
    explicit = not tls13 and state.encContext.name.startswith("aes")
    if explicit:  # RFC 5288 §3: a 4-byte salt and the 8 explicit bytes the record carries
        nonce = fixed + raw[_HEADER : _HEADER + 8]
    else:  # RFC 8446 §5.3, RFC 7905 §2: the IV XOR the sequence number
        nonce = (int.from_bytes(fixed, "big") ^ seq).to_bytes(len(fixed), "big")
    if tls13:
        return nonce, raw[:_HEADER]
    return nonce, seq.to_bytes(8, "big") + raw[:3] + sealed_length.to_bytes(2, "big")
