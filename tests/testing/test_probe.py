"""purekong probe: no findings against a correct purekong server, the planted flaws found, bad targets reported in one line.

The servers are thread-served purekong connections (conftest's
``probe_server``); the planted-flaw ones are marked test doubles. Runs
against openssl s_server and gnutls-serv are in docs/testing.md (by hand:
they need free ports and the binaries).
"""

from __future__ import annotations

import json

import pytest

from purekong.cli import main


def probe(port, tmp_path, *extra, timeout="0.5"):
    # A short read timeout keeps the silent cases (planted flaws, stalls) quick.
    report = tmp_path / "report.json"
    status = main(["probe", f"127.0.0.1:{port}", "--sni", "localhost", "--examples", "4", "--timeout", timeout,
                   "--report", str(report), *extra])  # a later --examples wins
    return status, json.loads(report.read_text())


def test_a_correct_server_has_no_findings(probe_server, tmp_path, capsys):
    status, report = probe(probe_server(), tmp_path, timeout="5")  # a loaded CI machine is slow to answer
    assert status == 0, capsys.readouterr().out
    assert report["findings"] == 0 and {p["name"] for p in report["properties"]} >= {"negotiation", "defective_hellos", "early_ccs", "sni_binding"}
    sni = next(p for p in report["properties"] if p["name"] == "sni_binding")
    assert sni["connections"] == 4 and not sni["answer"].startswith(("skipped", "not applicable")), sni  # full, the SNI ack, control resumption, other name


@pytest.mark.parametrize("flaw, property_name, words", [
    ("accepts_early_ccs", "early_ccs", "TLS 1.2 ClientHello followed at once by ChangeCipherSpec: expected unexpected_message, got silent"),
    ("ignores_heartbeat", "heartbeat", "heartbeat request before the ClientHello: expected unexpected_message, got "),
    ("resumes_across_sni", "sni_binding", "a ClientHello for otherhost offering the session made for localhost: the server resumed it"),
])
def test_planted_flaws_are_found(probe_server, tmp_path, capsys, flaw, property_name, words):
    # Only the early-CCS double answers with silence: it alone needs the short timeout.
    status, report = probe(probe_server(flaw), tmp_path, "--recordings", str(tmp_path / "rec"),
                           timeout="1.5" if flaw == "accepts_early_ccs" else "5")
    failed = {p["name"]: p for p in report["properties"] if not p["passed"]}
    assert status == 1 and set(failed) == {property_name}, capsys.readouterr().out
    assert failed[property_name]["counterexample"].startswith(words)
    assert bytes.fromhex(failed[property_name]["counterexample_bytes"])[:1] in (b"\x16", b"\x18")  # a record, as sent
    from purekong.inspect import Recording

    recording = Recording.from_json((tmp_path / "rec" / f"{property_name}.json").read_text())  # the bytes sent, for inspect
    assert recording.records and recording.records[0].raw == bytes.fromhex(failed[property_name]["counterexample_bytes"])[:len(recording.records[0].raw)]
    assert words in capsys.readouterr().out


def test_a_certificate_without_certificate_verify_is_found(probe_server, tmp_path, capsys, client_pem):
    # CVE-2022-25640 on a Kong-style mTLS server: found in the second flight's first plan, with its recording.
    status, report = probe(probe_server("accepts_certificate_without_verify"), tmp_path, "--client-cert", client_pem[0],
                           "--key", client_pem[1], "--recordings", str(tmp_path / "rec"), timeout="5")
    out = capsys.readouterr().out
    failed = {p["name"]: p for p in report["properties"] if not p["passed"]}
    assert status == 1 and set(failed) == {"second_flight"}, out
    finding = failed["second_flight"]
    assert finding["counterexample"].startswith("client Certificate without its CertificateVerify (TLSv1.3; RFC 8446 §4.4.3; "
                                                "CVE-2022-25640): expected unexpected_message, but the server went on"), finding
    assert "edit: skip the client's CertificateVerify" in finding["answer"] and finding["connections"] == 1
    from purekong.inspect import CLIENT_TO_SERVER, Recording

    recording = Recording.from_json((tmp_path / "rec" / "second_flight.json").read_text())
    sent = [m.msg_type for m in recording.handshake_messages if m.direction == CLIENT_TO_SERVER]
    assert 11 in sent and 15 not in sent and 20 in sent, sent  # decrypted with the client's keys: Certificate, no CertificateVerify, Finished
    assert f"purekong inspect {tmp_path / 'rec' / 'second_flight.json'}" in out


def test_a_correct_mtls_server_passes_every_second_flight_plan(probe_server, tmp_path, capsys, client_pem):
    status, report = probe(probe_server(mtls=True), tmp_path, "--client-cert", client_pem[0], "--key", client_pem[1],
                           "--examples", "19", timeout="5")
    flight = next(p for p in report["properties"] if p["name"] == "second_flight")
    assert status == 0 and flight["passed"] and flight["connections"] == 19, capsys.readouterr().out
    assert not flight["divergences"], flight  # every plan applied: the server asked for the certificate


@pytest.mark.parametrize("behaviour, words", [
    ("closes", "closed the connection without answering a ClientHello: not a TLS server?"),
    ("garbage", "answered a ClientHello with bytes that are not TLS records"),
    ("stalls", "did not answer a ClientHello within 0.5 s"),
])
def test_a_target_that_is_not_tls_gets_one_line(probe_server, tmp_path, capsys, behaviour, words):
    status, report = probe(probe_server(behaviour=behaviour), tmp_path)
    err = capsys.readouterr().err
    assert status == 2 and words in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert words in report["error"]


def test_an_unreachable_target_and_bad_flags(tmp_path, capsys):
    status, _ = probe(1, tmp_path)
    assert status == 2 and "cannot connect to 127.0.0.1:1" in capsys.readouterr().err
    assert main(["probe", "nonsense"]) == 2
    assert "target must be HOST:PORT, not 'nonsense'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["probe", "127.0.0.1:1", "--examples", "0"])
    assert "--examples: must be at least 1" in capsys.readouterr().err


def test_bad_client_certificate_flags_get_one_line(tmp_path, capsys, client_pem):
    assert main(["probe", "127.0.0.1:1", "--client-cert", client_pem[0]]) == 2
    assert "--client-cert and --key go together" in capsys.readouterr().err
    assert main(["probe", "127.0.0.1:1", "--client-cert", str(tmp_path / "none.pem"), "--key", client_pem[1]]) == 2
    err = capsys.readouterr().err
    assert "--client-cert/--key: cannot read" in err and "none.pem" in err and "Traceback" not in err
    assert main(["probe", "127.0.0.1:1", "--client-cert", client_pem[1], "--key", client_pem[1]]) == 2  # a key is no certificate
    err = capsys.readouterr().err
    assert err.startswith("purekong probe: --client-cert/--key: ") and len(err.strip().splitlines()) == 1
