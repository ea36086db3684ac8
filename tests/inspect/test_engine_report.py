"""The engine's own report of every record and decision, against the inspector's reading of the wire.

Real purekong engines (the built-in scenarios): each side reports every
record it sent and received (RecordTrace) and each decision with its reason
(DecisionTrace); the recording compares them field by field with what the
inspector read independently from the bytes. Agreement is asserted on real
handshakes, and a single wrong field in the engine's report is shown to
become a mismatch finding (so the check can fail). Untraced connections get
none of the hooks.
"""

from __future__ import annotations

import dataclasses

import pytest

from purekong.engine import CertifiedKey, DecisionTrace, RecordTrace, RemoteProtocolError, ServerConfig, ServerConnection
from purekong.inspect import recording_from_capture, run_scenario


@pytest.fixture(scope="module")
def captures():
    return {name: run_scenario(name) for name in ("tls13", "tls12", "key-update", "tls13-hrr", "bad-certificate-verify", "tls12-ticket")}


def _records(trace):
    return [e for e in trace if isinstance(e, RecordTrace)]


@pytest.mark.parametrize("name", ["tls13", "tls12", "key-update"])
def test_every_record_is_reported_by_both_sides_and_agrees_with_the_wire(captures, name):
    capture = captures[name]
    recording = recording_from_capture(capture)
    assert recording.findings == ()
    for side, direction in (("client", "client_to_server"), ("server", "server_to_client")):
        sent = [e for e in _records(capture.traces[side]) if e.direction == "sent"]
        assert [e.raw for e in sent] == [r.raw for r in recording.records_in(direction)]
    protected = [e for side in ("client", "server") for e in _records(capture.traces[side]) if e.seq is not None]
    assert protected and all(e.nonce and e.additional_data and len(e.tag) == 16 for e in protected)
    epochs = {e.epoch for e in protected}
    assert epochs >= ({"handshake", "application"} if name != "tls12" else {"application"})
    if name == "key-update":
        assert {"application_1", "application_2"} <= epochs


def test_a_wrong_field_in_the_engines_report_is_a_finding(captures):
    capture = dataclasses.replace(captures["tls13"], traces={k: list(v) for k, v in captures["tls13"].traces.items()})
    server = capture.traces["server"]
    index = next(i for i, e in enumerate(server) if isinstance(e, RecordTrace) and e.direction == "sent" and e.seq is not None)
    server[index] = dataclasses.replace(server[index], nonce=bytes(12))
    findings = recording_from_capture(capture).findings
    assert any(f.kind == "mismatch" and "nonce" in f.message and f.actual == bytes(12) for f in findings)


def test_a_decision_the_wire_contradicts_is_a_finding(captures):
    capture = dataclasses.replace(captures["tls13"], traces={k: list(v) for k, v in captures["tls13"].traces.items()})
    server = capture.traces["server"]
    index = next(i for i, e in enumerate(server) if isinstance(e, DecisionTrace) and e.topic == "group")
    server[index] = dataclasses.replace(server[index], what="secp384r1")
    findings = recording_from_capture(capture).findings
    assert any(f.kind == "mismatch" and "group 'secp384r1'" in f.message and "'x25519'" in f.message for f in findings)


def _decisions(capture, side="server"):
    return {e.topic: e for e in capture.traces[side] if isinstance(e, DecisionTrace)}


def test_the_server_says_why_for_each_choice(captures):
    chosen = _decisions(captures["tls13"])
    assert {"version", "cipher_suite", "group", "signature_scheme", "certificate", "resumption"} <= set(chosen)
    assert chosen["cipher_suite"].what == "TLS_AES_256_GCM_SHA384" and chosen["cipher_suite"].details["server_ciphers"][0] == "AES_256_GCM"
    assert chosen["resumption"].what == "full handshake"
    hrr = _decisions(captures["tls13-hrr"])
    assert hrr["hello_retry_request"].what == "secp256r1" and hrr["hello_retry_request"].rfc == "RFC 8446 §4.1.4"
    assert hrr["hello_retry_request"].details["client_key_shares"] == ["x25519"]
    assert _decisions(captures["tls12-ticket"])["resumption"].what == "resumed (ticket)"
    recording = recording_from_capture(captures["tls13-hrr"])
    assert any(d.what == "hello_retry_request" and d.details.get("server_groups") == ["secp256r1"] for d in recording.decisions)


def test_the_failed_check_names_the_alert_and_its_rule(captures):
    failed = _decisions(captures["bad-certificate-verify"])["failed_check"]
    assert failed.details["alert"] == "decrypt_error" and failed.rfc.startswith("RFC 8446 §4.4.3")


@pytest.fixture
def server_config(dev_pki):
    return ServerConfig(certificates=(CertifiedKey((dev_pki.server, dev_pki.ca), dev_pki.server_key),))


def test_a_failure_before_tlslite_is_reported_too(server_config):
    trace = []
    server = ServerConnection(server_config, trace=trace.append)
    server.receive_data(b"\x30\x03\x03\x00\x01\x00")  # no such content type (RFC 8446 §5)
    with pytest.raises(RemoteProtocolError):
        server.next_event()
    failed = [e for e in trace if isinstance(e, DecisionTrace) and e.topic == "failed_check"]
    assert failed and failed[0].details["alert"] == "unexpected_message"


def test_untraced_connections_get_no_hooks(server_config):
    server = ServerConnection(server_config)
    layer = server._driver.tls._recordLayer
    assert server._driver.records.on_record is None
    assert "_encryptThenSeal" not in vars(layer) and "send" not in vars(layer._recordSocket)
    traced = ServerConnection(server_config, trace=lambda e: None)
    assert "_encryptThenSeal" in vars(traced._driver.tls._recordLayer)
