"""The dissector: TLS records and handshake messages as trees of named fields.

A second, independent reading of the bytes (it never imports tlslite). Each
:class:`Field` has a byte span (``offset``, ``length``, absolute within the
bytes given), a decoded ``value`` on leaves, a ``meaning`` (the IANA name of
a code point, the text of a host name), and the RFC section defining it.

Rules, tested with hypothesis on real and mutated messages:

1. the children of a field tile its span exactly: no gap, no overlap;
2. re-encoding the leaves (:func:`encode`) gives back the bytes;
3. nothing is dropped: bytes that do not parse become a leaf with
   ``status="malformed"``, an extension purekong does not decode one with
   ``status="unknown"``, and bytes after a complete structure one named
   ``trailing_data`` (malformed).

>>> tree = dissect_handshake(bytes.fromhex("18000001") + b"\\x01")
>>> [(f.name, f.offset, f.length, f.meaning) for f in tree.children[2].children]
[('request_update', 4, 1, 'update_requested')]
>>> encode(tree).hex()
'1800000101'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

from . import _registry as reg

RFC8446 = "RFC 8446"
RFC5246 = "RFC 5246"


@dataclass(frozen=True)
class Field:
    """One named span of bytes, with its sub-fields."""

    name: str
    offset: int
    length: int
    value: int | bytes | None = None  # leaves only: an unsigned integer or raw bytes
    meaning: str = ""
    rfc: str = ""
    children: tuple[Field, ...] = ()
    status: str = ""  # "", "unknown" (not decoded) or "malformed"

    @property
    def end(self) -> int:
        return self.offset + self.length

    def walk(self) -> Iterator[Field]:
        """This field and every field below it, depth first, in byte order."""
        yield self
        for child in self.children:
            yield from child.walk()

    def find(self, name: str) -> Field | None:
        """The first field below (or at) this one with this name."""
        return next((f for f in self.walk() if f.name == name), None)

    def problems(self) -> list[Field]:
        """Every malformed field below (or at) this one."""
        return [f for f in self.walk() if f.status == "malformed"]


def encode(tree: Field) -> bytes:
    """The bytes a field tree stands for, rebuilt from its leaves' values."""
    if not tree.children:
        if isinstance(tree.value, int):
            return tree.value.to_bytes(tree.length, "big")
        return tree.value or b""
    return b"".join(encode(c) for c in tree.children)


class _Short(Exception):
    """Fewer bytes than a field needs (inside the current structure)."""


class Reader:
    """A cursor that appends every field it reads to the structure being built.

    Parsing functions call ``uint``/``opaque``/``vector``/``struct`` in wire
    order; a read past the end of the current structure ends that structure
    with a malformed leaf covering what is left of it.
    """

    def __init__(self, data: bytes, base: int = 0) -> None:
        self.data = data
        self.base = base  # offset of data[0] in the spans
        self.pos = 0
        self.end = len(data)
        self._stack: list[list[Field]] = [[]]

    @property
    def remaining(self) -> int:
        return self.end - self.pos

    def _add(self, f: Field) -> None:
        self._stack[-1].append(f)

    def _take(self, size: int) -> bytes:
        if size > self.end - self.pos:
            raise _Short
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def uint(self, name: str, size: int, names: Callable[[int], str] | dict[int, str] | None = None, rfc: str = "") -> int:
        start = self.pos
        value = int.from_bytes(self._take(size), "big")
        meaning = ""
        if callable(names):
            meaning = names(value)
        elif names is not None:
            meaning = names.get(value, f"unknown({value})")
        self._add(Field(name, self.base + start, size, value, meaning, rfc))
        return value

    def opaque(self, name: str, size: int, rfc: str = "", meaning: str = "", status: str = "") -> bytes:
        start = self.pos
        value = self._take(size)
        self._add(Field(name, self.base + start, size, value, meaning, rfc, status=status))
        return value

    def rest(self, name: str, rfc: str = "", meaning: str = "", status: str = "") -> bytes:
        """The remaining bytes of the current structure as one leaf (none when empty)."""
        if self.remaining == 0:
            return b""
        return self.opaque(name, self.remaining, rfc, meaning, status)

    def text(self, name: str, size: int, rfc: str = "") -> str:
        start = self.pos
        value = self._take(size)
        meaning = value.decode("utf-8", "replace")
        self._add(Field(name, self.base + start, size, value, meaning, rfc))
        return meaning

    def struct(self, name: str, size: int | None, body: Callable[[], object], rfc: str = "", meaning: str = "") -> Field:
        """A structure of ``size`` bytes (None: to the end), parsed by ``body``."""
        start, outer_end = self.pos, self.end
        status = ""
        self.end = outer_end if size is None else min(self.pos + size, outer_end)
        if size is not None and self.pos + size > outer_end:
            status = "malformed"
            meaning = meaning or f"declares {size} bytes, {outer_end - self.pos} present"
        self._stack.append([])
        try:
            body()
            if self.remaining:
                self.opaque("trailing_data", self.remaining, meaning="bytes after the end of the structure", status="malformed")
        except _Short:
            if self.remaining:
                self.opaque("malformed", self.remaining, meaning="too short for the next field", status="malformed")
            else:
                status = "malformed"
                meaning = meaning or "ends before its last field"
        children = self._stack.pop()
        self.pos, self.end = self.end, outer_end
        field = Field(name, self.base + start, self.pos - start, None, meaning, rfc, tuple(children), status)
        self._add(field)
        return field

    def vector(self, name: str, length_size: int, body: Callable[[], object], rfc: str = "", meaning: str = "") -> Field:
        """A length-prefixed vector: the length field, then ``body`` over its content."""
        start, outer_end = self.pos, self.end
        self._stack.append([])
        try:
            size = self.uint("length", length_size, rfc=rfc)
            self.struct("content", size, body) if size else None
        except _Short:
            self.rest("malformed", meaning="too short for a length", status="malformed")
        children = self._stack.pop()
        self.end = outer_end
        status = "malformed" if any(c.status == "malformed" and c.name in ("content", "malformed") for c in children) else ""
        # The content's children become the vector's own, after the length.
        flat: list[Field] = []
        for c in children:
            if c.name == "content" and c.children and not c.status:
                flat.extend(c.children)
            else:
                flat.append(c)
        field = Field(name, self.base + start, self.pos - start, None, meaning, rfc, tuple(flat), status)
        self._add(field)
        return field

    def group(self, name: str, body: Callable[[], object], rfc: str = "") -> Field:
        """A structure with no length of its own: it spans what ``body`` reads."""
        start = self.pos
        self._stack.append([])
        try:
            body()
        finally:
            children = self._stack.pop()
        status = "malformed" if any(c.status == "malformed" for c in children) else ""
        field = Field(name, self.base + start, self.pos - start, None, "", rfc, tuple(children), status)
        self._add(field)
        return field

    def annotate(self, meaning: str, rfc: str = "") -> None:
        """Give the field just read a meaning (and section) found after reading it."""
        last = self._stack[-1][-1]
        self._stack[-1][-1] = Field(last.name, last.offset, last.length, last.value, meaning, rfc or last.rfc, last.children, last.status)

    def items(self, item: Callable[[], object]) -> None:
        """Repeat ``item`` to the end of the current structure."""
        while self.remaining:
            item()

    def result(self) -> Field:
        (tree,) = self._stack[0]
        return tree


# -- records -----------------------------------------------------------------


def dissect_record(raw: bytes, *, protected: bool = False, explicit_nonce_length: int = 0, tag_length: int = 16) -> Field:
    """One record: the header (RFC 8446 §5.1) and its body.

    The body of an alert or ChangeCipherSpec record is decoded; a handshake
    or application_data body is one leaf (``dissect_handshake`` reads the
    reassembled messages). A ``protected`` body is the AEAD output: the
    encrypted content and the tag (``tag_length`` bytes), after an explicit
    nonce in TLS 1.2 AES-GCM (``explicit_nonce_length=8``, RFC 5288 §3).

    >>> [(f.name, f.meaning) for f in dissect_record(bytes.fromhex("15030300020228")).walk()][1:4]
    [('type', 'alert'), ('legacy_record_version', 'TLS 1.2'), ('length', '')]
    """
    r = Reader(raw)

    def body() -> None:
        content_type = r.uint("type", 1, reg.content_type_name, f"{RFC8446} §5.1")
        r.uint("legacy_record_version", 2, reg.version_name, f"{RFC8446} §5.1")
        size = r.uint("length", 2, rfc=f"{RFC8446} §5.1")
        if protected:
            r.struct("encrypted_record", size, lambda: _aead_output(r, explicit_nonce_length, tag_length), f"{RFC8446} §5.2")
        elif content_type == 21:
            r.struct("fragment", size, lambda: _alerts(r), f"{RFC8446} §6")
        elif content_type == 20:
            r.struct("fragment", size, lambda: r.uint("change_cipher_spec", 1, rfc=f"{RFC8446} §5"), f"{RFC8446} §5")
        else:
            r.struct("fragment", size, lambda: r.rest("content", f"{RFC8446} §5.1"), f"{RFC8446} §5.1")

    r.struct("TLSPlaintext" if not protected else "TLSCiphertext", None, body, f"{RFC8446} §5.1")
    return r.result()


def _aead_output(r: Reader, explicit_nonce_length: int, tag_length: int) -> None:
    if explicit_nonce_length:
        r.opaque("explicit_nonce", explicit_nonce_length, "RFC 5288 §3", "the record's part of the nonce (TLS 1.2)")
    r.opaque("encrypted_content", max(r.remaining - tag_length, 0), f"{RFC8446} §5.2", "TLSInnerPlaintext, encrypted")
    r.rest("tag", f"{RFC8446} §5.2", "the AEAD authentication tag")


def _alerts(r: Reader) -> None:
    def alert() -> None:
        r.struct("Alert", 2, lambda: (r.uint("level", 1, reg.ALERT_LEVELS, f"{RFC8446} §6"), r.uint("description", 1, reg.alert_name, f"{RFC8446} §6")))

    r.items(alert)


def dissect_alert(content: bytes) -> Field:
    """A decrypted alert record's content."""
    r = Reader(content)
    r.struct("alerts", None, lambda: _alerts(r), f"{RFC8446} §6")
    return r.result()


# -- handshake messages --------------------------------------------------------


def dissect_handshake(raw: bytes, *, tls13: bool = True) -> Field:
    """One handshake message (header included) as a field tree.

    ``tls13`` picks the TLS 1.3 layout of Certificate, CertificateRequest and
    NewSessionTicket (their TLS 1.2 layouts differ); the hellos need no hint.
    """
    from ._dissect_body import parse_body

    r = Reader(raw)

    def message() -> None:
        msg_type = r.uint("msg_type", 1, reg.handshake_type_name, f"{RFC8446} §4")
        size = r.uint("length", 3, rfc=f"{RFC8446} §4")
        name = reg.handshake_type_name(msg_type)
        parse = parse_body(msg_type, tls13)
        r.struct(_BODY_NAMES.get(name, name), size, lambda: parse(r), _MESSAGE_RFC.get(msg_type, ""))

    r.struct("Handshake", None, message, f"{RFC8446} §4")
    return r.result()


_BODY_NAMES = {
    "client_hello": "ClientHello", "server_hello": "ServerHello", "encrypted_extensions": "EncryptedExtensions",
    "certificate": "Certificate", "certificate_request": "CertificateRequest", "certificate_verify": "CertificateVerify",
    "finished": "Finished", "new_session_ticket": "NewSessionTicket", "key_update": "KeyUpdate",
    "end_of_early_data": "EndOfEarlyData", "server_key_exchange": "ServerKeyExchange",
    "server_hello_done": "ServerHelloDone", "client_key_exchange": "ClientKeyExchange", "message_hash": "message_hash",
}  # fmt: skip

_MESSAGE_RFC = {
    1: f"{RFC8446} §4.1.2", 2: f"{RFC8446} §4.1.3", 4: f"{RFC8446} §4.6.1", 5: f"{RFC8446} §4.5",
    8: f"{RFC8446} §4.3.1", 11: f"{RFC8446} §4.4.2", 12: "RFC 8422 §5.4", 13: f"{RFC8446} §4.3.2",
    14: f"{RFC5246} §7.4.5", 15: f"{RFC8446} §4.4.3", 16: "RFC 8422 §5.7", 20: f"{RFC8446} §4.4.4",
    24: f"{RFC8446} §4.6.3", 254: f"{RFC8446} §4.4.1",
}  # fmt: skip


def check_tiling(tree: Field) -> list[str]:
    """Every place where a field's children do not tile its span (empty: all good).

    >>> check_tiling(Field("x", 0, 3, children=(Field("a", 0, 1, 1), Field("b", 2, 1, 1))))
    ['x: gap or overlap at 1 (child b starts at 2)']
    """
    errors = []
    for f in tree.walk():
        if not f.children:
            continue
        pos = f.offset
        for c in f.children:
            if c.offset != pos:
                errors.append(f"{f.name}: gap or overlap at {pos} (child {c.name} starts at {c.offset})")
            pos = c.end
        if pos != f.end:
            errors.append(f"{f.name}: children end at {pos}, the field at {f.end}")
    return errors
