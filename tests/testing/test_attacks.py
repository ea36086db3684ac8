"""The attack reproductions (purekong.testing.attacks) and the attacker peer's own properties.

Each attack must be refused with the alert the RFC names. Attacks purekong
does not refuse yet are strict xfails naming the defect, so they flip to
failures (to be un-marked) the day the fix lands.
"""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from purekong.engine import AlertDescription
from purekong.testing import AttackerPeer, Edit, edits, kit_client_config, kit_pki, kit_server_config
from purekong.testing import strategies as pks
from purekong.testing.attacks import ATTACK_LIST, ATTACKS as ATTACKS_BY_NAME, KNOWN_DEFECTS


def _param(attack):
    marks = [pytest.mark.xfail(strict=True, reason=KNOWN_DEFECTS[attack.name])] if attack.name in KNOWN_DEFECTS else []
    return pytest.param(attack, id=attack.name, marks=marks)


@pytest.mark.parametrize("attack", [_param(a) for a in ATTACK_LIST])
def test_attack_is_refused(attack):
    result = attack.run()
    assert result.refused, f"{attack.title} [{attack.reference}]: {result.summary}\n" + "\n".join(result.log)


def test_attacker_without_edits_is_transparent():
    for version in ("TLSv1.3", "TLSv1.2"):
        peer = AttackerPeer(kit_server_config(versions=(version,)), kit_client_config(versions=(version,))).run()
        assert peer.client.established and peer.server.established
        peer.client.send(b"through the attacker")
        peer.server.send(b"and back")
        peer.run()
        assert bytes(peer.server.received) == b"through the attacker" and bytes(peer.client.received) == b"and back"


def test_attacker_follows_key_updates():
    peer = AttackerPeer(kit_server_config(versions=("TLSv1.3",)), kit_client_config(versions=("TLSv1.3",))).run()
    for n in range(3):
        peer.client.key_update()
        peer.client.send(b"after update %d" % n)
        peer.run()
    assert bytes(peer.server.received) == b"after update 0after update 1after update 2"
    assert peer.server.key_updates_received == 3 and not peer.server.failed


def test_a_fixed_finished_lets_an_edit_through_that_the_mac_would_catch():
    """The attacker rewrites Finished from the receiver's transcript: a harmless change goes unnoticed."""
    def rename(raw):  # change the ClientHello's random: both sides then hash different transcripts
        return raw[:6] + bytes(32) + raw[38:]

    edit = Edit("rewrite", "client", "ClientHello", rewrite=rename, description="random zeroed")
    version = ("TLSv1.2",)
    unfixed = AttackerPeer(kit_server_config(versions=version), kit_client_config(versions=version), edits=[edit], fix_finished=False).run()
    assert unfixed.server.alert is not None or unfixed.client.alert is not None
    # TLS 1.2's ServerKeyExchange signs the randoms: the client still notices.
    fixed = AttackerPeer(kit_server_config(versions=version), kit_client_config(versions=version), edits=[edit]).run()
    assert fixed.client.alert == AlertDescription.decrypt_error or fixed.client.failed


@settings(max_examples=40)
@given(st.sampled_from(["TLSv1.3", "TLSv1.2"]), st.booleans(), edits(ops=("skip", "duplicate", "swap_with_next", "flip")))
def test_no_edit_goes_unnoticed(version, mtls, plan):
    """Without the attacker's keys (no Finished fix-up) any change to a handshake is refused by someone."""
    pki = kit_pki()
    server = kit_server_config(versions=(version,), request_client_certificate=mtls, client_ca_certificates=(pki.ca,) if mtls else ())
    client = kit_client_config(versions=(version,), certificate=pki.client if mtls else None)
    peer = AttackerPeer(server, client, edits=plan, fix_finished=False).run()
    labels = "; ".join(e.label for e in peer.applied)
    if peer.changed:  # (a TLS 1.3 compatibility CCS moved does not count: it is outside the transcript)
        assert not (peer.client.established and peer.server.established), f"{labels}: both sides completed\n" + "\n".join(peer.log)
    for endpoint in (peer.client, peer.server):
        assert endpoint.alert is None or isinstance(endpoint.alert, AlertDescription)


@pytest.mark.parametrize("kwargs, message", [
    ({"op": "explode", "sender": "client", "message": "Finished"}, "op must be one of"),
    ({"op": "skip", "sender": "mallory", "message": "Finished"}, "sender must be 'client' or 'server'"),
    ({"op": "skip", "sender": "client", "message": "Finished", "occurrence": 0}, "occurrence counts from 1"),
    ({"op": "rewrite", "sender": "client", "message": "Finished"}, "a rewrite edit needs rewrite="),
])
def test_impossible_edits_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Edit(**kwargs)


def test_edit_labels_say_what_happens():
    assert Edit("skip", "client", "CertificateVerify").label == "skip the client's CertificateVerify"
    assert Edit("inject_after", "server", "ServerHello", data=b"\x01", content_type=20).label == "inject ChangeCipherSpec after the server's ServerHello"
    assert Edit("duplicate", "client", "Finished", occurrence=2).label == "send the client's Finished #2 twice"


def test_tls12_client_falls_back_to_a_full_handshake_when_its_ticket_is_declined():
    result = ATTACKS_BY_NAME["ticket_for_another_sni_tls12"].build()
    assert result.refused  # the server declined ...
    assert "client -> server: Finished" in "\n".join(result.log), "... and the client gave up instead of completing"


@settings(max_examples=20)
@given(pks.record_paddings(max_size=2**14 + 300))
@example(0)
@example(2**14 + 300)
def test_tls13_padding_is_accepted_up_to_the_record_limit(padding):
    """RFC 8446 §5.4: padding is allowed, §5.2: an inner plaintext over 2^14 + 1 bytes is record_overflow."""
    configs = kit_server_config(versions=("TLSv1.3",)), kit_client_config(versions=("TLSv1.3",))
    peer = AttackerPeer(*configs, padding=padding).run()
    # The biggest inner plaintext, content type included, of either side's
    # messages: the server traces its whole flight even when the client gave up
    # on one of its records, so its transcript is the one that is complete.
    largest = max(len(m) for side in ("client", "server") for m in peer.transcripts[side]) + 1
    if largest + padding <= 2**14 + 1:
        assert peer.client.established and peer.server.established, peer.log
        peer.client.send(b"padded")
        peer.run()
        assert bytes(peer.server.received) == b"padded"
    else:
        alerts = {peer.client.alert, peer.server.alert}
        assert alerts & {AlertDescription.record_overflow}, (padding, alerts)


SENT_13 = {"server": ["EncryptedExtensions", "Certificate", "CertificateVerify", "Finished"],
           "client": ["Certificate", "CertificateVerify", "Finished"]}


@settings(max_examples=40)
@given(st.sampled_from(["server", "client"]).flatmap(
    lambda sender: st.tuples(st.just(sender), pks.handshake_messages(version="TLSv1.3", types=SENT_13[sender], defective=True))))
def test_a_malformed_tls13_message_gets_the_rfc_alert(case):
    """Each side's parser: a message one byte short or long, or mis-framed, in place of the real one."""
    sender, bad = case
    name = bad.label.split()[0]
    pki = kit_pki()
    server = kit_server_config(versions=("TLSv1.3",), request_client_certificate=True, client_ca_certificates=(pki.ca,))
    client = kit_client_config(versions=("TLSv1.3",), certificate=pki.client)
    # A Finished fix-up would undo the edit: the attacker leaves Finished alone here.
    peer = AttackerPeer(server, client, edits=[Edit("replace", sender, name, data=bad.data)], fix_finished=name != "Finished").run()
    receiver = peer.server if sender == "client" else peer.client
    assert receiver.alert in bad.alerts, f"{bad.describe()}: the {receiver.role} answered {receiver.alert} ({receiver.failure})"
