"""purekong and OpenSSL answer the same ClientHellos alike, apart from the listed divergences."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from purekong.testing import differential
from purekong.testing import strategies as pks
from purekong.testing._differential_flights import flight_outcome, outcome_class
from purekong.testing._probe_flight import flight_plans
from purekong.testing._wire import alert as alert_record


@given(pks.client_hellos())
def test_valid_hellos_get_the_same_version(hello):
    assert differential.compare(hello.record(), label="valid") is None


@given(pks.defective_client_hellos())
def test_defective_hellos_get_the_same_answer_or_a_listed_divergence(bad):
    difference = differential.compare(bad.record(), label=bad.defect)
    assert difference is None, difference.describe()


def _share_groups(hello):
    extensions = dict(hello.extensions)
    shares, groups = extensions.get(51, b""), extensions.get(10, b"")
    return shares[2:4], [groups[i:i + 2] for i in range(2, len(groups), 2)]


#: TLS 1.3 hellos with one key share, for secp384r1, that also offer x25519 (OpenSSL 3.5+ asks for x25519).
P384_SHARE_ONLY = pks.client_hellos(versions=["TLSv1.3"], grease=False).filter(
    lambda h: _share_groups(h)[0] == b"\x00\x18" and len(dict(h.extensions).get(51, b"")) == 2 + 4 + 97
    and b"\x00\x1d" in _share_groups(h)[1])


@pytest.mark.parametrize("divergence", differential.DIVERGENCES, ids=lambda d: d.label)
def test_every_listed_divergence_still_happens(divergence):
    """A divergence that no longer occurs must leave the list (it would hide a regression)."""
    examples = P384_SHARE_ONLY if divergence.label == "valid" else pks.defective_client_hellos([divergence.label])
    reference = differential.pyopenssl_verdict if divergence.label == "valid" else differential.openssl_verdict

    @settings(max_examples=5)
    @given(examples)
    def check(example):
        ours, theirs = differential.purekong_verdict(example.record()), reference(example.record())
        assert (str(ours), str(theirs)) == (divergence.purekong, divergence.openssl), divergence

    check()


def test_verdicts_read_alerts_and_silence():
    assert str(differential.verdict_of(alert_record(2, 40))) == "alert handshake_failure"
    assert str(differential.verdict_of(b"")) == "waiting"


PLANS = [plan for version in ("TLSv1.3", "TLSv1.2") for plan in flight_plans(version)]


@pytest.mark.parametrize("plan", PLANS, ids=lambda p: f"{p.version}-{p.label}")
def test_the_flights_after_the_hello_are_refused_alike(plan):
    ours, theirs = flight_outcome("purekong", plan), flight_outcome("pyopenssl", plan)
    assert not ours.startswith("inconclusive") and not theirs.startswith("inconclusive"), (ours, theirs)  # every plan applied
    assert differential.compare_flight(plan) is None, (ours, theirs)


def test_outcome_classes_keep_refusing_and_going_on_apart():
    assert outcome_class("alert unexpected_message") == outcome_class("closed") == "refused"
    assert outcome_class("went on") != "refused" and outcome_class("silent") != "refused"
