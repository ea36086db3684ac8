"""The negotiation oracle agrees with the engine (the shipped property), and its rules say what they should."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given

from purekong.engine import AlertDescription
from purekong.testing import kit_server_config, oracle
from purekong.testing import strategies as pks
from purekong.testing._wire import GROUP_CODES, alpn_extension, key_share_extension


@given(pks.server_configs(client_auth=False), pks.client_hellos())
def test_engine_agrees_with_the_model(config, hello):
    observed, predicted = oracle.observe(config, hello), oracle.predict(config, hello)
    assert observed == predicted


@given(pks.client_hellos(versions=["TLSv1.3"]))
def test_no_wanted_key_share_is_a_hello_retry(hello):
    config = kit_server_config(groups=("secp384r1",))
    hello = hello.with_extension(10, bytes.fromhex("0004001d0018")).with_extension(51, key_share_extension([]))
    prediction = oracle.predict(config, hello)
    assert prediction.hello_retry and prediction.group == GROUP_CODES["secp384r1"]
    assert oracle.observe(config, hello) == prediction


@given(pks.client_hellos())
def test_alpn_without_overlap_is_refused_first(hello):
    config = kit_server_config(alpn_protocols=("h2",), versions=("TLSv1.2",))
    hello = hello.with_extension(16, alpn_extension(["http/1.1"]))
    assert oracle.predict(config, hello).alert == AlertDescription.no_application_protocol
    assert oracle.observe(config, hello).alert == AlertDescription.no_application_protocol


@given(pks.client_hellos(versions=["TLSv1.2"]))
def test_a_tls13_only_server_refuses_a_tls12_hello(hello):
    config = kit_server_config(versions=("TLSv1.3",))
    assert oracle.predict(config, hello) == oracle.observe(config, hello) == oracle.Prediction(AlertDescription.protocol_version)


def test_predictions_are_plain_values():
    assert replace(oracle.Prediction(), version="TLSv1.3") == oracle.Prediction(version="TLSv1.3")
