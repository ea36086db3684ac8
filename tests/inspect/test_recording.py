"""The recording model: built from a real in-memory handshake, and its JSON.

Two purekong endpoints are joined in memory; the bytes each side sent, both
tracers' events and the key log go to ``Recording.from_transcript``, which
knows nothing of the engine. Every record must then open with the keys the
inspector derived, and every handshake message must equal what the engine
reported.
"""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import given, strategies as st

from purekong.inspect import (
    CLIENT_TO_SERVER,
    EPOCH_UNKNOWN,
    SERVER_TO_CLIENT,
    Decision,
    Peer,
    Recording,
    RecordingFormatError,
    SCHEMA_VERSION,
)

@pytest.mark.parametrize("version", ["TLSv1.3", "TLSv1.2"])
def test_every_record_of_a_real_handshake_decrypts(version, handshake):
    seen = handshake(version)
    transcript, keylog, client_events, server_events = seen.transcript, seen.keylog, seen.client_events, seen.server_events
    rec = Recording.from_transcript(transcript, keylog, client_trace=client_events, server_trace=server_events, scenario="t", seed=1)
    assert rec.findings == ()
    assert rec.tls_version == (0x0304 if version == "TLSv1.3" else 0x0303)
    assert all(r.epoch != EPOCH_UNKNOWN for r in rec.records)
    assert sum(r.fragment.__len__() + 5 for r in rec.records) == sum(len(d) for _, d in transcript)
    data = b"".join(r.content for r in rec.records_in(SERVER_TO_CLIENT) if r.inner_content_type == 23)
    assert data == seen.response
    sent = [e.raw for e in client_events if getattr(e, "direction", None) == "sent" and hasattr(e, "msg_type")]
    assert sent == [m.raw for m in rec.handshake_messages if m.direction == CLIENT_TO_SERVER]
    names = [m.name for m in rec.handshake_messages]
    assert names[0] == "client_hello" and "finished" in names


def test_key_updates_are_followed_in_both_directions(handshake):
    seen = handshake("TLSv1.3", key_update=True)
    transcript, keylog = seen.transcript, seen.keylog
    rec = Recording.from_transcript(transcript, keylog)
    assert rec.findings == ()
    epochs = {(r.direction, r.epoch) for r in rec.records}
    assert (CLIENT_TO_SERVER, "application_1") in epochs and (SERVER_TO_CLIENT, "application_1") in epochs
    (after,) = [r for r in rec.records_in(CLIENT_TO_SERVER) if r.content == b"after the update"]
    assert after.epoch == "application_1" and after.decrypted.sequence_number == 0
    assert [m.name for m in rec.handshake_messages if m.epoch.startswith("application")].count("key_update") >= 2


@pytest.mark.parametrize("size", [1, 7, 1000])
def test_chunking_does_not_change_the_recording(size, handshake):
    seen = handshake("TLSv1.3")
    transcript, keylog = seen.transcript, seen.keylog
    whole = Recording.from_transcript(transcript, keylog)
    chunks = [(d, data[i : i + size]) for d, data in transcript for i in range(0, len(data), size)]
    assert Recording.from_transcript(chunks, keylog) == whole


def test_a_missing_key_log_is_a_finding_and_nothing_is_lost(handshake):
    seen = handshake("TLSv1.3")
    transcript, keylog = seen.transcript, seen.keylog
    without_handshake_keys = "\n".join(line for line in keylog.splitlines() if "HANDSHAKE" not in line)
    rec = Recording.from_transcript(transcript, without_handshake_keys)
    kinds = {(f.kind, f.subject) for f in rec.findings}
    assert ("missing_key", "SERVER_HANDSHAKE_TRAFFIC_SECRET") in kinds
    assert ("missing_key", "CLIENT_HANDSHAKE_TRAFFIC_SECRET") in kinds
    # application data still opens with the application secrets
    assert any(r.inner_content_type == 23 and r.decrypted for r in rec.records)
    assert b"".join(r.raw for r in rec.records_in(SERVER_TO_CLIENT)) == b"".join(d for dr, d in transcript if dr == SERVER_TO_CLIENT)


def test_an_engine_report_that_differs_from_the_wire_is_a_finding(handshake):
    seen = handshake("TLSv1.3")
    transcript, keylog = seen.transcript, seen.keylog

    class Forged:
        direction = "sent"
        msg_type = 1
        raw = b"\x01\x00\x00\x00"

    rec = Recording.from_transcript(transcript, keylog, client_trace=[Forged()])
    assert [f.kind for f in rec.findings] == ["mismatch"]


def test_json_round_trip_of_a_full_recording(handshake):
    seen = handshake("TLSv1.3", key_update=True)
    transcript, keylog = seen.transcript, seen.keylog
    rec = Recording.from_transcript(
        transcript, keylog, decisions=[Decision("version", "TLS 1.3", "both offered it", "RFC 8446 §4.2.1")], seed=7
    )
    text = rec.to_json()
    assert Recording.from_json(text) == rec
    assert json.loads(text)["schema_version"] == SCHEMA_VERSION == 2


@pytest.mark.parametrize(
    "text, message",
    [
        ("[]", "a recording is a JSON object"),
        ("{", "not JSON"),
        ('{"schema_version": 1}', "recording: missing field 'client'"),
        ('{"schema_version": 1, "client": {"role": 3}, "server": {"role": "s"}}', "recording.client.role: expected str, got int"),
        ('{"schema_version": 1, "client": {"role": "c"}, "server": {"role": "s"}, "records": [{"index": 0, "direction": "x", "offset": 0, "raw": "zz"}]}', "recording.records[0].raw: not hex"),
        ('{"schema_version": 1, "client": {"role": "c"}, "server": {"role": "s"}, "colour": 1}', "unknown field 'colour'"),
    ],
)
def test_bad_json_gets_a_message_naming_the_field(text, message):
    with pytest.raises(RecordingFormatError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Recording.from_json(text)


@given(st.lists(st.tuples(st.sampled_from([CLIENT_TO_SERVER, SERVER_TO_CLIENT]), st.binary(max_size=300)), max_size=8), st.text(max_size=200))
def test_any_bytes_and_any_keylog_make_a_recording_that_keeps_every_byte(transcript, keylog):
    rec = Recording.from_transcript(transcript, keylog)
    for direction in (CLIENT_TO_SERVER, SERVER_TO_CLIENT):
        assert b"".join(r.raw for r in rec.records_in(direction)) == b"".join(d for dr, d in transcript if dr == direction)
    assert Recording.from_json(rec.to_json()) == rec


@pytest.mark.parametrize("version", ["TLSv1.3", "TLSv1.2"])
def test_the_negotiation_is_read_from_the_wire(handshake, version):
    seen = handshake(version, mutual=True)
    given = Decision("certificate", "localhost", "picked by SNI", side="server")
    said = Decision("group", "x25519", "the server's first preference the client offered")
    rec = Recording.from_transcript(seen.transcript, seen.keylog, decisions=[given, said])
    assert rec.decisions[:2] == (given, said)  # the caller's come first
    assert [d for d in rec.decisions if d.what == "group"] == [said]  # and are not said twice
    found = {d.what: d for d in rec.decisions[1:]}
    assert found["version"].value == ("TLS 1.3" if version == "TLSv1.3" else "TLS 1.2")
    assert found["cipher_suite"].value.startswith("TLS_") and found["cipher_suite"].rfc
    assert found["signature_scheme"].value.startswith("ecdsa_")  # TLS 1.2 ties no curve to the scheme
    assert found["server_name"].value == "localhost"
    assert found["resumption"].value == "full handshake"
    assert [d.value for d in rec.decisions if d.what == "client_certificate"] == ["requested", "2 certificate(s)"]
    if version == "TLSv1.2":
        assert found["extended_master_secret"].value == "yes"


def test_the_certificate_phase_comes_from_the_servers_trace(handshake, dev_pki):
    seen = handshake("TLSv1.3", mutual=True)
    (phase,) = [e for e in seen.server_events if type(e).__name__ == "CertificatePhaseTrace"]
    assert phase.request_client_certificate and phase.client_ca_names == (dev_pki.ca.subject.public_bytes(),)
    rec = Recording.from_transcript(seen.transcript, seen.keylog, server_trace=seen.server_events)
    cp = rec.certificate_phase
    assert cp is not None and cp.request_client_certificate and cp.server_name == "localhost"
    assert cp.certificate_chain[0] == dev_pki.server.public_bytes(serialization.Encoding.DER)
    assert cp.client_ca_names == (dev_pki.ca.subject.public_bytes(),)
    # what the application chose is what the wire shows: the CertificateRequest names that CA
    (request,) = [m for m in rec.handshake_messages if m.name == "certificate_request"]
    assert cp.client_ca_names[0] in request.raw
    assert Recording.from_json(rec.to_json()) == rec


def test_decision_details_round_trip_as_json_objects():
    details = {"groups": ["x25519", "secp256r1"], "resumes_session": False, "count": 2, "nested": {"a": None}}
    rec = Recording(client=Peer("client"), server=Peer("server"), decisions=(Decision("offers", "TLSv1.3", "why", details=details),))
    data = json.loads(rec.to_json())
    assert data["decisions"][0]["details"] == details
    assert Recording.from_json(rec.to_json()) == rec


def test_a_version_1_recording_is_read_as_one_without_details():
    rec = Recording(client=Peer("client"), server=Peer("server"), decisions=(Decision("version", "TLS 1.3", "both offered it"),))
    data = rec.to_dict()
    data["schema_version"] = 1
    del data["decisions"][0]["details"]
    loaded = Recording.from_dict(data)
    assert loaded.schema_version == SCHEMA_VERSION and loaded.decisions[0].details == {}
    data["decisions"][0]["details"] = {"a": 1}
    with pytest.raises(RecordingFormatError, match="schema_version 2 field"):
        Recording.from_dict(data)


@pytest.mark.parametrize("details, message", [("x", "expected an object"), ({"a": {"b": b"x"}}, r"details.a.b: not a JSON value")])
def test_bad_details_are_named(details, message):
    data = Recording(client=Peer("client"), server=Peer("server"), decisions=(Decision("v", "x", "y"),)).to_dict()
    data["decisions"][0]["details"] = details
    with pytest.raises(RecordingFormatError, match=message):
        Recording.from_dict(data)


def test_the_public_api_is_what_all_says_and_importing_it_runs_no_engine():
    import subprocess
    import sys

    code = ("import sys, purekong.inspect as i; assert 'tlslite' not in sys.modules and 'rich' not in sys.modules; "
            "assert sorted(set(i.__all__)) == sorted(i.__all__); [getattr(i, n) for n in i.__all__]; print('ok')")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "ok\n"
    import purekong.inspect as inspect
    import purekong.testing as testing

    assert not hasattr(inspect, "Endpoint") and inspect.Peer is not getattr(testing, "Endpoint", None)
    capture = inspect.run_scenario("tls13")
    recording = inspect.recording_from_capture(capture)
    assert recording.findings == () and "<html" in inspect.render_html(recording)
    assert inspect.diff(recording, recording) == []
