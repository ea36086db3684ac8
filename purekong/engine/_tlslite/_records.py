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

from cryptography.exceptions import InvalidTag

from ._backend import AEAD_CLASS

APPLICATION_DATA = 23
_TAG = 16
# Records opened per call, so one DataReceived stays a bounded size.
_MAX_RECORDS_PER_CALL = 4


def _aead(state):
    context = state.encContext
    return context if type(context) is AEAD_CLASS and context.tagLength == _TAG else None


def can_write(tls) -> bool:
    record_layer = tls._recordLayer
    return not tls.closed and record_layer.version >= (3, 3) and _aead(record_layer._writeState) is not None


def seal(tls, data: bytes, out: bytearray) -> None:
    """Append ``data`` to ``out`` as protected records (fragmented as tlslite would)."""
    record_layer = tls._recordLayer
    state = record_layer._writeState
    context = _aead(state)
    aead, tls13 = context._aead, record_layer._is_tls13_plus()
    explicit_nonce = not tls13 and context.name.startswith("aes")
    fixed = int.from_bytes(state.fixedNonce, "big")
    size = tls.recordSize
    for start in range(0, len(data), size):
        chunk = data[start : start + size]
        seq = state.seqnum
        state.seqnum = seq + 1
        if tls13:
            body_len = len(chunk) + 1 + _TAG
            header = bytes((APPLICATION_DATA, 3, 3, body_len >> 8, body_len & 0xFF))
            out += header
            out += aead.encrypt((fixed ^ seq).to_bytes(12, "big"), chunk + b"\x17", header)
            continue
        seq_bytes = seq.to_bytes(8, "big")
        aad = seq_bytes + bytes((APPLICATION_DATA, 3, 3, len(chunk) >> 8, len(chunk) & 0xFF))
        if explicit_nonce:
            body_len = 8 + len(chunk) + _TAG
            out += bytes((APPLICATION_DATA, 3, 3, body_len >> 8, body_len & 0xFF))
            out += seq_bytes
            out += aead.encrypt(bytes(state.fixedNonce) + seq_bytes, chunk, aad)
        else:
            body_len = len(chunk) + _TAG
            out += bytes((APPLICATION_DATA, 3, 3, body_len >> 8, body_len & 0xFF))
            out += aead.encrypt((fixed ^ seq).to_bytes(12, "big"), chunk, aad)


def open_records(tls, incoming: bytearray) -> bytes | None:
    """Decrypt the complete application-data records at the head of ``incoming``.

    Returns their plaintext (possibly ``b""`` for empty records), or None
    when the first record is not one the fast path takes.
    """
    record_layer = tls._recordLayer
    state = record_layer._readState
    context = _aead(state)
    if (
        context is None
        or tls.closed
        or record_layer.early_data_ok
        or record_layer.version < (3, 3)
        or any(tls._defragmenter.buffers.values())  # a handshake message is half-read
    ):
        return None
    aead, tls13 = context._aead, record_layer._is_tls13_plus()
    explicit_nonce = not tls13 and context.name.startswith("aes")
    limit = record_layer.recv_record_limit
    max_body = limit + 256 if tls13 else limit + 2048
    fixed = int.from_bytes(state.fixedNonce, "big")
    plaintexts = []
    offset = 0
    view = memoryview(incoming)  # no copy of the ciphertext; released before resizing
    try:
        while len(plaintexts) < _MAX_RECORDS_PER_CALL and len(incoming) - offset >= 5:
            if incoming[offset] != APPLICATION_DATA or incoming[offset + 1] != 3 or incoming[offset + 2] != 3:
                break
            body_len = (incoming[offset + 3] << 8) | incoming[offset + 4]
            end = offset + 5 + body_len
            if body_len > max_body or end > len(incoming):
                break
            header = bytes(incoming[offset : offset + 5])
            seq = state.seqnum
            with view[offset + 5 : end] as body:
                plaintext = _open_one(aead, tls13, explicit_nonce, state, fixed, seq, header, body, limit)
            if plaintext is None:
                break
            state.seqnum = seq + 1
            offset = end
            plaintexts.append(plaintext)
    finally:
        view.release()
    if not offset:
        return None
    del incoming[:offset]
    return b"".join(plaintexts)


def _open_one(aead, tls13, explicit_nonce, state, fixed, seq, header, body, limit):
    """One record's application data, or None when tlslite should handle it."""
    if tls13:
        try:
            inner = aead.decrypt((fixed ^ seq).to_bytes(12, "big"), body, header)
        except InvalidTag:
            return None
        end_of_content = len(inner)
        while end_of_content and not inner[end_of_content - 1]:  # RFC 8446 §5.4 padding
            end_of_content -= 1
        if not end_of_content or inner[end_of_content - 1] != APPLICATION_DATA or len(inner) > limit + 1:
            return None
        return inner[: end_of_content - 1]
    seq_bytes = seq.to_bytes(8, "big")
    if explicit_nonce:
        nonce, body = bytes(state.fixedNonce) + bytes(body[:8]), body[8:]
    else:
        nonce = (fixed ^ seq).to_bytes(12, "big")
    plain_len = len(body) - _TAG
    if plain_len < 0 or plain_len > limit:
        return None
    aad = seq_bytes + bytes((APPLICATION_DATA, 3, 3, plain_len >> 8, plain_len & 0xFF))
    try:
        return aead.decrypt(nonce, body, aad)
    except InvalidTag:
        return None
