"""The fast ClientHello reader builds exactly what tlslite's parser builds.

Differential: for captured and generated hellos, ``parse_client_hello`` either
returns None (tlslite then parses) or an object graph identical to tlslite's:
same classes, attribute names in the same order, values of the same types.
``_parse`` (the engine's entry point) must fail exactly when tlslite's parser
raises, and the fast path must actually be taken for well-formed hellos.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import purekong.engine  # noqa: F401  (installs the tlslite speed-ups, as in production)
from purekong.engine._tlslite import _hello_codec
from purekong.engine._tlslite._hello import _parse
from purekong.engine._tlslite._hello_codec import parse_client_hello
from tlslite.extensions import TLSExtension
from tlslite.messages import ClientHello
from tlslite.utils.codec import Parser

VECTORS = sorted((Path(__file__).parent.parent.parent / "vectors" / "client_hello").glob("*.hex"))
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def snapshot(value):
    """A comparable picture of an object graph: classes, attribute order, value types."""
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return (kind.__name__, value)
    if kind in (bytes, bytearray):
        return (kind.__name__, bytes(value))
    if isinstance(value, type):
        return ("class", value.__module__, value.__qualname__)
    if isinstance(value, (list, tuple)):  # namedtuples too, by their class name
        return (kind.__module__, kind.__qualname__, [snapshot(item) for item in value])
    return (kind.__module__, kind.__qualname__, [(key, snapshot(item)) for key, item in vars(value).items()])


def mutables(value, found=None):
    """The ids of every list, bytearray and attribute dict in an object graph, with repeats."""
    found = [] if found is None else found
    if isinstance(value, (list, bytearray)):
        found.append(id(value))
    if isinstance(value, (list, tuple)):
        for item in value:
            mutables(item, found)
    elif hasattr(value, "__dict__") and not isinstance(value, type):
        found.append(id(vars(value)))
        for item in vars(value).values():
            mutables(item, found)
    return found


def tlslite_parse(raw: bytes):
    """What tlslite builds from the message, or the exception it raises."""
    parser = Parser(bytearray(raw))
    parser.get(1)
    try:
        return ClientHello().parse(parser)
    except Exception as exc:
        return exc


def check(raw: bytes):
    """Compare the fast path, _parse and tlslite on one message; return the fast result."""
    expected = tlslite_parse(raw)
    fast = parse_client_hello(raw)
    if fast is not None:
        assert not isinstance(expected, Exception), f"fast path accepted what tlslite rejects: {expected!r}"
        assert snapshot(fast) == snapshot(expected)
        ids = mutables(fast)
        assert len(ids) == len(set(ids)), "the fast path shares a mutable value inside one hello"
        assert not set(ids) & set(mutables(parse_client_hello(raw))), "two hellos share a mutable value"
    result = _parse(raw)
    if isinstance(expected, Exception):
        assert result is False
    else:
        assert result is not False and result.raw == raw
        assert snapshot(result.message) == snapshot(expected)
    return fast


def vector(path: Path) -> bytes:
    return bytes.fromhex(path.read_text().strip())[5:]  # the handshake message, header included


@pytest.mark.parametrize("path", VECTORS, ids=lambda p: p.stem)
def test_vectors_take_the_fast_path(path):
    assert check(vector(path)) is not None


def test_common_extensions_are_rebuilt_not_reparsed():
    built = {t for t, (_, build) in _hello_codec._BY_TYPE.items() if build is not _hello_codec._tlslite}
    # server_name status_request groups point_formats sigalgs alpn padding record_size_limit
    # compress_certificate session_ticket pre_shared_key supported_versions cookie
    # psk_modes sigalgs_cert key_share renegotiation_info
    assert {0, 5, 10, 11, 13, 16, 21, 28, 27, 35, 41, 43, 44, 45, 50, 51, 0xFF01} <= built


# -- generated hellos ---------------------------------------------------------


def vec(data: bytes, size: int) -> bytes:
    return len(data).to_bytes(size, "big") + data


def u16(value: int) -> bytes:
    return value.to_bytes(2, "big")


byte = st.integers(0, 255)
grease = st.sampled_from([0x0A0A + 0x1010 * i for i in range(16)])
u16s = st.integers(0, 0xFFFF) | grease
opaque = st.binary(max_size=12)
empty = st.just(b"")
pairs = st.lists(st.tuples(byte, byte), max_size=6).map(lambda items: b"".join(bytes(p) for p in items))


def u16_vector(length_size):
    return st.lists(u16s, max_size=6).map(lambda items: vec(b"".join(map(u16, items)), length_size))


def u8_vector(length_size=1):
    return st.binary(max_size=5).map(lambda items: vec(items, length_size))


def opaque_list(length_size, item_size):
    return st.lists(opaque, max_size=3).map(lambda items: vec(b"".join(vec(i, item_size) for i in items), length_size))


_psk_identity = st.tuples(opaque, st.integers(0, 2**32 - 1)).map(lambda i: vec(i[0], 2) + i[1].to_bytes(4, "big"))

#: Payloads tlslite accepts, by extension type.
VALID = {
    0: empty | st.lists(st.tuples(st.sampled_from([0, 0, 1, 255]), opaque), max_size=3).map(
        lambda names: vec(b"".join(bytes([t]) + vec(n, 2) for t, n in names), 2)
    ),
    5: empty | st.tuples(byte, opaque_list(2, 2), opaque.map(lambda e: vec(e, 2))).map(lambda s: bytes([s[0]]) + s[1] + s[2]),
    9: empty | u8_vector(),  # cert_type: tlslite's own parse, one extension
    10: empty | u16_vector(2),
    11: empty | u8_vector(),
    12: u8_vector(),  # srp
    13: empty | pairs.map(lambda p: vec(p, 2)),
    15: byte.map(lambda b: bytes([b])),  # heartbeat
    16: opaque_list(2, 1),
    21: st.binary(max_size=40),
    22: empty,
    23: empty,
    27: empty | u16_vector(1),
    28: empty | u16s.map(u16),
    35: st.binary(max_size=40),
    42: empty,
    43: empty | pairs.map(lambda p: vec(p, 1)),
    44: empty | opaque.map(lambda c: vec(c, 2)),
    45: empty | u8_vector(),
    49: empty,
    50: empty | pairs.map(lambda p: vec(p, 2)),
    51: empty | st.lists(st.tuples(u16s, st.binary(max_size=40)), max_size=3).map(
        lambda shares: vec(b"".join(u16(g) + vec(k, 2) for g, k in shares), 2)
    ),
    13172: st.lists(opaque, max_size=3).map(lambda items: b"".join(vec(i, 1) for i in items)),  # npn
    0xFF01: empty | opaque.map(lambda r: vec(r, 1)),
}
PSK = 41
VALID_PSK = empty | st.tuples(st.lists(_psk_identity, max_size=2), opaque_list(2, 1)).map(lambda p: vec(b"".join(p[0]), 2) + p[1])
unknown_type = grease | st.integers(0, 0xFFFF).filter(lambda t: t not in TLSExtension._universalExtensions)


@st.composite
def valid_extension(draw):
    if draw(st.integers(0, 9)) == 0:
        ext_type, payload = draw(unknown_type), draw(st.binary(max_size=10))
    else:
        ext_type = draw(st.sampled_from(sorted(VALID)))
        payload = draw(VALID[ext_type])
    return u16(ext_type) + vec(payload, 2)


#: The size of the length prefix that frames each list type's payload.
FRAME = {0: 2, 5: 2, 9: 1, 10: 2, 11: 1, 12: 1, 13: 2, 16: 2, 27: 1, 43: 1, 44: 2, 45: 1, 50: 2, 51: 2, PSK: 2, 0xFF01: 1}


@st.composite
def bad_extension(draw):
    """Most likely malformed: a random payload, framed or not, or a valid one a byte longer or shorter."""
    ext_type = draw(st.sampled_from([*VALID, PSK]) | unknown_type)
    payload = draw(VALID_PSK if ext_type == PSK else VALID.get(ext_type, st.binary(max_size=10)))
    change = draw(st.sampled_from(["random", "framed", "extra", "short"]))
    if change == "random":
        payload = draw(st.binary(max_size=12))
    elif change == "framed":  # the outer length is right, the contents are not
        payload = vec(draw(st.binary(min_size=1, max_size=9)), FRAME.get(ext_type, 2))
    elif change == "extra":
        payload += draw(st.binary(min_size=1, max_size=2))
    elif payload:
        payload = payload[:-1]
    return u16(ext_type) + vec(payload, 2)


DEFECTS = ["none", "session_id", "suites", "extension", "psk_not_last", "trailing"]


@st.composite
def hellos(draw, defect: str = "none"):
    """A ClientHello message (handshake header included) with at most one defect."""
    body = draw(st.sampled_from([b"\x03\x03", b"\x03\x01"]) | st.binary(min_size=2, max_size=2))
    body += draw(st.binary(min_size=32, max_size=32))
    if defect == "session_id":
        sid_size = draw(st.sampled_from([33, 34, 255]))  # tlslite: "session_id too long"
    else:
        sid_size = draw(st.sampled_from([0, 32]) | st.integers(0, 32))
    body += vec(draw(st.binary(min_size=sid_size, max_size=sid_size)), 1)
    suites = b"".join(map(u16, draw(st.lists(u16s, min_size=1, max_size=8))))
    body += vec(suites + b"\x00" if defect == "suites" else suites, 2)
    body += vec(bytes(draw(st.lists(byte, min_size=1, max_size=3))), 1)
    extensions = draw(st.lists(valid_extension(), max_size=10))
    if defect == "extension":
        extensions.insert(draw(st.integers(0, len(extensions))), draw(bad_extension()))
    psk = u16(PSK) + vec(draw(VALID_PSK), 2)
    if defect == "psk_not_last":
        extensions.insert(draw(st.integers(0, len(extensions))), psk)
        extensions.append(draw(valid_extension()))
    elif draw(st.booleans()):
        extensions.append(psk)  # last, as it must be
    if extensions or draw(st.booleans()):  # no block at all, or an empty one
        body += vec(b"".join(extensions), 2)
    if defect == "trailing":
        body += draw(st.binary(min_size=1, max_size=3))
    return b"\x01" + vec(body, 3)


@SETTINGS
@given(hellos())
def test_well_formed_hellos_take_the_fast_path(raw):
    assert check(raw) is not None


@SETTINGS
@given(st.sampled_from(DEFECTS[1:]).flatmap(hellos))
def test_defective_hellos_parse_as_tlslite_parses_them(raw):
    check(raw)


@SETTINGS
@given(hellos(), st.data())
def test_damaged_hellos_parse_as_tlslite_parses_them(raw, data):
    index = data.draw(st.integers(1, len(raw) - 1))
    if data.draw(st.booleans()):
        damaged = raw[:index]
        if index >= 4 and data.draw(st.booleans()):
            damaged = damaged[:1] + (len(damaged) - 4).to_bytes(3, "big") + damaged[4:]
    else:
        damaged = raw[:index] + bytes([data.draw(byte)]) + raw[index + 1 :]
    check(damaged)


def every_extension_hello() -> bytes:
    """One hello with every rebuilt extension, each with non-empty, nested contents."""
    extensions = [
        (0, vec(b"\x00" + vec(b"example.com", 2) + b"\x01" + vec(b"x", 2), 2)),
        (5, b"\x01" + vec(vec(b"id1", 2) + vec(b"", 2), 2) + vec(b"ext", 2)),
        (10, vec(u16(29) + u16(23) + u16(0x0A0A), 2)),
        (11, vec(b"\x00\x01", 1)),
        (13, vec(b"\x04\x03\x08\x07", 2)),
        (16, vec(vec(b"h2", 1) + vec(b"", 1) + vec(b"http/1.1", 1), 2)),
        (22, b""),
        (27, vec(u16(1) + u16(2), 1)),
        (28, u16(16385)),
        (35, b"ticket"),
        (43, vec(b"\x03\x04\x03\x03", 1)),
        (44, vec(b"cookie", 2)),
        (45, vec(b"\x01", 1)),
        (50, vec(b"\x04\x03", 2)),
        (51, vec(u16(29) + vec(bytes(32), 2) + u16(23) + vec(b"", 2), 2)),
        (0xFF01, vec(b"", 1)),
        (0x1A1A, b"grease"),
        (21, bytes(7)),
        (PSK, vec(vec(b"id", 2) + bytes(4) + vec(b"id2", 2) + b"\x00\x00\x01\x00", 2) + vec(vec(bytes(32), 1) + vec(b"b", 1), 2)),
    ]
    return hello_with(*extensions)


def exhaustively_damaged(raw: bytes):
    """Every truncation (with the header as sent and as fixed) and several changes of every byte."""
    for cut in range(1, len(raw)):
        yield raw[:cut]
        if cut >= 4:
            yield raw[:1] + (cut - 4).to_bytes(3, "big") + raw[4:cut]
    for index in range(len(raw)):
        for byte in {0, 1, 0xFF, raw[index] ^ 1, (raw[index] + 1) % 256, (raw[index] - 1) % 256}:
            yield raw[:index] + bytes([byte]) + raw[index + 1 :]
    yield raw + b"\x00"
    yield raw[:1] + (len(raw) - 3).to_bytes(3, "big") + raw[4:] + b"\x00"


def hello_with(*extensions: tuple[int, bytes], block: bool = True) -> bytes:
    """A TLS 1.2-style hello with these (type, payload) extensions."""
    body = b"\x03\x03" + bytes(range(32)) + vec(b"sid", 1) + vec(u16(0x1301) + u16(0xC02B), 2) + b"\x01\x00"
    if block:
        body += vec(b"".join(u16(t) + vec(payload, 2) for t, payload in extensions), 2)
    return b"\x01" + vec(body, 3)


@pytest.mark.parametrize("ext_type", sorted([*VALID, PSK, 0x0A0A, 0xFFFF]))
def test_each_extension_type_with_odd_contents(ext_type):
    # Short contents of every length up to 5, bare and inside a correct outer length.
    contents = [b"", b"\x00", b"\x01", b"\xff"]
    contents += [bytes(range(n)) for n in range(2, 6)] + [bytes([n - 1]) + bytes(n - 1) for n in range(2, 6)]
    for data in contents:
        for payload in (data, vec(data, 1), vec(data, 2), vec(data, 2) + b"\x00", vec(data, 2) + vec(data, 2)):
            check(hello_with((ext_type, payload)))


def test_every_extension_hello_takes_the_fast_path():
    hello = check(every_extension_hello())
    assert hello is not None
    assert [e.extType for e in hello.extensions][-1] == PSK


@pytest.mark.parametrize(
    "raw", [every_extension_hello()] + [vector(p) for p in VECTORS], ids=["every-extension"] + [p.stem for p in VECTORS]
)
def test_truncations_and_byte_changes(raw):
    for damaged in exhaustively_damaged(raw):
        check(damaged)


def test_quirks_tlslite_keeps():
    assert check(hello_with(block=False)).extensions is None  # no block: None, not []
    assert check(hello_with()).extensions == []
    # An empty server_name list is kept (the engine answers it with decode_error).
    assert check(hello_with((0, vec(b"", 2)))).extensions[0].serverNames == []
    assert check(hello_with((0, b""))).extensions[0].serverNames is None
    # Duplicates are kept; the engine rejects them after parsing.
    assert len(check(hello_with((23, b""), (23, b""))).extensions) == 2
    # SRP ignores bytes after its identity; tlslite parses it, one extension.
    assert check(hello_with((12, vec(b"user", 1) + b"junk"))).extensions[0].identity == b"user"
    # pre_shared_key not last: left to tlslite (which accepts it while parsing).
    assert check(hello_with((PSK, b""), (23, b""))) is None
