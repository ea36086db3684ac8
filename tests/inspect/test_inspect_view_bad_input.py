"""Bad input to the views: cut and corrupt captures, missing key-log lines, records that
do not decrypt, mutated recordings, and the size limits. Never a crash; what is missing is marked."""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from purekong.cli import main
from purekong.inspect import Recording, RecordingFormatError
from purekong.inspect._adapter import recording_from_capture
from purekong.inspect._capture import Capture
from purekong.inspect._diff import diff
from purekong.inspect._html import render_html
from purekong.inspect._pcapng import write_pcapng
from purekong.inspect._pcapread import CaptureError, read_capture
from purekong.inspect._scenarios import run_scenario
from purekong.inspect._terminal import Options, make_console, render

ALL = Options(bytes=True, keys=True, data=True, why=True)


@pytest.fixture(scope="module")
def tls13():
    return run_scenario("tls13", 0)


@pytest.fixture(scope="module")
def pcap_bytes(tls13):
    out = io.BytesIO()
    write_pcapng(out, [(c.direction, c.data) for c in tls13.chunks], "")
    return out.getvalue()


def _views(recording: Recording) -> str:
    stream = io.StringIO()
    render(recording, make_console(stream), ALL)
    render_html(recording)
    diff(recording, recording)
    return stream.getvalue()


def _recording_of(chunks, keylog: str) -> Recording:
    capture = Capture("test")
    for direction, data in chunks:
        capture.wire(direction, data)
    capture.extra_keylog = keylog
    return recording_from_capture(capture)


def test_missing_keylog_line_marks_what_it_cannot_open(tls13):
    lines = tls13.keylog().splitlines()
    # Without the server's handshake secret (and the shared secret it could be
    # recomputed from), the server's encrypted flight cannot be opened.
    keylog = "\n".join(line for line in lines
                       if not line.startswith(("SERVER_HANDSHAKE_TRAFFIC_SECRET", "ecdhe_shared_secret")))
    recording = _recording_of([(c.direction, c.data) for c in tls13.chunks], keylog)
    text = _views(recording)
    undecrypted = [r for r in recording.records if r.epoch == "unknown"]
    assert undecrypted and all(r.direction == "server_to_client" for r in undecrypted[:1])
    assert "encrypted record, not decrypted" in text and "Findings" in text
    # The client's side still opens with the keys that are there.
    assert any(r.decrypted is not None and r.direction == "client_to_server" for r in recording.records)


def test_a_flipped_ciphertext_byte_is_a_finding_not_a_crash(tls13):
    chunks = [(c.direction, bytearray(c.data)) for c in tls13.chunks]
    direction, data = chunks[-3]  # an application-data record
    data[len(data) // 2] ^= 0x01
    recording = _recording_of([(d, bytes(b)) for d, b in chunks], tls13.keylog())
    text = _views(recording)
    assert recording.findings and "Findings" in text


def test_connection_dying_mid_handshake(tls13):
    stream = [(c.direction, c.data) for c in tls13.chunks]
    assert stream[1][0] == "server_to_client" and len(stream[1][1]) > 800
    cut = stream[:1] + [(stream[1][0], stream[1][1][:800])]  # the server's flight, cut inside the encrypted record
    recording = _recording_of(cut, tls13.keylog())
    text = _views(recording)
    assert recording.records[-1].truncated and "truncated" in text
    assert [m.name for m in recording.handshake_messages] == ["client_hello", "server_hello"]


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_cut_or_corrupt_captures_never_crash(tmp_path_factory, pcap_bytes, tls13, data):
    blob = bytearray(pcap_bytes)
    cut = data.draw(st.integers(0, len(blob)), label="cut")
    flips = data.draw(st.lists(st.tuples(st.integers(0, len(blob) - 1), st.integers(1, 255)), max_size=8), label="flips")
    for at, mask in flips:
        blob[at] ^= mask
    path = tmp_path_factory.mktemp("cap") / "c.pcapng"
    path.write_bytes(bytes(blob[:cut]))
    try:
        capture = read_capture(str(path), tls13.keylog())
    except CaptureError as exc:
        assert str(exc).startswith("--pcap ")
        return
    _views(recording_from_capture(capture))


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_recordings_load_or_are_refused_never_crash(tls13, data):
    base = json.loads(recording_from_capture(tls13).to_json())
    document = base

    def mutate(node):
        if isinstance(node, dict) and node:
            key = data.draw(st.sampled_from(sorted(node)))
            if data.draw(st.booleans()):
                node[key] = data.draw(st.one_of(st.none(), st.integers(-5, 10**6), st.text(max_size=8),
                                                st.just("zz"), st.just([]), st.just({}), st.booleans()))
            else:
                mutate(node[key])
        elif isinstance(node, list) and node:
            i = data.draw(st.integers(0, len(node) - 1))
            if data.draw(st.booleans()):
                del node[i]
            else:
                mutate(node[i])

    for _ in range(data.draw(st.integers(1, 4))):
        mutate(document)
    try:
        recording = Recording.from_dict(document)
    except RecordingFormatError:
        return
    except (TypeError, ValueError, KeyError):
        return  # the CLI turns these into a one-line "not a recording"
    _views(recording)


def test_size_limits_are_stated_and_enforced(tmp_path, monkeypatch, capsys):
    import purekong.cli._inspect as cli
    import purekong.inspect._pcapread as pcapread

    big = tmp_path / "big.pcapng"
    big.write_bytes(b"\0" * 2048)
    monkeypatch.setattr(pcapread, "MAX_CAPTURE_BYTES", 1024)
    with pytest.raises(CaptureError, match="more than the 1,024-byte limit"):
        read_capture(str(big))
    monkeypatch.setattr(cli, "MAX_RECORDING_BYTES", 1024)
    code = main(["inspect", str(big)])
    err = capsys.readouterr().err
    assert code == 1 and "more than the 1,024-byte limit" in err and len(err.strip().splitlines()) == 1


def test_not_a_capture_is_one_line(tmp_path, capsys):
    path = tmp_path / "x.pcap"
    path.write_bytes(b"hello, this is not a capture")
    code = main(["inspect", "--pcap", str(path)])
    err = capsys.readouterr().err
    assert code == 1 and "not a pcap or pcapng file" in err and len(err.strip().splitlines()) == 1
