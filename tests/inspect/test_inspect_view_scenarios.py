"""Each built-in scenario does what it says, read back by the inspector's own dissector,
and the same seed gives the same bytes."""

from __future__ import annotations

import pytest

from purekong.inspect._adapter import recording_from_capture
from purekong.inspect._dissect import dissect_handshake
from purekong.inspect._scenarios import SCENARIOS, run_scenario
from purekong.inspect._summary import is_hello_retry_request


def _recording(name: str):
    return recording_from_capture(run_scenario(name, 0))


def _extensions(message) -> dict[int, bytes]:
    tree = dissect_handshake(message.raw)
    out = {}
    for field in tree.walk():
        if field.name == "Extension":
            kind = field.children[0].value
            out[kind] = message.raw[field.offset + 4:field.end]
    return out


def _names(recording) -> list[str]:
    return [m.name for m in recording.handshake_messages]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_same_seed_same_bytes_other_seed_other_bytes(name):
    a, b, c = run_scenario(name, 5), run_scenario(name, 5), run_scenario(name, 6)
    assert a.chunks == b.chunks and a.keylog() == b.keylog()
    assert a.chunks != c.chunks


def test_hello_retry_request():
    rec = _recording("tls13-hrr")
    hellos = [m for m in rec.handshake_messages if m.msg_type == 2]
    assert is_hello_retry_request(hellos[0]) and not is_hello_retry_request(hellos[1])
    assert _names(rec).count("client_hello") == 2


def test_tls12_session_id_resumption_offers_no_ticket():
    rec = _recording("tls12-session-id")
    hello, server_hello = rec.handshake_messages[0], rec.handshake_messages[1]
    assert 35 not in _extensions(hello)  # ClientConfig(session_tickets=False): no SessionTicket extension at all
    session_id = hello.raw[4 + 2 + 32 + 1:4 + 2 + 32 + 1 + hello.raw[4 + 34]]
    assert len(session_id) == 32 and session_id in server_hello.raw  # echoed: resumed by ID
    assert "certificate" not in _names(rec)


def test_tls12_ticket_resumption_offers_the_ticket():
    rec = _recording("tls12-ticket")
    assert len(_extensions(rec.handshake_messages[0])[35]) > 32
    assert "certificate" not in _names(rec) and "server_key_exchange" not in _names(rec)


def test_tls13_psk_resumption():
    rec = _recording("tls13-psk")
    assert 41 in _extensions(rec.handshake_messages[0]) and 41 in _extensions(rec.handshake_messages[1])
    assert "certificate" not in _names(rec)


def test_disable_session_reuse_gives_a_full_handshake():
    rec = _recording("no-reuse")
    assert 41 not in _extensions(rec.handshake_messages[0])  # nothing to offer
    assert "certificate" in _names(rec)


def test_mtls_sends_the_dn_list_and_the_client_chain():
    for name in ("mtls", "mtls12"):
        rec = _recording(name)
        names = _names(rec)
        assert "certificate_request" in names and names.count("certificate") == 2 and names.count("certificate_verify") >= 1
        assert len(rec.certificate_phase.client_ca_names) == 2


def test_key_update_both_ways():
    rec = _recording("key-update")
    updates = [m for m in rec.handshake_messages if m.name == "key_update"]
    assert len(updates) == 4 and {m.direction for m in updates} == {"client_to_server", "server_to_client"}
    assert {r.epoch for r in rec.records} >= {"application", "application_1", "application_2"}
    assert not rec.findings


def test_bad_certificate_verify_ends_in_decrypt_error():
    rec = _recording("bad-certificate-verify")
    assert [(a.direction, a.name, a.level) for a in rec.alerts] == [("server_to_client", "decrypt_error", 2)]
    assert any(d.what == "failed_check" and "RFC 8446 §4.4.3" in d.reason for d in rec.decisions)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_inspector_opens_every_record_of_every_scenario(name):
    rec = _recording(name)
    assert not [f for f in rec.findings if f.severity == "error"], rec.findings


def test_why_the_server_chose_what_it_chose():
    rec = _recording("tls12")
    chosen = {d.what: d.value for d in rec.decisions}
    assert chosen["version"] == "TLSv1.2" and chosen["cipher_suite"] == "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"
    assert chosen["group"] == "x25519" and chosen["signature_scheme"].startswith("ecdsa_")
    hrr = {d.what: d for d in _recording("tls13-hrr").decisions}
    assert hrr["group"].value == "secp256r1" and "HelloRetryRequest" in hrr["group"].reason
    assert {d.what: d.value for d in _recording("tls13").decisions}["signature_scheme"] == "ecdsa_secp256r1_sha256"
