"""Application data without tlslite's per-record Python: the record fast path.

Once a connection is established, almost every record is application data
under an AEAD. tlslite handles each one through several generator layers,
parsers and copies; here a record is sealed or opened with one call into
``cryptography``, using tlslite's own connection state (keys, nonces and
sequence numbers live in ``RecordLayer._writeState``/``_readState`` and stay
the single source of truth).

The fast path only ever takes records it fully understands: a complete
application-data record that decrypts and (in TLS 1.3) carries application
data. Anything else (a handshake message such as KeyUpdate or
NewSessionTicket, an alert, a bad tag, an oversized record) is left where it
is, with the sequence number untouched, for tlslite to process as usual, so
alerts and errors stay exactly tlslite's. RFC 8446 §5.2-5.4, RFC 5246
§6.2.3.3, RFC 5288 §3 (GCM nonces) and RFC 7905 §2 (ChaCha20 nonces).
"""

from __future__ import annotations

import struct
from typing import Any, Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, ChaCha20Poly1305

from ._backend import AEAD_CLASS
from ._record_trace import RecordReport

ALERT = 21
APPLICATION_DATA = 23
_TAG = 16
_HEADER = struct.Struct(">BHH").pack  # type, version 0x0303, length
_READ_HEADER = struct.Struct(">BHH").unpack_from
_TLS12_AAD = struct.Struct(">QBHH").pack  # seq_num + the header (RFC 5246 §6.2.3.3)
# Records opened per call, so one DataReceived stays a bounded size.
_MAX_RECORDS_PER_CALL = 4
# Bodies up to this size are copied out of the input: cheaper than a
# memoryview (created, sliced and released) for a request-sized record.
_COPY_BELOW = 1024
_INNER_TYPE = {content_type: bytes((content_type,)) for content_type in range(256)}  # TLS 1.3 inner type byte


class _Keys:
    """One direction's AEAD parameters, read from a tlslite ConnectionState.

    tlslite replaces the state object whenever keys change (ChangeCipherSpec,
    each TLS 1.3 key derivation, KeyUpdate), so the state's identity says
    whether these are still current; the sequence number is always read
    from and written back to the state itself. The record size limits are
    settled by the time application keys exist (RFC 8449 is negotiated in
    the hellos), so they are read once here too.
    """

    __slots__ = ("state", "aead", "tls13", "explicit_nonce", "fixed", "fixed_bytes", "size_limit", "max_body")
    aead: AESGCM | AESCCM | ChaCha20Poly1305

    def __init__(self, state: Any, context: Any, tls13: bool, size_limit: int) -> None:
        self.state = state
        self.aead = context._aead
        self.tls13 = tls13
        self.explicit_nonce = not tls13 and context.name.startswith("aes")  # RFC 5288 §3
        self.fixed_bytes = bytes(state.fixedNonce)
        self.fixed = int.from_bytes(self.fixed_bytes, "big")
        self.size_limit = size_limit
        # The largest protected body worth decrypting (RFC 8446 §5.2, RFC 5246 §6.2.3).
        self.max_body = size_limit + (256 if tls13 else 2048)


def _keys_for(state: Any, record_layer: Any, size_limit: int) -> _Keys | None:
    context = state.encContext
    if type(context) is not AEAD_CLASS or context.tagLength != _TAG or record_layer.version < (3, 3):
        return None
    return _Keys(state, context, record_layer._is_tls13_plus(), size_limit)


class RecordFastPath:
    """Seals and opens one connection's application-data records."""

    __slots__ = ("tls", "_write", "_read", "on_record")

    def __init__(self, tls: Any) -> None:
        self.tls = tls
        self._write: _Keys | None = None
        self._read: _Keys | None = None
        #: A traced connection's RecordTracer.report (see _record_trace); None untraced.
        self.on_record: RecordReport | None = None

    def seal(self, data: bytes, out: list[bytes], content_type: int = APPLICATION_DATA) -> bool:
        """Append ``data`` to ``out`` as protected records of ``content_type``
        (application data, or an alert), fragmented as tlslite would; False
        (nothing written) when tlslite must do it."""
        tls = self.tls
        state = tls._recordLayer._writeState
        keys = self._write
        if keys is None or keys.state is not state:
            keys = self._write = _keys_for(state, tls._recordLayer, tls.recordSize)
            if keys is None:
                return False
        if tls.closed:
            return False
        encrypt, fixed, size, tls13 = keys.aead.encrypt, keys.fixed, keys.size_limit, keys.tls13
        seq = state.seqnum
        on_record = self.on_record
        if len(data) <= size:  # one record (or none): no slicing
            chunks: Iterable[bytes] = (data,) if data else ()
        else:
            chunks = (data[start : start + size] for start in range(0, len(data), size))
        for chunk in chunks:
            if tls13:  # RFC 8446 §5.2: the real type goes inside, the outer one is application data
                header = _HEADER(APPLICATION_DATA, 0x0303, len(chunk) + 1 + _TAG)
                out.append(header)
                out.append(encrypt((fixed ^ seq).to_bytes(12, "big"), chunk + _INNER_TYPE[content_type], header))
            elif keys.explicit_nonce:
                seq_bytes = seq.to_bytes(8, "big")
                out.append(_HEADER(content_type, 0x0303, 8 + len(chunk) + _TAG) + seq_bytes)
                out.append(encrypt(keys.fixed_bytes + seq_bytes, chunk, _TLS12_AAD(seq, content_type, 0x0303, len(chunk))))
            else:
                out.append(_HEADER(content_type, 0x0303, len(chunk) + _TAG))
                out.append(encrypt((fixed ^ seq).to_bytes(12, "big"), chunk, _TLS12_AAD(seq, content_type, 0x0303, len(chunk))))
            if on_record is not None:
                on_record("sent", out[-2] + out[-1], chunk, content_type, 0, state, seq, tls13)
            seq += 1
        state.seqnum = seq
        return True

    def open(self, incoming: bytearray) -> bytes | None:
        """Decrypt the complete application-data records at the head of ``incoming``.

        Returns their plaintext (possibly ``b""`` for empty records), or None
        when the first record is not one the fast path takes.
        """
        tls = self.tls
        record_layer = tls._recordLayer
        state = record_layer._readState
        keys = self._read
        if keys is None or keys.state is not state:
            keys = self._read = _keys_for(state, record_layer, record_layer.recv_record_limit)
            if keys is None:
                return None
        if tls.closed or record_layer.early_data_ok or any(tls._defragmenter.buffers.values()):
            return None  # (a handshake message or an alert half-read is tlslite's)
        plaintexts: list[bytes] = []
        on_record = self.on_record
        offset = 0
        available = len(incoming)
        seq = state.seqnum
        while available - offset >= 5 and len(plaintexts) < _MAX_RECORDS_PER_CALL:
            content_type, version, body_len = _READ_HEADER(incoming, offset)
            end = offset + 5 + body_len
            if content_type != APPLICATION_DATA or version != 0x0303 or body_len > keys.max_body or end > available:
                break
            if body_len < _COPY_BELOW:
                plaintext = _open_one(keys, seq, incoming[offset:end])
            else:  # no copy of a large ciphertext; the view is released before ``incoming`` is resized
                with memoryview(incoming) as view, view[offset:end] as record:
                    plaintext = _open_one(keys, seq, record)
            if plaintext is None:
                break
            if on_record is not None:
                state.seqnum = seq + 1  # as the tracer expects to find it
                on_record("received", bytes(incoming[offset:end]), plaintext, APPLICATION_DATA, _padding(keys, body_len, plaintext),
                          state, seq, keys.tls13)
            seq += 1
            offset = end
            plaintexts.append(plaintext)
        if not offset:
            return None
        state.seqnum = seq
        del incoming[:offset]
        return plaintexts[0] if len(plaintexts) == 1 else b"".join(plaintexts)


def _padding(keys: _Keys, body_len: int, plaintext: bytes) -> int:
    """TLS 1.3 zero padding of an opened record (traced connections only)."""
    return body_len - _TAG - 1 - len(plaintext) if keys.tls13 else 0


def _open_one(keys: _Keys, seq: int, record: bytearray | memoryview) -> bytes | None:
    """One record's application data (``record``: header and body), or None
    when tlslite should handle it."""
    if keys.tls13:
        try:  # the header is the AAD (RFC 8446 §5.2)
            inner = keys.aead.decrypt((keys.fixed ^ seq).to_bytes(12, "big"), record[5:], record[:5])
        except InvalidTag:
            return None
        if len(inner) > keys.size_limit + 1:
            return None
        if inner and inner[-1] == APPLICATION_DATA:  # no padding: the common case
            return inner[:-1]
        end_of_content = len(inner)
        while end_of_content and not inner[end_of_content - 1]:  # RFC 8446 §5.4 padding
            end_of_content -= 1
        if not end_of_content or inner[end_of_content - 1] != APPLICATION_DATA:
            return None
        return inner[: end_of_content - 1]
    if keys.explicit_nonce:
        nonce, body = keys.fixed_bytes + bytes(record[5:13]), record[13:]
    else:
        nonce, body = (keys.fixed ^ seq).to_bytes(12, "big"), record[5:]
    plain_len = len(body) - _TAG
    if plain_len < 0 or plain_len > keys.size_limit:
        return None
    try:
        return keys.aead.decrypt(nonce, body, _TLS12_AAD(seq, APPLICATION_DATA, 0x0303, plain_len))
    except InvalidTag:
        return None
