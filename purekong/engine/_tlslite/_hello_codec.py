"""A faster reader of the ClientHello, for the message tlslite then handles.

The rule: this builds exactly the objects tlslite's parser builds (same
classes, attribute values, types and order); anything it does not fully
understand falls back to tlslite's own parser, so errors and alerts stay
tlslite's. ``parse_client_hello`` returns ``None`` for that fallback.

tlslite reads a ClientHello an integer at a time through its Parser (about
a tenth of a server handshake); here the fields are sliced out of one
bytearray. An extension is built here only when its class's ``parse`` is one
reimplemented below (``_BY_PARSE``); other known types are parsed by tlslite
itself, one extension at a time, exactly as ``ClientHello.parse`` would.
"""

from __future__ import annotations

import sys
from array import array
from typing import Any

from tlslite.constants import ExtensionType, HandshakeType
from tlslite.extensions import (
    ALPNExtension,
    ClientKeyShareExtension,
    IntExtension,
    KeyShareEntry,
    PaddingExtension,
    PreSharedKeyExtension,
    PskIdentity,
    SessionTicketExtension,
    SNIExtension,
    StatusRequestExtension,
    TLSExtension,
    VarBytesExtension,
    VarListExtension,
    VarSeqListExtension,
)
from tlslite.messages import ClientHello
from tlslite.utils.codec import Parser

_PRE_SHARED_KEY = ExtensionType.pre_shared_key


class _Unsure(Exception):
    """These bytes are not what the fast path vouches for: tlslite decides."""


def parse_client_hello(raw: bytes) -> ClientHello | None:
    """The ClientHello in ``raw`` (handshake header included), or None.

    None means "let tlslite parse it": the input is malformed, or uses
    something this module does not reproduce.
    """
    try:
        return _client_hello(bytearray(raw))  # tlslite's values are bytearray slices
    except _Unsure:
        return None


def _client_hello(buf: bytearray) -> ClientHello:
    end = len(buf)
    # The header must announce exactly the bytes given (tlslite would ignore
    # any past that; the engine's framing never passes them).
    if end < 4 + 2 + 32 or buf[0] != HandshakeType.client_hello or int.from_bytes(buf[1:4], "big") != end - 4:
        raise _Unsure
    hello = _new(ClientHello)
    fields = vars(hello)
    fields["client_version"] = (buf[4], buf[5])
    fields["random"] = buf[6:38]
    start, pos = _vector(buf, 38, end, 1)
    if pos - start > 32:
        raise _Unsure  # tlslite: "session_id too long"
    fields["session_id"] = buf[start:pos]
    start, pos = _vector(buf, pos, end, 2)
    fields["cipher_suites"] = _ints(buf, start, pos, 2)
    start, pos = _vector(buf, pos, end, 1)
    fields["compression_methods"] = list(buf[start:pos])
    if pos < end:  # no extension block at all leaves `extensions` None
        start, pos = _vector(buf, pos, end, 2)
        if pos != end:
            raise _Unsure
        fields["extensions"] = _extensions(buf, start, end)
    return hello


def _extensions(buf: bytearray, pos: int, end: int) -> list[Any]:
    extensions: list[Any] = []
    append = extensions.append
    ext_type = None
    while pos < end:
        if ext_type == _PRE_SHARED_KEY:
            raise _Unsure  # not last: an error (RFC 8446 §4.2.11) tlslite's handshake reports
        start = pos + 4
        if start > end:
            raise _Unsure
        ext_type = buf[pos] << 8 | buf[pos + 1]
        stop = start + (buf[pos + 2] << 8 | buf[pos + 3])
        if stop > end:
            raise _Unsure
        cls, build = _BY_TYPE.get(ext_type, _NO_CLASS)
        append(build(_new(cls), buf, start, stop))
        pos = stop
    return extensions


# -- building objects as tlslite's constructors leave them -----------------

_BLANKS: dict[type, tuple[dict, tuple[str, ...]]] = {}
_object_new = object.__new__
_object_setattr = object.__setattr__


def _new(cls: type) -> Any:
    """An instance with the attributes ``cls()`` sets, in the same order.

    Each constructor runs once (they are slow: several levels of __init__
    and CustomNameExtension.__setattr__); the mutable values it creates are
    copied for each instance, as the constructor makes new ones each time.
    """
    fields, mutable = _BLANKS[cls]
    values = fields.copy()
    for key in mutable:
        values[key] = values[key].copy()
    obj: Any = _object_new(cls)
    _object_setattr(obj, "__dict__", values)  # bypasses CustomNameExtension.__setattr__, which would store the same
    return obj


def _remember_blank(cls: type) -> None:
    fields = vars(cls())
    _BLANKS[cls] = fields, tuple(key for key, value in fields.items() if isinstance(value, (list, bytearray)))


# -- the reading primitives -------------------------------------------------


def _vector(buf: bytearray, pos: int, end: int, size: int) -> tuple[int, int]:
    """(start, stop) of the ``size``-byte length-prefixed field at ``pos``.

    It must end by ``end`` (the enclosing structure); tlslite's Parser
    raises in every case where it would not.
    """
    start = pos + size
    if start > end:
        raise _Unsure
    stop = start + _length(buf, pos, size)
    if stop > end:
        raise _Unsure
    return start, stop


def _whole(buf: bytearray, pos: int, end: int, size: int) -> int:
    """Where the data of a length-prefixed field that must fill ``pos:end`` starts."""
    start = pos + size
    if start > end or end - start != _length(buf, pos, size):
        raise _Unsure  # tlslite: "Extra data after extension payload" and similar
    return start


def _length(buf: bytearray, pos: int, size: int) -> int:
    # The caller checked the bounds. Indexing beats slicing for the common sizes.
    if size == 1:
        return buf[pos]
    if size == 2:
        return buf[pos] << 8 | buf[pos + 1]
    return int.from_bytes(buf[pos : pos + size], "big")


_BIG_ENDIAN = sys.byteorder == "big"
assert array("H").itemsize == 2


def _ints(buf: bytearray, start: int, stop: int, size: int) -> list[int]:
    """Parser.getVarList's list of ``size``-byte big-endian integers."""
    if (stop - start) % size:
        raise _Unsure  # tlslite: "Encoded length not a multiple of element length"
    if size == 1:
        return list(buf[start:stop])
    if size == 2:
        values = array("H", buf[start:stop])
        if not _BIG_ENDIAN:
            values.byteswap()
        return values.tolist()
    return [int.from_bytes(buf[i : i + size], "big") for i in range(start, stop, size)]


# -- one function per reimplemented tlslite ``parse`` ----------------------
# Each takes a fresh instance and the payload's bounds ``pos:end``, and does
# what the method named in _BY_PARSE does: an empty payload, the fields, no
# trailing data.


_ServerName = SNIExtension.ServerName
_server_name = tuple.__new__  # the namedtuple's own __new__ is this, through a Python wrapper


def _sni(ext: Any, buf: bytearray, pos: int, end: int) -> Any:
    if pos == end:
        return ext  # serverNames stays None
    names = ext.serverNames = []  # an empty list stays empty, unlike a missing one
    start = _whole(buf, pos, end, 2)
    while start < end:
        name_type = buf[start]
        name_start, start = _vector(buf, start + 1, end, 2)
        names.append(_server_name(_ServerName, (name_type, buf[name_start:start])))
    return ext


def _status_request(ext: Any, buf: bytearray, pos: int, end: int) -> Any:
    if pos == end:
        return ext  # status_type None, empty responder_id_list and request_extensions
    fields = vars(ext)
    fields["status_type"] = buf[pos]
    responders = fields["responder_id_list"]
    start, stop = _vector(buf, pos + 1, end, 2)
    while start < stop:
        id_start, start = _vector(buf, start, stop, 2)
        responders.append(buf[id_start:start])
    start = _whole(buf, stop, end, 2)
    fields["request_extensions"] = buf[start:end]
    return ext


def _var_list(ext: Any, buf: bytearray, pos: int, end: int) -> Any:
    if pos != end:
        fields = vars(ext)
        start = _whole(buf, pos, end, fields["_lengthLength"])
        fields["_internal_value"] = _ints(buf, start, end, fields["_elemLength"])
    return ext


def _var_tuple_list(ext: Any, buf: bytearray, pos: int, end: int) -> Any:
    if pos != end:
        fields = vars(ext)
        start = _whole(buf, pos, end, fields["_lengthLength"])
        size, count = fields["_elemLength"], fields["_elemNum"]
        if (end - start) % (size * count):
            raise _Unsure  # tlslite: "Encoded length not a multiple of element length"
        items = iter(buf[start:end] if size == 1 else _ints(buf, start, end, size))
        fields["_internal_value"] = list(zip(items, items) if count == 2 else zip(*[items] * count))
    return ext


def _var_bytes(ext: Any, buf: bytearray, pos: int, end: int) -> Any:
    if pos != end:
        fields = vars(ext)
        start = _whole(buf, pos, end, fields["_length_length"])
        fields["_internal_value"] = buf[start:end]
    return ext


def _int(ext: Any, buf: bytearray, pos: int, end: int) -> Any:
    if pos != end:
        fields = vars(ext)
        if end - pos != fields["_elem_length"]:
            raise _Unsure
        fields["_internal_value"] = int.from_bytes(buf[pos:end], "big")
    return ext


def _alpn(ext: Any, buf: bytearray, pos: int, end: int) -> Any:
    # An empty payload raises here, as in tlslite.
    ext.protocol_names = _short_strings(buf, _whole(buf, pos, end, 2), end)
    return ext


def _padding(ext: Any, buf: bytearray, pos: int, end: int) -> Any:
    ext.paddingData = buf[pos:end]
    return ext


def _session_ticket(ext: Any, buf: bytearray, pos: int, end: int) -> Any:
    ext.ticket = buf[pos:end]  # an empty one is bytearray(0) in tlslite too
    return ext


def _key_share(ext: Any, buf: bytearray, pos: int, end: int) -> Any:
    if pos == end:
        return ext  # client_shares stays None
    shares = ext.client_shares = []
    start = _whole(buf, pos, end, 2)
    while start < end:
        if start + 2 > end:
            raise _Unsure
        entry = _new(KeyShareEntry)
        entry.group = buf[start] << 8 | buf[start + 1]
        key_start, start = _vector(buf, start + 2, end, 2)
        entry.key_exchange = buf[key_start:start]
        shares.append(entry)
    return ext


def _pre_shared_key(ext: Any, buf: bytearray, pos: int, end: int) -> Any:
    if pos == end:
        return ext  # identities and binders stay None
    identities = ext.identities = []
    start, stop = _vector(buf, pos, end, 2)
    while start < stop:
        identity = _new(PskIdentity)
        id_start, start = _vector(buf, start, stop, 2)
        identity.identity = buf[id_start:start]
        if start + 4 > stop:
            raise _Unsure
        identity.obfuscated_ticket_age = int.from_bytes(buf[start : start + 4], "big")
        start += 4
        identities.append(identity)
    ext.binders = _short_strings(buf, _whole(buf, stop, end, 2), end)
    return ext


def _short_strings(buf: bytearray, start: int, end: int) -> list[bytearray]:
    """The 1-byte-length-prefixed strings filling ``start:end`` (ALPN names, PSK binders)."""
    strings = []
    while start < end:
        string_start, start = _vector(buf, start, end, 1)
        strings.append(buf[string_start:start])
    return strings


def _unknown(ext: Any, buf: bytearray, pos: int, end: int) -> Any:
    # A type tlslite has no class for: TLSExtension keeps the raw payload.
    fields = vars(ext)
    fields["extType"] = buf[pos - 4] << 8 | buf[pos - 3]
    fields["_extData"] = buf[pos:end]
    return ext


def _tlslite(ext: Any, buf: bytearray, pos: int, end: int) -> Any:
    # A class whose parse is not reimplemented here (``ext`` goes unused):
    # tlslite parses this one extension, header included, as ClientHello.parse would.
    try:
        return TLSExtension().parse(Parser(buf[pos - 4 : end]))
    except Exception:  # tlslite's own error: its full parse will raise it again
        raise _Unsure from None


_BY_PARSE = {
    SNIExtension.parse: _sni,
    StatusRequestExtension.parse: _status_request,
    VarListExtension.parse: _var_list,  # supported_groups, ec_point_formats, psk modes, ...
    VarSeqListExtension.parse: _var_tuple_list,  # signature_algorithms(_cert), supported_versions
    VarBytesExtension.parse: _var_bytes,  # renegotiation_info, cookie
    IntExtension.parse: _int,  # record_size_limit
    ALPNExtension.parse: _alpn,
    PaddingExtension.parse: _padding,
    SessionTicketExtension.parse: _session_ticket,
    ClientKeyShareExtension.parse: _key_share,
    PreSharedKeyExtension.parse: _pre_shared_key,
}

# TLSExtension().parse, as ClientHello.parse calls it, looks a type up in
# _universalExtensions only (the server, HRR and Certificate tables need
# flags it leaves off). A class is built here when its parse is one of the
# above; one that overrides parse (heartbeat, srp, ...) is left to tlslite.
_BY_TYPE = {
    ext_type: (cls, _BY_PARSE[cls.parse]) if cls.parse in _BY_PARSE else (TLSExtension, _tlslite)
    for ext_type, cls in TLSExtension._universalExtensions.items()
}
_NO_CLASS = (TLSExtension, _unknown)

for _cls in {ClientHello, KeyShareEntry, PskIdentity, *(cls for cls, _ in _BY_TYPE.values())}:
    _remember_blank(_cls)
