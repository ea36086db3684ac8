"""The pytest plugin, as a user's project sees it (pytester runs a separate pytest session)."""

from __future__ import annotations

import re

THREE_LINES = '''
def test_bytes_cross(tls_pair):
    tls_pair.client.send(b"ping"); tls_pair.pump()
    assert bytes(tls_pair.server.received) == b"ping"
'''


def test_three_line_test_and_the_fixtures(pytester):
    pytester.makepyfile(test_three=THREE_LINES, test_fixtures='''
import pytest
from purekong.testing import Edit

@pytest.mark.parametrize("tls_pair", [{"server": {"versions": ("TLSv1.2",)}}], indirect=True)
def test_tls12(tls_pair):
    assert tls_pair.server.handshake.version == "TLSv1.2"

def test_attacker(attacker):
    peer = attacker([Edit("skip", "server", "CertificateVerify")], server={"versions": ("TLSv1.3",)})
    assert peer.client.alert.name == "unexpected_message"

def test_kong(kong_harness):
    assert kong_harness().request("GET", "/").response.status == 200
''')
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=4)


def test_seed_repeats_a_run(pytester):
    pytester.makepyfile('''
from hypothesis import given, strategies as st

def test_secret(tls_pair):
    print("SECRET", tls_pair.client.secrets["CLIENT_HANDSHAKE_TRAFFIC_SECRET"].hex())

@given(st.integers())
def test_draw(n):
    print("DRAW", n)
''')
    runs = [pytester.runpytest_subprocess("-s", "-p", "no:cacheprovider", "--purekong-seed=7") for _ in range(2)]
    outputs = [sorted(re.findall(r"(SECRET|DRAW) (\S+)", run.stdout.str())) for run in runs]
    assert "purekong.testing: --purekong-seed=7" in runs[0].stdout.str()
    assert outputs[0] == outputs[1] and outputs[0]
    unseeded = pytester.runpytest_subprocess("-s", "-p", "no:cacheprovider")
    assert sorted(re.findall(r"SECRET (\S+)", unseeded.stdout.str())) != [v for k, v in outputs[0] if k == "SECRET"]


def test_profiles(pytester):
    pytester.makepyfile('''
from hypothesis import settings

def test_profile():
    print("EXAMPLES", settings.default.max_examples, settings.default.stateful_step_count)
''')
    for profile, expected in (("ci", "EXAMPLES 50 25"), ("deep", "EXAMPLES 2000 100")):
        result = pytester.runpytest_subprocess("-s", "-p", "no:cacheprovider", f"--hypothesis-profile={profile}")
        assert expected in result.stdout.str()


def test_kong_harness_and_tls_pair_need_no_hypothesis():
    """``import purekong.testing`` (KongHarness, the pairs) must not import hypothesis: that is the testing extra."""
    import subprocess
    import sys

    code = "import sys, purekong.testing; print('hypothesis' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr
