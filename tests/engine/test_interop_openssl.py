"""``purekong tls-server`` (the real command) against ``openssl s_client`` and ``curl``.

Each server is a subprocess started with ``--port 0``; the PKI and process
helpers come from _tls_server_helpers.py. What is checked is what the
peers print: the CA names they were offered, ``New``/``Reused``, the
certificate they got, and the JSON reply.
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import subprocess
import time

import pytest

from _tls_server_helpers import REQUEST, TIMEOUT, ServerProcess, dn_oneline

OPENSSL = shutil.which("openssl")
CURL = shutil.which("curl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="needs the openssl binary")
needs_curl = pytest.mark.skipif(CURL is None, reason="needs the curl binary")

VERSIONS = ["-tls1_2", "-tls1_3"]


def _start(tmp_path_factory, args: list[str]) -> ServerProcess:
    return ServerProcess(args, tmp_path_factory.mktemp("server"))


def _stop(server: ServerProcess) -> None:
    code = server.stop()
    log = server.log()
    assert code == 0, log
    assert "Traceback" not in log, log


@pytest.fixture(scope="module")
def main_server(tls_server_pki, tmp_path_factory):
    """RSA first, then ECDSA; client certificate requested with CA names inter, root (flag order)."""
    keylog = tmp_path_factory.mktemp("keylog") / "keys.log"
    server = _start(tmp_path_factory, [
        "--cert", tls_server_pki.path("rsa.pem"), "--key", tls_server_pki.path("rsa.key"),
        "--cert", tls_server_pki.path("ecdsa.pem"), "--key", tls_server_pki.path("ecdsa.key"),
        "--request-cert", "--ca", tls_server_pki.path("inter.pem"), "--ca", tls_server_pki.path("root.pem"),
        "--alpn", "http/1.1",
        "--keylog", str(keylog),
    ])
    server.keylog = keylog
    yield server
    _stop(server)


@pytest.fixture(scope="module")
def noreuse_server(tls_server_pki, tmp_path_factory):
    """ECDSA first, then RSA; CA names from one file (root, inter); no resumption."""
    server = _start(tmp_path_factory, [
        "--cert", tls_server_pki.path("ecdsa.pem"), "--key", tls_server_pki.path("ecdsa.key"),
        "--cert", tls_server_pki.path("rsa.pem"), "--key", tls_server_pki.path("rsa.key"),
        "--request-cert", "--ca", tls_server_pki.path("cas.pem"),
        "--no-session-reuse",
    ])
    yield server
    _stop(server)


@pytest.fixture(scope="module")
def echo_server(tls_server_pki, tmp_path_factory):
    """Echo; a client certificate is requested, with no CA names."""
    server = _start(tmp_path_factory, [
        "--cert", tls_server_pki.path("rsa.pem"), "--key", tls_server_pki.path("rsa.key"), "--request-cert", "--echo",
    ])
    yield server
    _stop(server)


def s_client(port: int, *args: str, data: bytes = REQUEST, ign_eof: bool = True) -> str:
    """Run s_client once: send ``data``, read until the server closes (``-ign_eof``)."""
    command = [OPENSSL, "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost", *args]
    if ign_eof:
        command.append("-ign_eof")
    result = subprocess.run(command, input=data, capture_output=True, timeout=TIMEOUT)
    return result.stdout.decode(errors="replace") + result.stderr.decode(errors="replace")


def json_body(output: str) -> dict:
    for line in output.splitlines():
        if line.startswith('{"version"'):
            return json.loads(line)
    raise AssertionError(f"no JSON reply in s_client's output:\n{output}")


def ca_names(output: str) -> list[str] | None:
    """The DNs under "Acceptable client certificate CA names", None if that section is missing."""
    lines = output.splitlines()
    try:
        start = lines.index("Acceptable client certificate CA names")
    except ValueError:
        return None
    names = []
    for line in lines[start + 1:]:
        if not re.match(r"^[A-Za-z][A-Za-z0-9.]* = ", line):
            break
        names.append(line)
    return names


def handshake_line(output: str) -> str:
    match = re.search(r"^(New|Reused), (TLSv1\.[23]), Cipher is (\S+)$", output, re.M)
    assert match, f"no handshake summary in s_client's output:\n{output}"
    return match.group(0)


def server_subject(output: str) -> str:
    match = re.search(r"^subject=(.*)$", output, re.M)
    assert match, output
    return match.group(1)


# -- client CA names ------------------------------------------------------------------
@needs_openssl
@pytest.mark.parametrize("version", VERSIONS)
def test_ca_names_follow_flag_order(tls_server_pki, main_server, version):
    output = s_client(main_server.port, version)
    assert ca_names(output) == [dn_oneline(tls_server_pki.inter.cert.subject), dn_oneline(tls_server_pki.root.cert.subject)]
    assert json_body(output)["client_cert_chain"] is None  # no certificate sent: still served


@needs_openssl
@pytest.mark.parametrize("version", VERSIONS)
def test_ca_names_follow_file_order(tls_server_pki, noreuse_server, version):
    output = s_client(noreuse_server.port, version)
    assert ca_names(output) == [dn_oneline(tls_server_pki.root.cert.subject), dn_oneline(tls_server_pki.inter.cert.subject)]


@needs_openssl
@pytest.mark.parametrize("version", VERSIONS)
def test_no_ca_names_without_ca_flag(echo_server, version):
    output = s_client(echo_server.port, version, data=b"", ign_eof=False)
    assert "Requested Signature Algorithms" in output  # a CertificateRequest did arrive
    assert "No client certificate CA names sent" in output
    assert ca_names(output) is None


# -- resumption -------------------------------------------------------------------------
RESUMPTION = {
    "tls12-session-id": ["-tls1_2", "-no_ticket"],
    "tls12-ticket": ["-tls1_2"],
    "tls13-ticket": ["-tls1_3"],
}


@needs_openssl
@pytest.mark.parametrize("mode", RESUMPTION)
def test_sessions_are_reused(main_server, tmp_path, mode):
    session = str(tmp_path / "session.pem")
    first = s_client(main_server.port, *RESUMPTION[mode], "-sess_out", session)
    assert handshake_line(first).startswith("New, ")
    assert json_body(first)["resumed"] is False
    second = s_client(main_server.port, *RESUMPTION[mode], "-sess_in", session)
    assert handshake_line(second).startswith("Reused, ")
    assert json_body(second)["resumed"] is True
    if mode == "tls12-session-id":
        assert "TLS session ticket:" not in first and re.search(r"Session-ID: [0-9A-F]{64}", first)
    elif mode == "tls12-ticket":
        assert "TLS session ticket:" in first
    main_server.wait_for_log(r"resumed=yes .*outcome=\"ok\"")


@needs_openssl
@pytest.mark.parametrize("mode", RESUMPTION)
def test_no_session_reuse_means_new_handshakes(noreuse_server, tmp_path, mode):
    session = tmp_path / "session.pem"
    first = s_client(noreuse_server.port, *RESUMPTION[mode], "-sess_out", str(session))
    assert handshake_line(first).startswith("New, ")
    # Nothing resumable was handed out: no session ID, no ticket.
    assert "TLS session ticket:" not in first
    assert "Post-Handshake New Session Ticket arrived" not in first
    if mode.startswith("tls12"):
        assert re.search(r"^\s*Session-ID: $", first, re.M), first
    if session.exists():  # OpenSSL keeps no session it could not resume; if it did, it must not resume
        second = s_client(noreuse_server.port, *RESUMPTION[mode], "-sess_in", str(session))
        assert handshake_line(second).startswith("New, ")
        assert json_body(second)["resumed"] is False


# -- the client's chain -----------------------------------------------------------------
@needs_openssl
@pytest.mark.parametrize("version", VERSIONS)
def test_client_chain_comes_back_byte_identical(tls_server_pki, main_server, version):
    output = s_client(
        main_server.port, version,
        "-cert", tls_server_pki.path("client.pem"), "-key", tls_server_pki.path("client.key"), "-cert_chain", tls_server_pki.path("client_inter.pem"),
    )
    expected = (tls_server_pki.dir / "client.pem").read_text() + (tls_server_pki.dir / "client_inter.pem").read_text()
    body = json_body(output)
    assert body["client_cert_chain"] == expected
    assert body["version"] == {"-tls1_2": "TLSv1.2", "-tls1_3": "TLSv1.3"}[version]
    main_server.wait_for_log(r"client_cert=yes .*outcome=\"ok\"")


# -- which certificate ------------------------------------------------------------------
@needs_openssl
@pytest.mark.parametrize("version", VERSIONS)
def test_certificate_follows_the_client_signature_algorithms(main_server, noreuse_server, version):
    # main_server lists RSA first, noreuse_server ECDSA first: each restriction
    # is checked on the server whose default is the other certificate.
    assert "O = purekong rsa" in server_subject(s_client(main_server.port, version))
    ecdsa_only = s_client(main_server.port, version, "-sigalgs", "ECDSA+SHA256")
    assert "O = purekong ecdsa" in server_subject(ecdsa_only)
    assert "Peer signature type: ECDSA" in ecdsa_only
    assert json_body(ecdsa_only)["version"] in ("TLSv1.2", "TLSv1.3")

    assert "O = purekong ecdsa" in server_subject(s_client(noreuse_server.port, version))
    pss_only = s_client(noreuse_server.port, version, "-sigalgs", "rsa_pss_rsae_sha256")
    assert "O = purekong rsa" in server_subject(pss_only)
    assert "Peer signature type: RSA-PSS" in pss_only
    if version == "-tls1_2":
        assert "ECDHE-ECDSA" in handshake_line(ecdsa_only) and "ECDHE-RSA" in handshake_line(pss_only)


# -- ALPN, echo, key log ------------------------------------------------------------------
@needs_openssl
def test_alpn_is_reported(main_server):
    body = json_body(s_client(main_server.port, "-alpn", "h2,http/1.1"))
    assert body["alpn"] == "http/1.1"
    output = s_client(main_server.port, "-alpn", "h2")
    assert "no application protocol" in output  # the alert, as OpenSSL names it
    main_server.wait_for_log(r'outcome="sent alert no_application_protocol')


@needs_openssl
@pytest.mark.parametrize("version", VERSIONS)
def test_echo_with_s_client(echo_server, version):
    with InteractiveClient(echo_server.port, version) as client:
        client.send(b"hello purekong\n")
        client.expect(b"\nhello purekong\n")
    assert client.returncode == 0
    want = {"-tls1_2": r"TLSv1\.2", "-tls1_3": r"TLSv1\.3"}[version]
    echo_server.wait_for_log(rf"version={want} .*in=\d+ out=\d+ .*outcome=\"ok\"")


@needs_openssl
def test_echo_survives_a_tls13_key_update(echo_server):
    with InteractiveClient(echo_server.port, "-tls1_3") as client:
        client.send(b"before\n")
        client.expect(b"\nbefore\n")
        client.send(b"K\n")  # s_client: send a KeyUpdate asking the server to update too
        client.expect(b"KEYUPDATE\n")
        client.send(b"after\n")
        client.expect(b"after\n")  # echoed under the new keys
    assert client.returncode == 0


class InteractiveClient:
    """``openssl s_client`` driven line by line (without -ign_eof: closing stdin ends it)."""

    def __init__(self, port: int, *args: str) -> None:
        command = [OPENSSL, "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost", *args]
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.seen = b""
        self.returncode = None

    def send(self, data: bytes) -> None:
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def expect(self, needle: bytes) -> None:
        deadline = time.monotonic() + TIMEOUT
        # os.read on the descriptor: a buffered readline() could hide data from select().
        while needle not in self.seen and time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            data = os.read(self.proc.stdout.fileno(), 65536)
            if not data:
                break
            self.seen += data
        assert needle in self.seen, self.seen
        self.seen = self.seen[self.seen.index(needle) + len(needle):]

    def __enter__(self) -> "InteractiveClient":
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.proc.stdin.close()  # s_client sends close_notify and exits
            self.returncode = self.proc.wait(TIMEOUT)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.proc.stdout.close()


@needs_openssl
@pytest.mark.parametrize("version", VERSIONS)
def test_keylog_matches_openssl_own(main_server, tmp_path, version):
    client_log = tmp_path / "client-keys.log"
    s_client(main_server.port, version, "-keylogfile", str(client_log))
    client_lines = {line for line in client_log.read_text().splitlines() if line and not line.startswith("#")}
    labels = {line.split()[0] for line in client_lines}
    if version == "-tls1_2":
        assert labels == {"CLIENT_RANDOM"}
    else:
        assert {"CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET",
                "CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0"} <= labels
    server_lines = set(main_server.keylog.read_text().splitlines())
    assert client_lines <= server_lines, client_lines - server_lines


@needs_openssl
def test_tls13_exporter_secret_matches_openssl_when_a_cert_is_requested(main_server, tmp_path):
    client_log = tmp_path / "client-keys.log"
    s_client(main_server.port, "-tls1_3", "-keylogfile", str(client_log))
    exporter = [line for line in client_log.read_text().splitlines() if line.startswith("EXPORTER_SECRET ")]
    assert len(exporter) == 1
    assert exporter[0] in main_server.keylog.read_text().splitlines()


# -- curl -----------------------------------------------------------------------------------
@needs_curl
@pytest.mark.parametrize("flags, version", [(["--tlsv1.2", "--tls-max", "1.2"], "TLSv1.2"), (["--tlsv1.3"], "TLSv1.3")])
def test_curl_gets_the_json(tls_server_pki, main_server, flags, version):
    port = main_server.port
    insecure = subprocess.run([CURL, "-sSk", *flags, f"https://127.0.0.1:{port}/"], capture_output=True, timeout=TIMEOUT)
    assert insecure.returncode == 0, insecure.stderr
    body = json.loads(insecure.stdout)
    assert body["version"] == version and body["sni"] is None and body["resumed"] is False
    # And with verification: the chain served (leaf + intermediate) verifies up to the root.
    verified = subprocess.run(
        [CURL, "-sS", *flags, "--cacert", tls_server_pki.path("root.pem"), "--resolve", f"localhost:{port}:127.0.0.1",
         "-D", "-", f"https://localhost:{port}/"],
        capture_output=True, timeout=TIMEOUT,
    )
    assert verified.returncode == 0, verified.stderr
    head, _, payload = verified.stdout.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200 OK\r\n") and b"Content-Type: application/json" in head
    body = json.loads(payload)
    assert body["version"] == version and body["sni"] == "localhost" and body["alpn"] == "http/1.1"
    assert body["cipher"] in ("TLS_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384")
