"""The independent key schedule, against real purekong handshakes.

From the (EC)DHE shared secret alone (computed here with ``cryptography``
from the client's x25519 key, found among its random draws, and the server's
public key on the wire) the inspector must derive every key-log value the
engine reported, open every record, and find the Finished MACs right.
Offline from a key log it must still check the Finished MACs. A wrong value
anywhere is a loud finding.
"""

from __future__ import annotations

import dataclasses

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from purekong.inspect import EPOCH_UNKNOWN, Recording, Secret, dissect_handshake, parse_keylog
from purekong.inspect._keyschedule import nss_label, recompute


def shared_secret(seen, version: str) -> bytes:
    rec = Recording.from_transcript(seen.transcript)
    if version == "TLSv1.3":
        client_public = dissect_handshake(rec.handshake_messages[0].raw).find("client_shares").find("public_key").value
    else:
        (cke,) = [m for m in rec.handshake_messages if m.name == "client_key_exchange"]
        client_public = dissect_handshake(cke.raw, tls13=False).find("point").value
    (private,) = [X25519PrivateKey.from_private_bytes(d) for d in seen.client_draws if len(d) == 32 and X25519PrivateKey.from_private_bytes(d).public_key().public_bytes_raw() == client_public]
    if version == "TLSv1.3":
        server_public = dissect_handshake(rec.handshake_messages[1].raw).find("public_key").value
    else:
        (ske,) = [m for m in rec.handshake_messages if m.name == "server_key_exchange"]
        server_public = dissect_handshake(ske.raw, tls13=False).find("point").value
    return private.exchange(X25519PublicKey.from_public_bytes(server_public))


@pytest.mark.parametrize("version", ["TLSv1.3", "TLSv1.2"])
def test_from_the_shared_secret_alone_every_record_opens(handshake, version):
    seen = handshake(version, key_update=version == "TLSv1.3")
    label = "ecdhe_shared_secret" if version == "TLSv1.3" else "pre_master_secret"
    rec = Recording.from_transcript(seen.transcript, secrets=[Secret(label, shared_secret(seen, version), source="test")])
    assert rec.findings == ()
    assert all(r.epoch != EPOCH_UNKNOWN for r in rec.records)
    engine_keylog = {s.label: s.value for s in parse_keylog(seen.keylog, [])}
    recomputed = {s.label: s.value for s in rec.secrets if s.source == "inspector"}
    assert engine_keylog.items() <= recomputed.items()  # every key-log value, derived without the key log
    if version == "TLSv1.3":  # and the ones after each KeyUpdate, which the engine's key log lacks
        assert {"CLIENT_TRAFFIC_SECRET_1", "SERVER_TRAFFIC_SECRET_1"} <= recomputed.keys()
    names = {d.name for d in rec.key_schedule}
    if version == "TLSv1.3":
        assert {"early_secret", "handshake_secret", "master_secret", "resumption_master_secret", "server_finished_verify_data",
                "client_application_traffic_secret_1", "server_handshake_key", "ticket_psk_0"} <= names  # fmt: skip
    else:
        assert {"master_secret_12", "key_block", "client_finished_verify_data", "server_finished_verify_data"} <= names
    by_name = {d.name: d for d in rec.key_schedule}
    for d in rec.key_schedule:  # every input is a value of the tree
        assert all(i in by_name for i in d.inputs), d


@pytest.mark.parametrize("version", ["TLSv1.3", "TLSv1.2"])
def test_with_both_the_shared_secret_and_the_key_log_nothing_differs(handshake, version):
    seen = handshake(version)
    label = "ecdhe_shared_secret" if version == "TLSv1.3" else "pre_master_secret"
    rec = Recording.from_transcript(seen.transcript, seen.keylog, secrets=[Secret(label, shared_secret(seen, version), source="test")])
    assert rec.findings == ()


def test_a_wrong_key_log_value_is_a_mismatch(handshake):
    seen = handshake("TLSv1.3")
    lines = [line if not line.startswith("SERVER_TRAFFIC_SECRET_0") else line[:-2] + ("00" if line[-2:] != "00" else "11") for line in seen.keylog.splitlines()]
    rec = Recording.from_transcript(seen.transcript, lines, secrets=[Secret("ecdhe_shared_secret", shared_secret(seen, "TLSv1.3"), source="test")])
    assert [(f.kind, f.subject) for f in rec.findings if f.kind == "mismatch"] == [("mismatch", "SERVER_TRAFFIC_SECRET_0")]


@pytest.mark.parametrize("version", ["TLSv1.3", "TLSv1.2"])
def test_offline_from_a_key_log_the_finished_macs_are_checked(handshake, version):
    seen = handshake(version)
    rec = Recording.from_transcript(seen.transcript, seen.keylog)
    assert rec.findings == ()
    assert {"client_finished_verify_data", "server_finished_verify_data"} <= {d.name for d in rec.key_schedule}
    (finished, *_) = [m for m in rec.handshake_messages if m.name == "finished"]
    forged = dataclasses.replace(finished, raw=finished.raw[:-1] + bytes([finished.raw[-1] ^ 1]))
    messages = tuple(forged if m is finished else m for m in rec.handshake_messages)
    bad = recompute(dataclasses.replace(rec, handshake_messages=messages, findings=(), key_schedule=()))
    side = "server" if version == "TLSv1.3" else "client"  # who sends the first Finished
    assert {f.kind for f in bad.findings} == {"bad_finished"}
    assert bad.findings[0].subject == f"{side} Finished" and bad.findings[0].actual == forged.raw[4:]


@pytest.mark.parametrize("version", ["TLSv1.3", "TLSv1.2"])
def test_the_engine_reports_its_shared_secret_and_the_whole_schedule_checks_out(handshake, version):
    seen = handshake(version, key_update=version == "TLSv1.3")
    reported = {e.label: e.secret for e in seen.client_events if hasattr(e, "label")}
    assert reported["ecdhe_shared_secret"] == {e.label: e.secret for e in seen.server_events if hasattr(e, "label")}["ecdhe_shared_secret"]
    assert reported["ecdhe_shared_secret"] == shared_secret(seen, version)  # what the inspector computes from the wire
    assert "ecdhe_shared_secret" not in seen.keylog  # not an NSS key-log line
    # From the engine's own reports (no key log): the inspector recomputes every
    # value, and each one the engine also reported is compared (no mismatch).
    rec = Recording.from_transcript(seen.transcript, client_trace=seen.client_events, server_trace=seen.server_events)
    assert rec.findings == ()
    assert all(r.epoch != EPOCH_UNKNOWN for r in rec.records)
    engine = {s.label for s in rec.secrets if s.source == "engine"}
    recomputed = {s for d in rec.key_schedule if (s := nss_label(d.name)) and d.function != "input"}
    assert engine - {"ecdhe_shared_secret"} <= recomputed


def test_a_tls13_resumption_is_recomputed_from_the_previous_recording(handshake):
    first = handshake("TLSv1.3")
    second = handshake("TLSv1.3", resume=first)
    earlier = Recording.from_transcript(first.transcript, client_trace=first.client_events)
    # Without the earlier recording the PSK is unknown: said, not guessed.
    alone = Recording.from_transcript(second.transcript, second.keylog, client_trace=second.client_events)
    assert [(f.kind, f.subject, f.severity) for f in alone.findings] == [("missing_key", "psk", "warning")]
    rec = Recording.from_transcript(second.transcript, client_trace=second.client_events, server_trace=second.server_events, previous=earlier)
    assert rec.findings == ()
    names = {d.name for d in rec.key_schedule}
    assert {"psk", "binder_key", "psk_binder", "handshake_secret", "resumption_master_secret"} <= names
    assert [d.value for d in rec.decisions if d.what == "resumption"] == ["resumed (PSK)"]
    assert "certificate" not in [m.name for m in rec.handshake_messages]


def test_a_tls12_resumption_by_ticket_opens_with_the_key_log(handshake):
    first = handshake("TLSv1.2")
    second = handshake("TLSv1.2", resume=first)
    rec = Recording.from_transcript(second.transcript, second.keylog)
    assert rec.findings == ()
    assert [d.value for d in rec.decisions if d.what == "resumption"] == ["resumed (ticket)"]
    assert all(r.epoch != EPOCH_UNKNOWN for r in rec.records)


@pytest.mark.parametrize("version", ["TLSv1.3", "TLSv1.2"])
@pytest.mark.parametrize("cipher", ["AES_256_GCM", "CHACHA20_POLY1305", "AES_128_GCM"])
@pytest.mark.parametrize("group", ["x25519", "secp256r1", "secp384r1"])
def test_every_suite_and_group_from_the_engines_shared_secret(handshake, version, cipher, group):
    # TLS 1.2 ties an ECDSA certificate's curve to supported_groups (RFC 8422 §5.1.1): keep P-256 offered.
    groups = (group,) if version == "TLSv1.3" or group == "secp256r1" else (group, "secp256r1")
    seen = handshake(version, ciphers=(cipher,), groups=groups)
    rec = Recording.from_transcript(seen.transcript, client_trace=seen.client_events)
    assert rec.findings == ()
    assert all(r.epoch != EPOCH_UNKNOWN for r in rec.records)
    assert cipher.replace("_", "") in rec.decisions[1].value.replace("_", "")  # the suite decision names the bulk cipher
    assert [d.value for d in rec.decisions if d.what == "group"] == [group]


@pytest.mark.parametrize("version", ["TLSv1.3", "TLSv1.2"])
def test_every_signature_verifies_and_a_forged_one_is_loud(handshake, version):
    seen = handshake(version, mutual=True)
    rec = Recording.from_transcript(seen.transcript, seen.keylog)
    assert rec.findings == ()  # server and client signatures checked against their certificates
    # Flip one byte of the client's signature (not on the wire: nobody objected).
    (cv,) = [m for m in rec.handshake_messages if m.name == "certificate_verify" and m.direction == "client_to_server"]
    forged = dataclasses.replace(cv, raw=cv.raw[:-1] + bytes([cv.raw[-1] ^ 1]))
    messages = tuple(forged if m is cv else m for m in rec.handshake_messages)
    bad = recompute(dataclasses.replace(rec, handshake_messages=messages, findings=(), key_schedule=()))
    signature = [f for f in bad.findings if f.kind == "bad_signature"]
    assert [(f.subject, f.severity) for f in signature] == [("client CertificateVerify", "error")]


@pytest.mark.parametrize("section, direction", [(3, "server_to_client"), (5, "server_to_client"), (6, "server_to_client"), (6, "client_to_server"), (7, "server_to_client")])
def test_rfc8448_signatures_verify_and_a_forged_one_does_not(section, direction):
    from purekong.inspect import rfc8448

    rec = rfc8448(section)  # RSA-PSS server keys; in §6 an ECDSA server and an RSA-PSS client
    assert not [f for f in rec.findings if f.kind == "bad_signature"]
    (cv,) = [m for m in rec.handshake_messages if m.name == "certificate_verify" and m.direction == direction]
    forged = dataclasses.replace(cv, raw=cv.raw[:-1] + bytes([cv.raw[-1] ^ 1]))
    messages = tuple(forged if m is cv else m for m in rec.handshake_messages)
    bad = recompute(dataclasses.replace(rec, handshake_messages=messages, findings=(), key_schedule=()))
    side = "server" if direction == "server_to_client" else "client"
    # (in §6 the client's signature covers the server's, so it fails too)
    assert f"{side} CertificateVerify" in [f.subject for f in bad.findings if f.kind == "bad_signature"]
