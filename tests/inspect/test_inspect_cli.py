"""`purekong inspect` end to end: sources, outputs, diff, one-line errors, live servers."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import pytest
from cryptography.hazmat.primitives import serialization

from purekong.cli import main
from purekong.inspect import Recording


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(["inspect", *argv])
    except SystemExit as exc:  # argparse's own exit, after our one-line message
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_list_names_every_scenario(capsys):
    from purekong.inspect._scenarios import SCENARIOS

    code, out, _ = _run(capsys, "--list")
    assert code == 0 and [line.split()[0] for line in out.splitlines()] == list(SCENARIOS)


@pytest.mark.parametrize("argv,flag", [
    (["--scenario", "nope"], "--scenario"),
    (["--scenario", "tls13", "--pcap", "x.pcap"], "--pcap"),
    (["--seed", "abc", "--scenario", "tls13"], "--seed"),
    (["--bogus"], "--bogus"),
    ([], "--scenario"),
    (["--connect", "nohostport"], "--connect"),
    (["--connect", "localhost:99999"], "--connect"),
    (["--connect", "localhost:1", "--tls12", "--tls13"], "--tls12"),
    (["--connect", "localhost:1", "--cert", "c.pem"], "--cert"),
    (["--pcap", "/nonexistent.pcap"], "--pcap"),
    (["--scenario", "tls13", "--keylog-in", "k"], "--keylog-in"),
    (["/nonexistent.json"], "/nonexistent.json"),
    (["--scenario", "tls13", "--json", "/nonexistent-dir/x.json"], "--json"),
    (["diff", "only-one.json"], "diff"),
    (["--scenario", "tls13", "--sni", "x"], "--sni"),
    (["--scenario", "tls13", "--tls12"], "--tls12"),
])
def test_bad_flags_are_one_line_naming_the_flag(capsys, argv, flag):
    code, out, err = _run(capsys, *argv)
    assert code in (1, 2)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and flag in lines[0] and lines[0].startswith("purekong inspect: "), err
    assert "Traceback" not in err


def test_json_round_trip_and_views_of_a_saved_recording(capsys, tmp_path):
    saved = tmp_path / "mtls.json"
    code, _, _ = _run(capsys, "--scenario", "mtls", "--seed", "7", "--json", str(saved))
    assert code == 0
    recording = Recording.from_json(saved.read_text())
    assert recording.scenario == "mtls" and recording.seed == 7 and recording.certificate_phase.request_client_certificate
    code, out, _ = _run(capsys, str(saved), "--why")
    assert code == 0 and "CertificateRequest" in out and "CA DN: CN=purekong inspect CA" in out


def test_same_seed_same_json(capsys, tmp_path):
    a, b, c = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "c.json"
    for path, seed in ((a, "1"), (b, "1"), (c, "2")):
        _run(capsys, "--scenario", "tls13-psk", "--seed", seed, "--json", str(path))
    assert a.read_text() == b.read_text() != c.read_text()


def test_corrupt_recordings_get_one_line(capsys, tmp_path):
    for text in ("not json", "[]", '{"schema_version": 1}', '{"schema_version": 2}'):
        path = tmp_path / "bad.json"
        path.write_text(text)
        code, _, err = _run(capsys, str(path))
        assert code == 1 and len(err.strip().splitlines()) == 1 and "not a recording" in err


def test_diff_tls12_against_tls13_and_full_against_resumed(capsys, tmp_path):
    paths = {}
    for name in ("tls12", "tls13", "tls13-psk"):
        paths[name] = tmp_path / f"{name}.json"
        _run(capsys, "--scenario", name, "--json", str(paths[name]))
    code, out, _ = _run(capsys, "diff", str(paths["tls12"]), str(paths["tls13"]))
    assert code == 0
    assert "outcome: version TLS 1.2  ->  version TLS 1.3" in out
    assert "ServerKeyExchange" in out and "EncryptedExtensions" in out and "key_share" in out
    _, out, _ = _run(capsys, "diff", str(paths["tls13"]), str(paths["tls13-psk"]))
    assert "outcome: resumed no  ->  resumed yes" in out and "Certificate" in out
    _, out, _ = _run(capsys, "diff", str(paths["tls13"]), str(paths["tls13"]))
    assert out.startswith("no semantic differences")


def test_pcapng_and_keylog_read_back_offline(capsys, tmp_path):
    pcap, keys = tmp_path / "c.pcapng", tmp_path / "c.keys"
    code, _, _ = _run(capsys, "--scenario", "tls13", "--pcapng", str(pcap), "--keylog", str(keys))
    assert code == 0 and keys.read_text().count("\n") == 5
    code, out, _ = _run(capsys, "--pcap", str(pcap), "--keylog-in", str(keys), "--data")
    assert code == 0 and "EncryptedExtensions" in out and "hello, world" in out and "Findings" not in out
    # Without the key log: the cleartext part, and the rest marked as not decrypted.
    code, out, _ = _run(capsys, "--pcap", str(pcap))
    assert code == 0 and "ServerHello" in out and "not decrypted" in out and "Findings" in out


# -- live: a purekong client against OpenSSL and GnuTLS servers -------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_listening(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited: {process.stdout.read() if process.stdout else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("server never listened")


@pytest.fixture(scope="module")
def server_files(tmp_path_factory):
    from purekong.inspect._seeded import scenario_pki

    directory = tmp_path_factory.mktemp("live")
    pki = scenario_pki(b"live servers")
    pem = serialization.Encoding.PEM
    (directory / "cert.pem").write_bytes(pki.server.cert.public_bytes(pem) + pki.ca.cert.public_bytes(pem))
    (directory / "ca.pem").write_bytes(pki.ca.cert.public_bytes(pem))
    (directory / "key.pem").write_bytes(pki.server.key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                                     serialization.NoEncryption()))
    (directory / "client.pem").write_bytes(pki.client.cert.public_bytes(pem) + pki.ca.cert.public_bytes(pem))
    (directory / "client-key.pem").write_bytes(pki.client.key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                                            serialization.NoEncryption()))
    return directory


def _server(kind: str, files, port: int, version: str) -> list[str]:
    cert, key = str(files / "cert.pem"), str(files / "key.pem")
    if kind == "openssl":
        return ["openssl", "s_server", "-quiet", "-accept", str(port), "-cert", cert, "-key", key, "-www", f"-{version}"]
    priority = "NORMAL:-VERS-ALL:+VERS-TLS1.3" if version == "tls1_3" else "NORMAL:-VERS-ALL:+VERS-TLS1.2"
    return ["gnutls-serv", "--http", "-p", str(port), "--x509certfile", cert, "--x509keyfile", key, "--priority", priority]


@pytest.mark.parametrize("version", ["tls1_3", "tls1_2"])
@pytest.mark.parametrize("kind", ["openssl", "gnutls"])
def test_connect_to_a_real_server(capsys, tmp_path, server_files, kind, version):
    binary = "openssl" if kind == "openssl" else "gnutls-serv"
    if shutil.which(binary) is None:
        pytest.skip(f"{binary} is not installed")
    port = _free_port()
    process = subprocess.Popen(_server(kind, server_files, port, version), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, text=True)
    try:
        _wait_listening(port, process)
        saved = tmp_path / "live.json"
        code, out, err = _run(capsys, "--connect", f"127.0.0.1:{port}", "--sni", "localhost", "--http",
                              "--ca", str(server_files / "ca.pem"), "--json", str(saved), "--data", "--why", "--timeout", "3")
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert code == 0, err
    recording = Recording.from_json(saved.read_text())
    assert recording.tls_version == (0x0304 if version == "tls1_3" else 0x0303)
    assert recording.server.address == f"127.0.0.1:{port}"
    assert "HTTP/1." in out  # the server's answer, decrypted by the inspector
    assert not [f for f in recording.findings if f.severity == "error"], recording.findings
    names = [m.name for m in recording.handshake_messages]
    assert names[:2] == ["client_hello", "server_hello"] and "certificate" in names and names.count("finished") == 2


def test_rfc8448_section_3_with_every_value_beside_the_rfcs(capsys):
    code, out, _ = _run(capsys, "--rfc8448", "3", "--keys")
    assert code == 0 and "ClientHello" in out and "EncryptedExtensions" in out
    line = next(line for line in out.splitlines() if line.startswith("RFC 8448 §3:"))
    reproduced, total = (int(n) for n in line.split(":")[1].split()[0:3:2])
    assert total > 50 and reproduced == total and "DIFFERS" not in out


def test_demo_is_the_mtls_scenario(capsys):
    code = main(["demo"])
    out = capsys.readouterr().out
    assert code == 0 and "Mutual TLS with Kong's certificate phase" in out and "CertificateRequest" in out
    assert "kong.client.tls.request_client_certificate" in out


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_connect_with_a_client_certificate_to_openssl_requiring_one(capsys, tmp_path, server_files):
    port = _free_port()
    command = _server("openssl", server_files, port, "tls1_3") + ["-Verify", "1", "-CAfile", str(server_files / "ca.pem")]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)
    try:
        _wait_listening(port, process)
        saved = tmp_path / "mtls.json"
        code, out, err = _run(capsys, "--connect", f"127.0.0.1:{port}", "--sni", "localhost", "--http", "--alpn", "http/1.1",
                              "--cert", str(server_files / "client.pem"), "--key", str(server_files / "client-key.pem"),
                              "--json", str(saved), "--bytes", "--timeout", "3")
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert code == 0, err
    recording = Recording.from_json(saved.read_text())
    sent_by_client = [m.name for m in recording.handshake_messages if m.direction == "client_to_server"]
    assert "certificate_request" in [m.name for m in recording.handshake_messages]
    assert sent_by_client[:3] == ["client_hello", "certificate", "certificate_verify"]
    assert "CN=purekong inspect CA,O=purekong inspect" in out  # openssl's DN list, decoded by --bytes


@pytest.mark.skipif(not (shutil.which("dumpcap") and shutil.which("openssl")), reason="dumpcap or openssl is not installed")
def test_pcap_of_openssl_talking_to_openssl(capsys, tmp_path, server_files):
    """Someone else's connection: OpenSSL to OpenSSL over loopback, captured by dumpcap, read offline."""
    port = _free_port()
    capture, keys = tmp_path / "cap.pcapng", tmp_path / "keys.log"
    dumpcap = subprocess.Popen(["dumpcap", "-i", "lo", "-f", f"tcp port {port}", "-w", str(capture)],
                               stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True)
    server = None
    try:
        line = dumpcap.stderr.readline()  # "Capturing on 'Loopback: lo'" once it listens
        if "Capturing on" not in line:
            pytest.skip(f"dumpcap cannot capture here: {line.strip()}")
        server = subprocess.Popen(_server("openssl", server_files, port, "tls1_3"), stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        _wait_listening(port, server)
        subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost", "-keylogfile", str(keys),
                        "-quiet", "-ign_eof"], input=b"GET / HTTP/1.0\r\n\r\n", capture_output=True, timeout=20)
        time.sleep(0.5)  # let dumpcap write the last packets
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        dumpcap.terminate()
        dumpcap.wait(timeout=10)
    code, out, err = _run(capsys, "--pcap", str(capture), "--keylog-in", str(keys), "--data")
    assert code == 0, err
    assert "EncryptedExtensions" in out and "CertificateVerify" in out
    assert "b'GET / HTTP/1.0\\r\\n\\r\\n'" in out and "HTTP/1.0 200 ok" in out
    assert "Findings" not in out  # every record opened, nothing missing
