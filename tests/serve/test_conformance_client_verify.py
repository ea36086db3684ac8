"""``request.tls.client_verify`` on a resumed session, through ``purekong serve``
(issue 10, defect 10): nginx keeps the verify result in its session and Kong
logs it again on resumption; purekong logged ``NONE``.

A real client (``openssl s_client -sess_out``/``-sess_in``) presents a
certificate that a global certificate-phase plugin requests (no CA list, so,
as in Kong, the result is ``FAILED:...``), then resumes. (Kong's own
tls-handshake-modifier disables session reuse, so it cannot be used here.)
"""

from __future__ import annotations

import subprocess
import time

import pytest

from _serve_helpers import HAVE_OPENSSL, TIMEOUT, kong_yml, start_gateway, write_plugins

pytestmark = pytest.mark.skipif(not HAVE_OPENSSL, reason="openssl not installed")

REQUEST = b"GET /echo/verify HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"

ASKER = '''
priority = 100

class Plugin:
    def __init__(self, config):
        pass

    def certificate(self, kong):
        kong.client.tls.request_client_certificate()
'''


@pytest.fixture(scope="module")
def gw(tmp_path_factory, upstream, files):
    tmp = tmp_path_factory.mktemp("serve-verify")
    g = start_gateway(tmp, [
        "-c", str(kong_yml(tmp, upstream, files, extra_plugins="- name: asker")), "--listen", "127.0.0.1:0 ssl",
        "--plugins-dir", str(write_plugins(tmp, {"asker.py": ASKER})), "--access-log", str(tmp / "access.log"), "--state-dir", str(tmp / "state"),
    ])
    yield g
    assert g.stop() == 0, g.stderr()


def s_client(gw, files, *args: str) -> str:
    proc = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{gw.https}", "-servername", "localhost", "-ign_eof",
         "-CAfile", files.path("ca.pem"), "-cert", files.path("good.pem"), "-key", files.path("good-key.pem"), *args],
        input=REQUEST, capture_output=True, timeout=TIMEOUT,
    )
    return proc.stdout.decode(errors="replace") + proc.stderr.decode(errors="replace")


def log_entries(gw, count: int) -> list[dict]:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        entries = [e for e in gw.access() if e["request"]["uri"] == "/echo/verify"]
        if len(entries) >= count:
            return entries
        time.sleep(0.05)
    raise AssertionError(f"{count} access-log lines expected, got {gw.access()}")


@pytest.mark.parametrize("flags", [["-tls1_3"], ["-tls1_2"], ["-tls1_2", "-no_ticket"]], ids=["tls13-ticket", "tls12-ticket", "tls12-cache"])
def test_resumed_session_logs_the_original_client_verify(gw, files, tmp_path, flags):
    before = len(log_entries(gw, 0))
    session = str(tmp_path / "session.pem")
    first = s_client(gw, files, *flags, "-sess_out", session)
    assert "HTTP/1.1 200" in first, first
    second = s_client(gw, files, *flags, "-sess_in", session)
    assert "Reused, TLSv1." in second, second
    full, resumed = log_entries(gw, before + 2)[before:]
    # s_client sends the CA after its leaf; against the empty store Kong sets up: this reason.
    assert full["request"]["tls"]["client_verify"] == "FAILED:self-signed certificate in certificate chain"
    assert resumed["request"]["tls"]["client_verify"] == full["request"]["tls"]["client_verify"]
