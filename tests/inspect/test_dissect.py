"""The dissector: spans tile every byte, re-encoding gives the bytes back.

Checked on the real ClientHellos in ``vectors/``, on every message and
record of real purekong handshakes (TLS 1.2 and 1.3, mutual), on generated
messages whose decoded fields must equal what was generated, and on mutated
and random bytes, where nothing may be dropped and nothing may raise.
"""

from __future__ import annotations

import pathlib

import pytest
from hypothesis import given, strategies as st

from purekong.inspect import Recording
from purekong.inspect._dissect import Field, check_tiling, dissect_alert, dissect_handshake, dissect_record, encode

VECTORS = sorted((pathlib.Path(__file__).parents[2] / "vectors" / "client_hello").glob("*.hex"))


def record_bodies(raw: bytes) -> bytes:
    out, pos = b"", 0
    while pos < len(raw):
        size = int.from_bytes(raw[pos + 3 : pos + 5], "big")
        out += raw[pos + 5 : pos + 5 + size]
        pos += 5 + size
    return out


def assert_sound(tree: Field, data: bytes) -> None:
    assert tree.offset == 0 and tree.length == len(data)
    assert check_tiling(tree) == []
    assert encode(tree) == data
    for leaf in tree.walk():
        if not leaf.children and isinstance(leaf.value, bytes):
            assert data[leaf.offset : leaf.end] == leaf.value


@pytest.mark.parametrize("path", VECTORS, ids=lambda p: p.stem)
def test_real_client_hellos(path):
    data = record_bodies(bytes.fromhex(path.read_text().strip()))
    tree = dissect_handshake(data)
    assert_sound(tree, data)
    assert tree.problems() == []
    suites = [f.meaning for f in tree.walk() if f.name == "cipher_suite"]
    assert "TLS_AES_128_GCM_SHA256" in suites or "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" in suites
    if "sni" in path.stem:
        assert tree.find("host_name").find("name").meaning == "example.com"


@pytest.mark.parametrize("version", ["TLSv1.3", "TLSv1.2"])
def test_every_message_and_record_of_a_real_mutual_handshake(handshake, version):
    seen = handshake(version, mutual=True, key_update=version == "TLSv1.3")
    rec = Recording.from_transcript(seen.transcript, seen.keylog)
    assert rec.findings == ()
    names = set()
    for message in rec.handshake_messages:
        tree = dissect_handshake(message.raw, tls13=version == "TLSv1.3")
        assert_sound(tree, message.raw)
        assert tree.problems() == [], message.name
        assert not [f for f in tree.walk() if f.status == "unknown"], message.name
        names.add(message.name)
    assert {"certificate_request", "certificate_verify", "certificate", "finished"} <= names
    for record in rec.records:
        explicit = 8 if version == "TLSv1.2" and record.decrypted is not None else 0
        tree = dissect_record(record.raw, protected=record.decrypted is not None, explicit_nonce_length=explicit)
        assert_sound(tree, record.raw)
        assert tree.problems() == []
        if record.decrypted is not None:
            assert tree.find("tag").value == record.decrypted.tag
        if record.decrypted and record.decrypted.inner_content_type == 21:
            assert_sound(dissect_alert(record.content), record.content)


def test_a_certificate_request_names_the_ca(handshake, dev_pki):
    seen = handshake("TLSv1.3", mutual=True)
    rec = Recording.from_transcript(seen.transcript, seen.keylog)
    (request,) = [m for m in rec.handshake_messages if m.name == "certificate_request"]
    tree = dissect_handshake(request.raw)
    assert tree.find("DistinguishedName").find("der").value == dev_pki.ca.subject.public_bytes()


# -- generated messages --------------------------------------------------------

def vec(length_size: int, body: bytes) -> bytes:
    return len(body).to_bytes(length_size, "big") + body


extension = st.tuples(st.integers(0, 0xFFFF).filter(lambda t: t not in (0, 5, 9, 16, 41, 43, 44, 45, 47, 51, 10, 11, 13, 1, 28, 27, 50, 18, 65281, 35, 21, 22, 23, 42, 49)), st.binary(max_size=40))


@st.composite
def client_hellos(draw):
    suites = draw(st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=20))
    groups = draw(st.lists(st.integers(0, 0xFFFF), max_size=8))
    host = draw(st.text("abcdefghijklmnopqrstuvwxyz.-0123456789", min_size=1, max_size=30)).encode()
    alpn = draw(st.lists(st.binary(min_size=1, max_size=12), max_size=4))
    unknown = draw(st.lists(extension, max_size=4))
    exts = [
        (0, vec(2, b"\x00" + vec(2, host))),
        (10, vec(2, b"".join(g.to_bytes(2, "big") for g in groups))),
        (16, vec(2, b"".join(vec(1, p) for p in alpn))),
        (43, vec(1, b"\x03\x04\x03\x03")),
        (51, vec(2, (29).to_bytes(2, "big") + vec(2, draw(st.binary(min_size=32, max_size=32))))),
    ] + unknown
    draw(st.randoms()).shuffle(exts)
    body = (
        b"\x03\x03" + draw(st.binary(min_size=32, max_size=32)) + vec(1, draw(st.binary(max_size=32)))
        + vec(2, b"".join(s.to_bytes(2, "big") for s in suites)) + vec(1, b"\x00")
        + vec(2, b"".join(t.to_bytes(2, "big") + vec(2, d) for t, d in exts))
    )  # fmt: skip
    return b"\x01" + vec(3, body), suites, groups, host, alpn, exts, {t for t, _ in unknown}


@given(client_hellos())
def test_generated_client_hellos_decode_to_what_was_generated(generated):
    data, suites, groups, host, alpn, exts, unknown = generated
    tree = dissect_handshake(data)
    assert_sound(tree, data)
    assert tree.problems() == []
    assert [f.value for f in tree.walk() if f.name == "cipher_suite"] == suites
    assert [f.value for f in tree.walk() if f.name == "named_group"] == groups
    assert tree.find("host_name").find("name").value == host
    assert [f.value for f in tree.walk() if f.name == "ProtocolName" for f in f.children if f.name == "name"] == alpn
    found = [e for e in tree.walk() if e.name == "Extension"]
    assert [e.children[0].value for e in found] == [t for t, _ in exts]
    for e, (ext_type, ext_data) in zip(found, exts):
        if ext_type in unknown and ext_data:
            assert e.find("data").status == "unknown" and e.find("data").value == ext_data


REAL_HELLOS = [record_bodies(bytes.fromhex(p.read_text().strip())) for p in VECTORS]


@given(st.one_of(client_hellos().map(lambda g: g[0]), st.sampled_from(REAL_HELLOS)), st.data())
def test_mutated_messages_keep_every_byte(message, data):
    raw = bytearray(message)
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        pos = data.draw(st.integers(0, max(len(raw) - 1, 0)))
        if op == "flip" and raw:
            raw[pos] = data.draw(st.integers(0, 255))
        elif op == "cut":
            del raw[pos:]
        else:
            raw[pos:pos] = data.draw(st.binary(min_size=1, max_size=5))
    tree = dissect_handshake(bytes(raw))
    assert_sound(tree, bytes(raw))


@given(st.binary(max_size=400), st.booleans())
def test_random_bytes_as_any_message_type(body, tls13):
    for msg_type in (1, 2, 4, 8, 11, 12, 13, 15, 16, 20, 24, 254, 99):
        data = bytes([msg_type]) + vec(3, body)
        assert_sound(dissect_handshake(data, tls13=tls13), data)


@given(st.binary(max_size=300), st.booleans(), st.sampled_from([0, 8]))
def test_random_records(raw, protected, explicit):
    assert_sound(dissect_record(raw, protected=protected, explicit_nonce_length=explicit), raw)
