"""purekong.testing.strategies: what each strategy promises, checked against a real purekong server.

The shipped properties: a purekong server answers every valid generated
ClientHello with a ServerHello or HelloRetryRequest, every hello with one
named defect with an alert the RFC allows for that defect, and arbitrary
ClientHello-shaped bytes with an alert or a wait, never an exception.
"""

from __future__ import annotations

import doctest
import warnings

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import NonInteractiveExampleWarning

from purekong.engine import ClientHelloReceived
from purekong.testing import _attacker, _drive, _hello_strategies, _message_strategies, _pair, kit_server_config, server_answer
from purekong.testing import strategies as pks
from purekong.testing._wire import parse_server_hello, split_handshake, split_records

# No ALPN: a server with ALPN refuses a hello whose protocols it lacks
# (no_application_protocol) before tlslite reads the rest of it.
SERVER = kit_server_config()


def first_server_message(sent: bytes) -> bytes:
    content_type, _, payload = next(split_records(sent))
    assert content_type == 22, sent[:16].hex()
    return split_handshake(payload)[0][0]


@given(pks.client_hellos())
def test_valid_hellos_get_a_server_hello(hello):
    outcome = server_answer(SERVER, hello.record())
    assert outcome.alert is None, outcome.describe()
    assert [type(e) for e in outcome.events][:1] == [ClientHelloReceived]
    server_hello = parse_server_hello(first_server_message(outcome.sent))
    if server_hello["hello_retry_request"]:
        assert not hello.key_share_groups or set(hello.key_share_groups).isdisjoint(SERVER.groups)
    assert server_hello["version"] in hello.offered_versions
    assert server_hello["cipher_suite"] in hello.cipher_suites


@given(pks.defective_client_hellos())
def test_each_defect_gets_the_rfc_alert(bad):
    outcome = server_answer(SERVER, bad.record())
    assert outcome.alert in bad.alerts, f"{bad.describe()}: {outcome.describe()}"
    assert outcome.sent.endswith(bytes([21, 3, 3, 0, 2, 2, outcome.alert]))


@pytest.mark.parametrize("name", sorted(pks.HELLO_DEFECTS))
def test_every_defect_is_generated_and_labelled(name):
    @settings(max_examples=5)
    @given(pks.defective_client_hellos([name]))
    def check(bad):
        assert bad.defect == name and bad.label == pks.HELLO_DEFECTS[name].label and not bad.valid
        assert server_answer(SERVER, bad.record()).alert in bad.alerts

    check()


@given(pks.raw_client_hellos(), pks.deliveries())
def test_raw_hellos_get_an_alert_or_a_wait(raw, delivery):
    outcome = server_answer(SERVER, delivery.split(raw.record()), eof=True)
    assert outcome.alert is not None or outcome.events, outcome.describe()


@given(st.sampled_from(["TLSv1.3", "TLSv1.2"]).flatmap(lambda v: pks.handshake_messages(version=v, defective=None)))
def test_handshake_messages_are_framed_or_labelled(msg):
    messages, rest = split_handshake(msg.data)
    if msg.valid:
        assert messages == [msg.data] and rest == b"", msg.label
    else:
        assert msg.defect in pks.MESSAGE_DEFECTS and msg.label.split()[0] in pks.MESSAGES["TLSv1.3"] + pks.MESSAGES["TLSv1.2"]


@given(st.lists(pks.handshake_messages(), min_size=1, max_size=4).flatmap(
    lambda ms: st.tuples(st.just([m.data for m in ms]), pks.record_layouts([m.data for m in ms]))))
def test_record_layouts_carry_the_messages(case):
    messages, layout = case
    payload = b"".join(p for t, _, p in split_records(layout.data) if t == 22)
    assert payload == b"".join(messages), layout.label


@given(pks.deliveries(), st.binary(max_size=100))
def test_deliveries_lose_nothing(delivery, data):
    chunks = delivery.split(data)
    assert b"".join(chunks) == data and all(chunks)


@given(pks.extension_lists(unique=True))
def test_extension_lists_are_framed(block):
    assert int.from_bytes(block[:2], "big") == len(block) - 2


@given(pks.config_pairs())
def test_config_pairs_share_a_version_cipher_and_group(pair):
    server, client = pair
    for field in ("versions", "ciphers", "groups"):
        assert set(getattr(server, field)) & set(getattr(client, field))


@given(pks.defective_records(), pks.alerts(defective=True), pks.change_cipher_specs())
def test_record_defects_are_labelled(bad_record, bad_alert, ccs):
    for example in (bad_record, bad_alert):
        assert not example.valid and example.alerts and example.label
    assert ccs.data[0] == 20


@pytest.mark.parametrize("call, message", [
    (lambda: pks.server_configs(versions=[]), "versions: empty"),
    (lambda: pks.server_configs(versions=["TLSv1.1"]), "versions: unknown TLSv1.1"),
    (lambda: pks.client_hellos(versions=["SSLv3"]), "versions: unknown SSLv3"),
    (lambda: pks.defective_client_hellos(["nonsense"]), "defects: unknown nonsense"),
    (lambda: pks.handshake_messages(version="TLSv1.1"), "version must be one of"),
    (lambda: pks.handshake_messages(version="TLSv1.3", types=["ServerKeyExchange"]), "not TLSv1.3 messages: ServerKeyExchange"),
    (lambda: pks.defective_records(bytes(20000)), "does not fit one record"),
    (lambda: pks.deliveries(max_chunks=0), "max_chunks must be at least 1"),
    (lambda: pks.extension_lists(types=[]), "types must not be empty"),
    (lambda: pks.raw_client_hellos(max_size=-1), "max_size must be at least 0"),
])
def test_impossible_arguments_are_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_labels_reach_hypothesis_output():
    seen = []

    @given(pks.defective_client_hellos(["duplicate_key_share_group"]))
    def fails(bad):
        seen.append(bad)
        raise AssertionError("boom")

    with pytest.raises(AssertionError) as info:
        settings(max_examples=3, database=None, phases=[Phase.generate])(fails)()
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "ClientHello with a duplicate key_share group (expected: illegal_parameter, RFC 8446 §4.2.8)" in notes


@pytest.mark.parametrize("module", [_hello_strategies, _message_strategies, _drive, _pair, _attacker], ids=lambda m: m.__name__)
def test_docstring_examples_run(module):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NonInteractiveExampleWarning)
        result = doctest.testmod(module, extraglobs={"pks": pks, "server_answer": server_answer, "kit_server_config": kit_server_config})
    assert result.attempted > 0 and result.failed == 0
