"""purekong and OpenSSL answer the same ClientHellos alike, apart from the listed divergences."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from purekong.testing import differential
from purekong.testing import strategies as pks
from purekong.testing._wire import alert as alert_record


@given(pks.client_hellos())
def test_valid_hellos_get_the_same_version(hello):
    assert differential.compare(hello.record(), label="valid") is None


@given(pks.defective_client_hellos())
def test_defective_hellos_get_the_same_answer_or_a_listed_divergence(bad):
    difference = differential.compare(bad.record(), label=bad.defect)
    assert difference is None, difference.describe()


@pytest.mark.parametrize("divergence", differential.DIVERGENCES, ids=lambda d: d.label)
def test_every_listed_divergence_still_happens(divergence):
    """A divergence that no longer occurs must leave the list (it would hide a regression)."""
    @settings(max_examples=5)
    @given(pks.defective_client_hellos([divergence.label]))
    def check(example):
        ours, theirs = differential.purekong_verdict(example.record()), differential.openssl_verdict(example.record())
        assert (str(ours), str(theirs)) == (divergence.purekong, divergence.openssl), divergence

    check()


def test_verdicts_read_alerts_and_silence():
    assert str(differential.verdict_of(alert_record(2, 40))) == "alert handshake_failure"
    assert str(differential.verdict_of(b"")) == "waiting"
