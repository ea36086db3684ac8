"""The terminal view over real scenario recordings: ladder, sections, plain pipes."""

from __future__ import annotations

import io

import pytest

from purekong.inspect._adapter import recording_from_capture
from purekong.inspect._scenarios import SCENARIOS, run_scenario
from purekong.inspect._terminal import Options, make_console, render


@pytest.fixture(scope="module")
def recordings():
    return {name: recording_from_capture(run_scenario(name, 0)) for name in ("tls13", "mtls", "tls12", "bad-certificate-verify", "key-update")}


def _text(recording, options=Options(), *, encoding="utf-8", color=None) -> str:
    # The CLI sets errors="replace" on stdout: an ASCII terminal gets "?" for "§".
    stream = io.TextIOWrapper(io.BytesIO(), encoding=encoding, errors="replace", newline="\n")
    console = make_console(stream, color=color)
    render(recording, console, options)
    stream.flush()
    return stream.buffer.getvalue().decode(encoding)


def _ladder(text: str) -> list[str]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if "client" in line and "server" in line and "epoch" in line)
    end = lines.index("", start) if "" in lines[start:] else len(lines)
    return lines[start + 1:end]


def test_one_arrow_per_message_in_wire_order(recordings):
    rec = recordings["tls13"]
    ladder = _ladder(_text(rec))
    expected = ["ClientHello", "ServerHello", "EncryptedExtensions", "Certificate", "CertificateVerify", "Finished", "Finished", "NewSessionTicket"]
    shown = [word for line in ladder for word in line.replace("▶", " ").replace("◀", " ").split() if word in set(expected)]
    assert shown == expected
    assert len(ladder) == len(rec.records) + sum(
        max(len([m for m in rec.handshake_messages if m.records and m.records[0] == r.index]), 1) - 1 for r in rec.records)


def test_direction_and_epoch_of_each_line(recordings):
    ladder = _ladder(_text(recordings["tls13"]))
    hello = next(line for line in ladder if "ClientHello" in line)
    server_hello = next(line for line in ladder if "ServerHello" in line)
    assert hello.index("ClientHello") < hello.index("▶") and "plaintext" in hello
    assert server_hello.index("◀") < server_hello.index("ServerHello")
    assert "handshake" in next(line for line in ladder if "EncryptedExtensions" in line)
    grouped = [line for line in ladder if line.strip().startswith(("┌", "│", "└")) or " ┌ " in line or " └ " in line]
    assert len(grouped) == 4  # EncryptedExtensions .. Finished share one record


def test_plain_pipe_has_no_escape_codes_and_ascii_fallback(recordings):
    text = _text(recordings["mtls"], Options(why=True, keys=True, data=True, bytes=True))
    assert "\x1b[" not in text
    ascii_text = _text(recordings["mtls"], Options(why=True), encoding="ascii")
    assert "------> " in ascii_text and " <------" in ascii_text and "?-" not in ascii_text
    coloured = _text(recordings["mtls"], color=True)
    assert "\x1b[" in coloured


def test_why_shows_the_certificate_phase_and_dn_list(recordings):
    text = _text(recordings["mtls"], Options(why=True))
    assert "request client certificate: yes" in text
    assert "CA DN: CN=purekong inspect CA,O=purekong inspect" in text
    assert "CA DN: CN=another CA,O=purekong inspect" in text
    assert "kong.client.tls.request_client_certificate" in text


def test_failed_handshake_shows_alert_and_failed_check(recordings):
    text = _text(recordings["bad-certificate-verify"], Options(why=True))
    ladder = _ladder(text)
    assert any("alert: decrypt_error (fatal)" in line and "◀" in line for line in ladder)
    assert "failed_check: signature verification failed" in text  # the server engine's own report
    assert "RFC 8446 §4.4.3" in text


def test_data_section_shows_both_directions_decrypted(recordings):
    text = _text(recordings["tls12"], Options(data=True))
    assert "b'GET / HTTP/1.1\\r\\nHost: localhost\\r\\n\\r\\n'" in text
    assert "HTTP/1.1 200 OK" in text


def test_key_update_epochs_in_the_ladder(recordings):
    ladder = _ladder(_text(recordings["key-update"]))
    assert sum("KeyUpdate" in line for line in ladder) == 4
    assert any("application_2" in line for line in ladder)


def test_keys_section_lists_each_secret_once_with_its_sources(recordings):
    text = _text(recordings["tls13"], Options(keys=True))
    lines = [line for line in text.splitlines() if line.strip().startswith("SERVER_HANDSHAKE_TRAFFIC_SECRET")]
    assert len(lines) == 1 and "engine" in lines[0] and "keylog" in lines[0]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_scenario_renders_every_section(name):
    rec = recording_from_capture(run_scenario(name, 3))
    text = _text(rec, Options(why=True, keys=True, data=True, bytes=True))
    assert "ClientHello" in text and "Decisions and the certificate phase" in text


def test_a_bulk_transfer_is_one_run_in_the_ladder():
    from purekong.inspect._scenarios import transfer_capture

    rec = recording_from_capture(transfer_capture(300_000))
    ladder = _ladder(_text(rec))
    data_records = [r for r in rec.records if r.inner_content_type == 23]
    assert len(data_records) > 10 and len(ladder) < len(rec.records)
    summary = [line for line in ladder if "more records of application data" in line]
    assert len(summary) == 1 and f"... {len(data_records) - 2} more records" in summary[0]
