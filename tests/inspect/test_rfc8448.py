"""RFC 8448 reproduced: the inspector's own golden test.

Each section's records (``purekong/inspect/rfc8448/``, the published RFC's values)
are read like any capture, with no secret but the x25519 shared secret from
the RFC's private keys (and §4's PSK from §3's ticket). Every value the RFC
prints must then come out of the inspector's dissector and key schedule:
each HKDF call's PRK, hash, info and output, keys and IVs, Finished MACs and
binders, each handshake message (decrypted from the records), each record.
"""

from __future__ import annotations

import pytest

from purekong.inspect import EPOCH_UNKNOWN, Recording, rfc8448
from purekong.inspect._rfc8448 import RFC8448Error, parse_trace, rfc8448_checks, steps_of


def assert_reproduced(section: int, minimum: int) -> Recording:
    checks = rfc8448_checks(section)
    wrong = [f"{c.step} / {c.label}: RFC {c.expected.hex()} inspector {c.actual.hex() if c.actual else None}" for c in checks if not c.ok]
    assert wrong == []
    assert len(checks) >= minimum  # a step silently skipped would lower the count
    rec = rfc8448(section)
    assert rec.findings == ()
    assert all(r.epoch != EPOCH_UNKNOWN for r in rec.records)
    assert Recording.from_json(rec.to_json()) == rec
    return rec


def test_section_3_simple_1rtt():
    rec = assert_reproduced(3, 102)
    assert [m.name for m in rec.handshake_messages] == [
        "client_hello", "server_hello", "encrypted_extensions", "certificate", "certificate_verify", "finished", "finished", "new_session_ticket",
    ]  # fmt: skip
    assert [a.name for a in rec.alerts] == ["close_notify", "close_notify"]


@pytest.mark.parametrize("section", [3, 4, 5, 6, 7])
def test_every_step_with_values_is_checked(section):
    steps = [s for s in steps_of(section) if s.values]
    checks = rfc8448_checks(section)
    assert {f"{{{s.side}}} {s.title}" for s in steps} == {c.step for c in checks}
    printed = sum(len(s.values) for s in steps)
    # every printed value is checked, bar the private keys (inputs, not results)
    assert len(checks) == printed - sum(1 for s in steps if s.title.startswith("create an ephemeral"))


def test_a_damaged_trace_is_refused_with_the_step_named():
    with pytest.raises(RFC8448Error, match="ClientHello declares 4 octets, has 3"):
        parse_trace("   {client}  construct a ClientHello handshake message:\n\n      ClientHello (4 octets):  01 00 00\n")
    with pytest.raises(RFC8448Error, match="not 9"):
        rfc8448(9)


def test_section_4_resumed_0rtt_offline():
    rec = assert_reproduced(4, 118)
    epochs = [r.epoch for r in rec.records_in("client_to_server")]
    assert epochs == ["plaintext", "early", "early", "handshake", "application", "application"]
    early = rec.records_in("client_to_server")[1]
    assert early.content == b"ABCDEF" and early.decrypted.key_label == "CLIENT_EARLY_TRAFFIC_SECRET"
    assert [m.name for m in rec.handshake_messages if m.direction == "client_to_server"] == ["client_hello", "end_of_early_data", "finished"]


def test_section_5_hello_retry_request():
    rec = assert_reproduced(5, 97)
    hrr = rec.handshake_messages[1]
    from purekong.inspect import dissect_handshake

    tree = dissect_handshake(hrr.raw)
    assert tree.find("random").meaning.startswith("HelloRetryRequest")
    assert tree.find("selected_group").meaning == "secp256r1" and tree.find("cookie") is not None
    transcript = rec.key_schedule  # the HRR transcript starts with message_hash(ClientHello1)
    assert any(d.name == "client_handshake_traffic_secret" for d in transcript)


def test_section_6_client_authentication():
    rec = assert_reproduced(6, 95)
    client = [m.name for m in rec.handshake_messages if m.direction == "client_to_server"]
    assert client == ["client_hello", "certificate", "certificate_verify", "finished"]
    from purekong.inspect import dissect_handshake

    (request,) = [m for m in rec.handshake_messages if m.name == "certificate_request"]
    schemes = [f.meaning for f in dissect_handshake(request.raw).walk() if f.name == "signature_scheme"]
    assert schemes[:2] == ["ecdsa_secp256r1_sha256", "ecdsa_secp384r1_sha384"]


def test_section_7_compatibility_mode():
    rec = assert_reproduced(7, 96)
    ccs = [r for r in rec.records if r.content_type == 20]
    assert [(r.direction, r.epoch, r.content) for r in ccs] == [("server_to_client", "plaintext", b"\x01"), ("client_to_server", "plaintext", b"\x01")]
    hello = rec.handshake_messages[0]
    from purekong.inspect import dissect_handshake

    assert len(dissect_handshake(hello.raw).find("session_id").value) == 32  # the legacy session ID of compatibility mode
