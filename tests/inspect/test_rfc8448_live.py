"""RFC 8448 §3 live: purekong's server on the RFC's inputs, each value beside the RFC's.

The RFC's ClientHello record, server key, server random, x25519 key and
PSS salt go in (labelled ``random=``); what must come out the same (the
ServerHello, the shared secret, the handshake traffic secrets, the
Certificate) is asserted equal, and what must differ (everything after
EncryptedExtensions, which the RFC's server fills with FFDHE groups
purekong does not implement) is asserted to differ, with its reason.
"""

from __future__ import annotations

import pytest

from purekong.cli import main
from purekong.inspect import RFC8448Error
from purekong.inspect._adapter import recording_from_capture
from purekong.inspect._rfc8448_live import pss_salt, replay, rfc8448_server_key


@pytest.fixture(scope="module")
def live():
    return replay(3)


SAME = {"ServerHello", "ServerHello record", "(EC)DHE shared secret", "client_handshake_traffic_secret",
        "server_handshake_traffic_secret", "Certificate"}


def test_what_the_rfc_fixes_comes_out_byte_for_byte(live):
    by_name = {c.name: c for c in live.checks}
    assert SAME <= set(by_name)
    for name in SAME:
        assert by_name[name].ok, name
    assert all(c.ok for c in live.checks if c.given)  # the injected values were the ones used


def test_what_differs_says_why_and_starts_at_encrypted_extensions(live):
    differing = [c for c in live.checks if not c.ok]
    assert differing[0].name == "EncryptedExtensions"
    assert "ffdhe" in differing[0].why and "supported_groups" in differing[0].why
    assert {c.name for c in differing} >= {"server Finished", "server_application_traffic_secret_0"}
    assert all(c.why and c.engine is not None for c in differing)
    # The RFC's EncryptedExtensions carries supported_groups (10); purekong's does not.
    assert live.checks[[c.name for c in live.checks].index("EncryptedExtensions")].rfc[6:8] == b"\x00\x0a"


def test_the_labelled_draws_are_the_rfcs(live):
    labels = [label for label, _ in live.drawn]
    assert {"server_random", "x25519_private", "pss_salt"} <= set(labels)


def test_the_inspector_reads_the_replay_without_a_finding(live):
    rec = recording_from_capture(live.capture)
    assert rec.findings == ()
    assert rec.cipher_suite == 0x1301 and rec.tls_version == 0x0304
    # The signature purekong made verifies (the inspector checks every CertificateVerify).
    assert [m.name for m in rec.handshake_messages][-4:] == ["encrypted_extensions", "certificate", "certificate_verify", "finished"]


def test_pss_salt_recovers_the_salt_of_a_fresh_signature():
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    key = rfc8448_server_key()
    signature = key.sign(b"message", padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
    salt = pss_salt(signature, key.public_key())
    assert len(salt) == 32
    assert pss_salt(key.sign(b"message", padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256()), key.public_key()) != salt


def test_other_sections_are_refused_clearly():
    with pytest.raises(RFC8448Error, match="§3"):
        replay(5)


def _run(capsys, *argv):
    try:
        code = main(["inspect", *argv])
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_live(capsys):
    code, out, _ = _run(capsys, "--rfc8448", "3", "--live")
    assert code == 0
    assert "values the same as the RFC's" in out
    assert "SAME     server_handshake_traffic_secret" in out
    assert "DIFFERS  EncryptedExtensions" in out and "ffdhe" in out


@pytest.mark.parametrize("argv, message", [
    (("--scenario", "tls13", "--live"), "--live goes with --rfc8448"),
    (("--rfc8448", "6", "--live"), "covers RFC 8448 §3"),
])
def test_cli_live_misuse_is_one_line(capsys, argv, message):
    code, _, err = _run(capsys, *argv)
    assert code == 2 and message in err and err.count("\n") == 1
