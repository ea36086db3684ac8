"""Strategies for handshake messages, extension lists, records, alerts and deliveries.

Public through ``purekong.testing.strategies``. Message bodies are
structurally valid encodings (every length right, every field in range);
their content is arbitrary, because a receiver must refuse a message by its
place in the handshake and its fields, whatever bytes they hold.
"""

from __future__ import annotations

from typing import Sequence

from hypothesis import strategies as st

from purekong.engine import AlertDescription as A

from ._labelled import Labelled, tell
from ._pair import Delivery
from ._wire import (
    CONTENT_TYPES,
    EXTENSIONS,
    GROUP_CODES,
    HANDSHAKE_CODES,
    HRR_RANDOM,
    MAX_RECORD,
    SIGNATURE_SCHEMES,
    TLS12_SUITES,
    TLS13_SUITES,
    handshake,
    record,
    u16,
    vec,
)

_opaque = st.binary(max_size=40)
_random = st.binary(min_size=32, max_size=32)
_scheme = st.sampled_from(sorted(SIGNATURE_SCHEMES))
_group = st.sampled_from(sorted(GROUP_CODES.values()))
_u32 = st.integers(0, 2**32 - 1)


# -- extension lists ------------------------------------------------------------

def extension_lists(*, types: Sequence[int] | None = None, max_size: int = 6, unique: bool = True) -> st.SearchStrategy[bytes]:
    """An extension block (2-byte length, then type/length/body entries), bodies arbitrary.

    ``types`` limits the extension types (default: every type the kit
    names plus unknown ones); ``unique=False`` allows repeats::

        >>> block = pks.extension_lists(types=[0, 16], max_size=1).example()
        >>> int.from_bytes(block[:2], "big") == len(block) - 2
        True
    """
    if max_size < 0:
        raise ValueError("max_size must be at least 0")
    if types is not None and not types:
        raise ValueError("types must not be empty (leave it out for any type)")
    type_strategy = st.sampled_from(tuple(types)) if types is not None else (st.sampled_from(sorted(EXTENSIONS)) | st.integers(0, 0xFFFF))
    entries = st.lists(st.tuples(type_strategy, st.binary(max_size=24)), max_size=max_size,
                       unique_by=(lambda e: e[0]) if unique else None)
    return entries.map(lambda items: vec(b"".join(u16(t) + vec(b, 2) for t, b in items), 2))


# -- handshake messages ---------------------------------------------------------

def _body(name: str, version: str) -> st.SearchStrategy[bytes]:
    tls13 = version == "TLSv1.3"
    hash_len = st.sampled_from([32, 48])
    if name == "ServerHello":
        suites = TLS13_SUITES if tls13 else TLS12_SUITES
        versions = u16(43) + vec(u16(0x0304), 2) if tls13 else b""
        return st.builds(lambda r, sid, s, exts: u16(0x0303) + r + vec(sid, 1) + u16(s) + b"\x00" + vec(versions + exts, 2),
                         _random, st.sampled_from([b"", bytes(32)]), st.sampled_from(suites),
                         st.just(b"") if tls13 else st.sampled_from([b"", u16(23) + vec(b"", 2)]))
    if name == "HelloRetryRequest":
        return st.builds(lambda sid, s, g: u16(0x0303) + HRR_RANDOM + vec(sid, 1) + u16(s) + b"\x00"
                         + vec(u16(43) + vec(u16(0x0304), 2) + u16(51) + vec(u16(g), 2), 2),
                         st.sampled_from([b"", bytes(32)]), st.sampled_from(TLS13_SUITES), _group)
    if name == "EncryptedExtensions":
        return extension_lists(types=[0, 10, 16], max_size=2)
    if name == "Certificate":
        cert = st.binary(min_size=1, max_size=60)
        if tls13:
            entries = st.lists(cert.map(lambda c: vec(c, 3) + vec(b"", 2)), max_size=3)
            return st.builds(lambda ctx, es: vec(ctx, 1) + vec(b"".join(es), 3), st.sampled_from([b"", b"\x01"]), entries)
        return st.lists(cert.map(lambda c: vec(c, 3)), max_size=3).map(lambda es: vec(b"".join(es), 3))
    if name == "CertificateRequest":
        if tls13:
            return st.builds(lambda ctx, schemes: vec(ctx, 1) + vec(u16(13) + vec(vec(b"".join(map(u16, schemes)), 2), 2), 2),
                             st.sampled_from([b"", b"\x00"]), st.lists(_scheme, min_size=1, max_size=4, unique=True))
        return st.builds(lambda schemes: vec(b"\x40\x01", 1) + vec(b"".join(map(u16, schemes)), 2) + vec(b"", 2),
                         st.lists(_scheme, min_size=1, max_size=4, unique=True))
    if name == "CertificateVerify":
        return st.builds(lambda s, sig: u16(s) + vec(sig, 2), _scheme, st.binary(min_size=1, max_size=72))
    if name == "Finished":
        return hash_len.flatmap(lambda n: st.binary(min_size=n, max_size=n)) if tls13 else st.binary(min_size=12, max_size=12)
    if name == "NewSessionTicket":
        if tls13:
            return st.builds(lambda life, add, nonce, t: life.to_bytes(4, "big") + add.to_bytes(4, "big") + vec(nonce, 1) + vec(t, 2) + vec(b"", 2),
                             st.integers(0, 604_800), _u32, st.binary(max_size=8), st.binary(min_size=1, max_size=60))
        return st.builds(lambda life, t: life.to_bytes(4, "big") + vec(t, 2), st.integers(0, 604_800), st.binary(max_size=60))
    if name == "KeyUpdate":
        return st.sampled_from([b"\x00", b"\x01"])
    if name == "ServerKeyExchange":
        return st.builds(lambda g, point, s, sig: b"\x03" + u16(g) + vec(point, 1) + u16(s) + vec(sig, 2),
                         _group, st.binary(min_size=32, max_size=65), _scheme, st.binary(min_size=1, max_size=72))
    if name == "ClientKeyExchange":
        return st.binary(min_size=32, max_size=65).map(lambda point: vec(point, 1))
    if name in ("ServerHelloDone", "HelloRequest", "EndOfEarlyData"):
        return st.just(b"")
    raise AssertionError(name)


#: The messages each version has (HelloRetryRequest is a ServerHello on the wire).
MESSAGES = {
    "TLSv1.3": ("ServerHello", "HelloRetryRequest", "EncryptedExtensions", "Certificate", "CertificateRequest",
                "CertificateVerify", "Finished", "NewSessionTicket", "KeyUpdate", "EndOfEarlyData"),
    "TLSv1.2": ("HelloRequest", "ServerHello", "Certificate", "ServerKeyExchange", "CertificateRequest", "ServerHelloDone",
                "ClientKeyExchange", "CertificateVerify", "Finished", "NewSessionTicket"),
}
#: How a message can be malformed; each makes one change and names it.
MESSAGE_DEFECTS = ("one_byte_short", "one_byte_too_long", "length_one_less")


@st.composite
def _messages(draw: st.DrawFn, version: str, names: tuple[str, ...], defects: tuple[str, ...]) -> Labelled:
    name = draw(st.sampled_from(names))
    body = draw(_body(name, version))
    code = HANDSHAKE_CODES.get(name, 2)
    defect = draw(st.sampled_from(defects)) if defects else None
    if defect is None:
        return tell(Labelled(handshake(code, body), f"{version} {name}"))
    if defect == "one_byte_short":
        if not body:
            defect = "one_byte_too_long"
        else:
            return tell(Labelled(handshake(code, body[:-1]), f"{name} one byte short", defect, (A.decode_error,), "RFC 8446 §6"))
    if defect == "one_byte_too_long":
        extra = draw(st.binary(min_size=1, max_size=1))
        return tell(Labelled(handshake(code, body + extra), f"{name} one byte too long", defect, (A.decode_error,), "RFC 8446 §6"))
    # The header announces one byte less than the body has: the last byte
    # becomes the start of a next message.
    message = handshake(code, body)
    announced = max(len(body) - 1, 0)
    return tell(Labelled(message[:1] + announced.to_bytes(3, "big") + message[4:], f"{name} whose length field is one less than its body",
                         "length_one_less", (A.decode_error, A.unexpected_message), "RFC 8446 §6"))


def handshake_messages(
    *,
    version: str = "TLSv1.3",
    types: Sequence[str] | None = None,
    defective: bool | None = False,
) -> st.SearchStrategy[Labelled]:
    """Handshake messages (header included) of ``version``; ``types`` by name (see ``MESSAGES``).

    With ``defective=True`` each has exactly one length defect (``"Finished
    one byte short"``); ``None`` mixes valid and defective::

        >>> msg = pks.handshake_messages(types=["Finished"], defective=True).example()
        >>> msg.label.startswith("Finished ")
        True
    """
    if version not in MESSAGES:
        raise ValueError(f"version must be one of {', '.join(MESSAGES)}, not {version!r}")
    names = MESSAGES[version] if types is None else tuple(types)
    unknown = [n for n in names if n not in MESSAGES[version]]
    if not names or unknown:
        raise ValueError(f"types: {'empty' if not names else 'not ' + version + ' messages: ' + ', '.join(unknown)} (choose from {', '.join(MESSAGES[version])})")
    defects: tuple = () if defective is False else MESSAGE_DEFECTS if defective else (None, *MESSAGE_DEFECTS)
    return _messages(version, names, defects)


# -- records --------------------------------------------------------------------

RECORD_DEFECTS = {
    "length_plus_one": ("record whose length field is one more than its payload", (A.decode_error, A.unexpected_message, A.record_overflow)),
    "unknown_content_type": ("record of unknown content type", (A.unexpected_message,)),
    "wrong_version": ("record with version 0x0200", (A.protocol_version, A.decode_error, A.illegal_parameter)),
    "oversized": ("plaintext record of 2^14 + 1 bytes", (A.record_overflow,)),
    "empty_handshake": ("zero-length handshake record", (A.unexpected_message, A.decode_error)),
}


@st.composite
def _layout(draw: st.DrawFn, messages: tuple[bytes, ...], content_type: int) -> Labelled:
    stream = b"".join(messages)
    how = draw(st.sampled_from(["one_per_message", "coalesced", "fragmented"]))
    if how == "one_per_message":
        out = b"".join(record(content_type, m) for m in messages)
        label = f"{len(messages)} messages, one record each"
    elif how == "coalesced" or not stream:
        out = record(content_type, stream)
        label = f"{len(messages)} messages coalesced in one record"
    else:
        cuts = sorted(set(draw(st.lists(st.integers(1, max(1, len(stream) - 1)), min_size=1, max_size=6))))
        points = [0, *[c for c in cuts if 0 < c < len(stream)], len(stream)]
        out = b"".join(record(content_type, stream[a:b]) for a, b in zip(points, points[1:]))
        label = f"{len(messages)} messages fragmented into {len(points) - 1} records"
    return tell(Labelled(out, label))


def record_layouts(messages: Sequence[bytes], *, content_type: int = 22) -> st.SearchStrategy[Labelled]:
    """Valid record streams carrying ``messages``: one record each, coalesced, or fragmented::

        >>> stream = pks.record_layouts([b"\\x0e\\x00\\x00\\x00"]).example()
        >>> stream.data[:1]
        b'\\x16'
    """
    if content_type not in CONTENT_TYPES:
        raise ValueError(f"content_type {content_type} is none of {sorted(CONTENT_TYPES)}")
    if len(b"".join(messages)) > MAX_RECORD and content_type != 22:
        raise ValueError("only handshake data may span several records here")
    return _layout(tuple(messages), content_type)


@st.composite
def _bad_record(draw: st.DrawFn, payload: bytes, names: tuple[str, ...]) -> Labelled:
    name = draw(st.sampled_from(names))
    label, alerts = RECORD_DEFECTS[name]
    if name == "length_plus_one":
        data = b"\x16\x03\x03" + u16(len(payload) + 1) + payload
    elif name == "unknown_content_type":
        kind = draw(st.sampled_from([0, 19, 25, 26, 255]))
        data, label = record(kind, payload), f"record of unknown content type {kind}"
    elif name == "wrong_version":
        data = record(22, payload, 0x0200)
    elif name == "oversized":
        data = record(22, payload + bytes(MAX_RECORD + 1 - len(payload)) if len(payload) <= MAX_RECORD else payload)
    else:
        data = record(22, b"")
    return tell(Labelled(data, label, name, alerts, "RFC 8446 §5.1 / RFC 5246 §6.2.1"))


def defective_records(payload: bytes = b"\x01\x00\x00\x00", *, defects: Sequence[str] | None = None) -> st.SearchStrategy[Labelled]:
    """A record around ``payload`` with one named defect (see ``RECORD_DEFECTS``)::

        >>> bad = pks.defective_records(defects=["oversized"]).example()
        >>> bad.label, len(bad.data)
        ('plaintext record of 2^14 + 1 bytes', 16390)
    """
    names = tuple(RECORD_DEFECTS) if defects is None else tuple(defects)
    unknown = [n for n in names if n not in RECORD_DEFECTS]
    if not names or unknown:
        raise ValueError(f"defects: {'empty' if not names else 'unknown ' + ', '.join(unknown)} (known: {', '.join(RECORD_DEFECTS)})")
    if len(payload) > MAX_RECORD:
        raise ValueError(f"payload of {len(payload)} bytes does not fit one record ({MAX_RECORD})")
    return _bad_record(bytes(payload), names)


def record_paddings(*, max_size: int = 2**14 + 256) -> st.SearchStrategy[int]:
    """TLS 1.3 record padding lengths (zero bytes after the inner content type, RFC 8446 §5.4), for
    ``AttackerPeer(padding=...)``; shrinks towards no padding::

        >>> 0 <= pks.record_paddings(max_size=10).example() <= 10
        True
    """
    if max_size < 0:
        raise ValueError("max_size must be at least 0")
    return st.integers(0, max_size)


# -- alerts ---------------------------------------------------------------------

@st.composite
def _alerts(draw: st.DrawFn, defective: bool) -> Labelled:
    description = draw(st.sampled_from(list(A)))
    if not defective:
        level = 1 if description in (A.close_notify, A.user_canceled) else 2
        return tell(Labelled(record(21, bytes([level, description])), f"{'warning' if level == 1 else 'fatal'} {description.name} alert"))
    kind = draw(st.sampled_from(["three_bytes", "one_byte", "unknown_level", "empty"]))
    payload, label = {
        "three_bytes": (bytes([2, description, 0]), "alert record of 3 bytes"),
        "one_byte": (bytes([2]), "alert record of 1 byte"),
        "unknown_level": (bytes([3, description]), f"{description.name} alert with level 3"),
        "empty": (b"", "empty alert record"),
    }[kind]
    return tell(Labelled(record(21, payload), label, kind, (A.decode_error, A.illegal_parameter, A.unexpected_message), "RFC 8446 §6 / §5.1"))


def alerts(*, defective: bool = False) -> st.SearchStrategy[Labelled]:
    """Alert records: well formed (warning close_notify/user_canceled, fatal otherwise), or malformed::

        >>> pks.alerts().example().data[0]
        21
    """
    return _alerts(defective)


def change_cipher_specs() -> st.SearchStrategy[Labelled]:
    """ChangeCipherSpec records: the one valid form, and bodies other than ``01``::

        >>> pks.change_cipher_specs().example().data[:3]
        b'\\x14\\x03\\x03'
    """
    valid = st.just(Labelled(record(20, b"\x01"), "ChangeCipherSpec"))
    bad = st.sampled_from([b"", b"\x02", b"\x01\x01", b"\x00"]).map(
        lambda body: Labelled(record(20, body), f"ChangeCipherSpec with body {body.hex() or 'empty'}", "bad_ccs_body",
                              (A.unexpected_message, A.decode_error, A.illegal_parameter), "RFC 8446 §5 / RFC 5246 §7.1"))
    return (valid | bad).map(tell)


# -- deliveries -----------------------------------------------------------------

def deliveries(*, max_chunks: int = 8, byte_by_byte: bool = True) -> st.SearchStrategy[Delivery]:
    """Ways to cut a stream into chunks; shrinks towards one chunk::

        >>> d = pks.deliveries().example()
        >>> b"".join(d.split(b"hello")) == b"hello"
        True
    """
    if max_chunks < 1:
        raise ValueError("max_chunks must be at least 1")
    cuts = st.lists(st.integers(0, 2**16), max_size=max_chunks - 1, unique=True).map(lambda c: Delivery(tuple(sorted(c))))
    return (cuts | st.just(Delivery(byte_by_byte=True))) if byte_by_byte else cuts

