"""``purekong serve`` with no configuration, and its process lifecycle.

The embedded default from an empty state directory, driven by the exact curl
commands it prints; workers sharing the listening sockets; SIGTERM letting an
in-flight request finish and exiting 0; environment-variable settings.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import threading
import time

import httpx
import pytest

from _serve_helpers import HAVE_CURL, TIMEOUT, kong_yml, start_gateway, write_plugins


def _curl_lines(summary: list[str]) -> list[str]:
    return [line.strip() for line in summary if line.strip().startswith("curl ")]


@pytest.mark.skipif(not HAVE_CURL, reason="curl not installed")
def test_embedded_default_from_an_empty_state_dir(tmp_path):
    state = tmp_path / "state"
    # Port 0 instead of 8443 so parallel runs never collide; everything else is the default.
    g = start_gateway(tmp_path, ["--state-dir", str(state), "--listen", "127.0.0.1:0 ssl"])
    try:
        assert sorted(p.name for p in state.iterdir()) == sorted(
            ["ca.pem", "ca-key.pem", "server.pem", "server-key.pem", "client.pem", "client-key.pem"])
        assert oct(os.stat(state / "client-key.pem").st_mode & 0o777) == "0o600"
        commands = _curl_lines(g.summary)
        assert len(commands) == 3 and any("(created)" in line for line in g.summary)
        without, with_cert, as_json = (shlex.split(c) for c in commands)
        assert f"https://localhost:{g.https}/" in without
        out = subprocess.run(["curl", "-sS", "--fail", *without[1:]], capture_output=True, timeout=TIMEOUT)
        assert out.returncode == 0, out.stderr
        anonymous = json.loads(out.stdout)["tls"]
        assert anonymous["client_verify"] == "NONE" and anonymous["client_certificate"] is None
        out = subprocess.run(["curl", "-sS", "--fail", *with_cert[1:]], capture_output=True, timeout=TIMEOUT)
        assert out.returncode == 0, out.stderr
        info = json.loads(out.stdout)["tls"]
        assert info["client_verify"] == "SUCCESS"  # against the dev CA, at depth 1
        assert info["client_certificate"]["subject"] == "CN=purekong dev client,O=purekong development"
        assert info["client_certificate"]["issuer"] == "CN=purekong dev CA,O=purekong development"
        assert info["version"] in ("TLSv1.2", "TLSv1.3") and info["sni"] == "localhost" and info["alpn"] == "h2"  # curl prefers HTTP/2, as with Kong
        assert info["client_cert_chain"].startswith("-----BEGIN CERTIFICATE-----")
        ext = info["asgi_tls_extension"]
        assert ext["client_cert_name"] == info["client_certificate"]["subject"] and ext["client_cert_error"] is None
        # A browser gets HTML.
        out = subprocess.run(["curl", "-sS", "-H", "Accept: text/html", *with_cert[1:]], capture_output=True, timeout=TIMEOUT)
        assert b"<table>" in out.stdout and b"SUCCESS" in out.stdout
        assert subprocess.run(["curl", "-sS", *as_json[1:]], capture_output=True, timeout=TIMEOUT).returncode == 0
    finally:
        assert g.stop() == 0
    # A second start reuses the PKI.
    before = (state / "ca.pem").read_bytes()
    g = start_gateway(tmp_path, ["--state-dir", str(state), "--listen", "127.0.0.1:0 ssl"])
    try:
        assert any("(reused)" in line for line in g.summary)
        assert (state / "ca.pem").read_bytes() == before
    finally:
        assert g.stop() == 0


def test_settings_from_environment_variables(tmp_path):
    g = start_gateway(tmp_path, [], env={"PUREKONG_LISTEN": "127.0.0.1:0", "PUREKONG_STATE_DIR": str(tmp_path / "st")})
    try:
        assert g.http is not None and g.https is None
        with httpx.Client(timeout=TIMEOUT) as c:
            r = c.get(f"http://127.0.0.1:{g.http}/", headers={"Accept": "application/json"})
        assert r.status_code == 200 and r.json()["tls"] is None  # plain HTTP: no TLS facts
    finally:
        assert g.stop() == 0


def test_sigterm_lets_the_in_flight_request_finish_then_exits_0(tmp_path, upstream, files):
    plugins = write_plugins(tmp_path)
    config = kong_yml(tmp_path, upstream, files)
    g = start_gateway(tmp_path, ["-c", str(config), "--listen", "127.0.0.1:0", "--state-dir", str(tmp_path / "st"),
                                 "--plugins-dir", str(plugins)])
    result = {}
    in_flight = threading.Event()

    def slow_request():
        with httpx.Client(timeout=TIMEOUT) as c:
            with c.stream("GET", f"http://127.0.0.1:{g.http}/stream") as r:  # 5 chunks, 50 ms apart
                in_flight.set()  # the response head is in, the body is still coming
                r.read()
            result["r"] = r

    # An idle keep-alive connection must not hold the shutdown up.
    idle = socket.create_connection(("127.0.0.1", g.http), timeout=TIMEOUT)
    thread = threading.Thread(target=slow_request)
    thread.start()
    assert in_flight.wait(TIMEOUT), "the /stream request never got its response head"
    g.proc.send_signal(signal.SIGTERM)
    assert g.proc.wait(TIMEOUT) == 0
    thread.join(TIMEOUT)
    assert result["r"].status_code == 200 and result["r"].text.count("chunk") == 5
    assert idle.recv(100) == b""  # closed by the server
    idle.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", g.http), timeout=2).close()


PID_APP = """
import os

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = str(os.getpid()).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
"""


def test_workers_share_the_listening_socket(tmp_path, upstream, files):
    plugins = write_plugins(tmp_path)
    (tmp_path / "pid_app.py").write_text(PID_APP)
    extra = "- name: pid\n  asgi: pid_app:app\n  routes:\n  - name: pid\n    paths: [/pid]\n"
    config = kong_yml(tmp_path, upstream, files, extra=extra)
    g = start_gateway(tmp_path, ["-c", str(config), "--listen", "127.0.0.1:0", "--workers", "2",
                                 "--state-dir", str(tmp_path / "st"), "--plugins-dir", str(plugins)])
    try:
        deadline = time.monotonic() + TIMEOUT
        while len(_children(g.proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)  # the workers fork right after the summary
        children = set(_children(g.proc.pid))
        assert len(children) == 2
        seen = set()
        deadline = time.monotonic() + TIMEOUT
        # Each new connection goes to whichever worker accepts it first.
        while seen != children and time.monotonic() < deadline:
            with httpx.Client(timeout=TIMEOUT) as c:
                seen.add(int(c.get(f"http://127.0.0.1:{g.http}/pid").text))
        assert seen == children
    finally:
        assert g.stop() == 0
    assert not any(_alive(pid) for pid in children)


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    out.append(int(entry))
            except OSError:
                continue
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
