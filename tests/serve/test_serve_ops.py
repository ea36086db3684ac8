"""``purekong serve`` operated as a service: listeners, SIGHUP reload, access
lines, bad flags and environment values, certificates in config mode.

Real processes and real clients (httpx, curl, stdlib ssl) on loopback; every
wait polls for what it waits for (no timing assertions).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from hypothesis import given, strategies as st

from _serve_helpers import REPO, TIMEOUT, certificates_yml, start_gateway
from purekong.server._access_log import RequestRecord, combined_line
from purekong.server._metrics import Metrics

OPS_APP = '''
import asyncio, pathlib

HERE = pathlib.Path(__file__).parent

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await receive()
    if scope["path"].startswith("/gate"):
        # In flight on purpose: says so, then waits until the test opens the gate.
        (HERE / "gate-entered").write_text("1")
        while not (HERE / "gate-open").exists():
            await asyncio.sleep(0.02)
    body = scope["path"].encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})
'''


def ops_config(tmp: Path, route: str, extra: str = "") -> Path:
    """A config whose only difference between versions is one route's path (``/ROUTE``)."""
    (tmp / "ops_app.py").write_text(OPS_APP)
    path = tmp / "kong.yml"
    path.write_text(f"""_format_version: "3.0"
services:
- name: app
  asgi: ops_app:app
  routes:
  - name: steady
    paths: [/steady, /gate]
    strip_path: false
  - name: {route}
    paths: [/{route}]
    strip_path: false
{extra}""")
    return path


def _env() -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def serve_once(tmp: Path, args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``purekong serve ARGS`` expected to refuse to start."""
    return subprocess.run([sys.executable, "-m", "purekong.cli", "serve", *args], capture_output=True, text=True,
                          env={**_env(), **(env or {})}, cwd=tmp, timeout=TIMEOUT)


def poll(check, what: str):
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


# -- listeners -------------------------------------------------------------------------


def test_second_serve_on_a_busy_port_fails_with_address_in_use(tmp_path):
    config = ops_config(tmp_path, "one")
    first = start_gateway(tmp_path, ["-c", str(config), "--listen", "127.0.0.1:0", "--state-dir", str(tmp_path / "s")])
    try:
        second = serve_once(tmp_path, ["-c", str(config), "--listen", f"127.0.0.1:{first.http}", "--state-dir", str(tmp_path / "s")])
        assert second.returncode == 1
        assert f"--listen http://127.0.0.1:{first.http}: address already in use" in second.stderr
        admin = serve_once(tmp_path, ["-c", str(config), "--listen", "127.0.0.1:0", "--admin-listen", f"127.0.0.1:{first.http}",
                                      "--state-dir", str(tmp_path / "s")])
        assert admin.returncode == 1 and f"--admin-listen http://127.0.0.1:{first.http}: address already in use" in admin.stderr
        assert "Traceback" not in second.stderr and len(second.stderr.strip().splitlines()) == 1, second.stderr
        # And the first one still answers everything: no sharing happened.
        with httpx.Client(timeout=TIMEOUT) as c:
            for _ in range(10):
                assert c.get(f"http://127.0.0.1:{first.http}/one").text == "/one"
    finally:
        assert first.stop() == 0, first.stderr()


def test_workers_share_the_parents_listeners(tmp_path):
    config = ops_config(tmp_path, "one")
    gw = start_gateway(tmp_path, ["-c", str(config), "--listen", "127.0.0.1:0", "--workers", "2", "--state-dir", str(tmp_path / "s")])
    try:
        with httpx.Client(timeout=TIMEOUT) as c:
            for _ in range(20):
                assert c.get(gw.url("/steady", tls=False), headers={"Connection": "close"}).status_code == 200
    finally:
        assert gw.stop() == 0, gw.stderr()


# -- SIGHUP ----------------------------------------------------------------------------


class Hammer:
    """Requests on keep-alive and on new connections, in a thread, until stopped;
    every failure is kept."""

    def __init__(self, url: str) -> None:
        self.url, self.failures, self.count = url, [], 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        keep = httpx.Client(timeout=TIMEOUT)
        while not self._stop.is_set():
            try:
                if self.count % 3 == 0:
                    r = httpx.get(self.url, timeout=TIMEOUT)  # a new connection
                else:
                    r = keep.get(self.url)
                if r.status_code != 200 or r.text != "/steady":
                    self.failures.append(f"{r.status_code} {r.text[:100]}")
            except httpx.HTTPError as exc:
                self.failures.append(repr(exc))
            self.count += 1
        keep.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(TIMEOUT)


@pytest.mark.parametrize("workers", [1, 2])
def test_sighup_reloads_without_dropping_requests_and_refuses_an_invalid_config(tmp_path, workers):
    config = ops_config(tmp_path, "one")
    gw = start_gateway(tmp_path, ["-c", str(config), "--listen", "127.0.0.1:0", "--workers", str(workers), "--state-dir", str(tmp_path / "s")])
    base = f"http://127.0.0.1:{gw.http}"
    try:
        hammer = Hammer(base + "/steady")
        poll(lambda: hammer.count >= 5, "the first requests")
        # A request in flight across the reload: it entered the app and waits there.
        gated: dict = {}
        gate = threading.Thread(target=lambda: gated.update(r=httpx.get(base + "/gate", timeout=TIMEOUT)), daemon=True)
        gate.start()
        poll(lambda: (tmp_path / "gate-entered").exists(), "the gated request to be in flight")

        ops_config(tmp_path, "two")
        gw.proc.send_signal(signal.SIGHUP)
        poll(lambda: gw.stderr().count("SIGHUP: configuration reloaded") >= workers, "every worker to reload")
        with httpx.Client(timeout=TIMEOUT) as c:
            for _ in range(10):  # new connections: whichever worker takes them has switched
                assert c.get(base + "/two", headers={"Connection": "close"}).text == "/two"
                assert c.get(base + "/one", headers={"Connection": "close"}).status_code == 404

        # An invalid one is refused with its problems; the old one stays.
        config.write_text(config.read_text().replace("paths: [/two]", "paths: [two]"))
        gw.proc.send_signal(signal.SIGHUP)
        refused = poll(lambda: re.search(r"SIGHUP: configuration refused, the old one stays: .*\n.*paths\[0\]: must start with \"/\"", gw.stderr()),
                       "the refusal")
        assert refused
        with httpx.Client(timeout=TIMEOUT) as c:
            for _ in range(10):
                assert c.get(base + "/two", headers={"Connection": "close"}).text == "/two"

        (tmp_path / "gate-open").write_text("1")
        gate.join(TIMEOUT)
        hammer.stop()
        assert gated["r"].status_code == 200 and gated["r"].text == "/gate"
        assert hammer.failures == [] and hammer.count > 5
        assert gw.proc.poll() is None  # SIGHUP never stops it
    finally:
        assert gw.stop() == 0, gw.stderr()
    assert "Traceback" not in gw.stderr()


def test_sighup_rereads_the_plugins_directory(tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    plugin = '''
class Plugin:
    def __init__(self, config):
        pass

    def access(self, kong):
        kong.response.set_header("X-Plugin-Version", "{version}")
'''
    (plugins / "stamp.py").write_text(plugin.format(version="1"))
    config = ops_config(tmp_path, "one", extra="plugins:\n- name: stamp\n")
    gw = start_gateway(tmp_path, ["-c", str(config), "--listen", "127.0.0.1:0", "--plugins-dir", str(plugins), "--state-dir", str(tmp_path / "s")])
    try:
        assert httpx.get(gw.url("/one", tls=False)).headers["x-plugin-version"] == "1"
        (plugins / "stamp.py").write_text(plugin.format(version="2"))
        gw.proc.send_signal(signal.SIGHUP)
        poll(lambda: "SIGHUP: configuration reloaded" in gw.stderr(), "the reload")
        assert httpx.get(gw.url("/one", tls=False)).headers["x-plugin-version"] == "2"
    finally:
        assert gw.stop() == 0, gw.stderr()


# -- access lines ----------------------------------------------------------------------

COMBINED = re.compile(
    r'^127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "GET /one\?x=1 HTTP/1\.1" 200 4 "https://ref\.test/" "ops-test/1\.0" '
    r"(?P<tls>TLSv1\.[23]|-) client_verify=(?P<verify>NONE|SUCCESS|FAILED:.*) \d+\.\d{3}$", re.M)


def test_access_line_on_stderr_and_in_the_access_log_file(tmp_path, files):
    config = ops_config(tmp_path, "one", extra=certificates_yml(files))
    gw = start_gateway(tmp_path, ["-c", str(config), "--listen", "127.0.0.1:0", "--listen", "127.0.0.1:0 ssl", "--state-dir", str(tmp_path / "s"),
                                  "--access-log", "access.log", "--access-log-format", "combined"])
    headers = {"User-Agent": "ops-test/1.0", "Referer": "https://ref.test/"}
    try:
        assert httpx.get(gw.url("/one?x=1", tls=False), headers=headers).status_code == 200
        ctx = ssl.create_default_context(cafile=files.path("ca.pem"))
        ctx.load_cert_chain(files.path("good.pem"), files.path("good-key.pem"))
        assert httpx.get(gw.url("/one?x=1"), headers=headers, verify=ctx).status_code == 200
        lines = poll(lambda: len(COMBINED.findall(gw.stderr())) == 2 and COMBINED.findall(gw.stderr()), "two access lines")
        assert [(m[0], m[1].split(":")[0]) for m in lines] == [("-", "NONE"), ("TLSv1.3", "NONE")]
        file_lines = poll(lambda: (tmp_path / "access.log").read_text().splitlines(), "the access log file")
        assert len(file_lines) == 2 and all(COMBINED.match(line) for line in file_lines)
    finally:
        assert gw.stop() == 0, gw.stderr()


def test_access_log_json_is_kong_serialize_and_log_level_warning_silences_stderr(tmp_path):
    config = ops_config(tmp_path, "one")
    gw = start_gateway(tmp_path, ["-c", str(config), "--listen", "127.0.0.1:0", "--state-dir", str(tmp_path / "s"),
                                  "--access-log", "access.log", "--log-level", "warning"])
    try:
        assert httpx.get(gw.url("/one", tls=False)).status_code == 200
        entry = json.loads(poll(lambda: (tmp_path / "access.log").read_text().strip(), "the access log"))
        assert entry["request"]["method"] == "GET" and entry["response"]["status"] == 200 and entry["route"]["name"] == "one"
    finally:
        assert gw.stop() == 0, gw.stderr()
    assert '"GET /one HTTP/1.1"' not in gw.stderr()


# -- bad flags and environment values --------------------------------------------------


@pytest.mark.parametrize("args, env, expected", [
    ([], {"PUREKONG_LOG_LEVEL": "verbose"}, "PUREKONG_LOG_LEVEL 'verbose': expected one of debug, info, warning, error"),
    (["--log-level", "loud"], {}, "--log-level 'loud': expected one of"),
    ([], {"PUREKONG_WORKERS": "two"}, "PUREKONG_WORKERS='two': expected int"),
    (["--state-dir", "a-file/inside"], {}, "--state-dir a-file/inside: "),
    (["--access-log-format", "xml"], {}, "--access-log-format: expected 'json' or 'combined', got 'xml'"),
    (["--admin-listen", "0.0.0.0:0"], {}, "--admin-listen '0.0.0.0:0': not a loopback address"),
    (["--admin-listen", "nonsense"], {}, "--admin-listen 'nonsense': expected HOST:PORT"),
    (["--ssl-cert", "missing.pem"], {}, "--ssl-cert and --ssl-cert-key go together"),
    (["--ssl-cert", "missing.pem", "--ssl-cert-key", "missing-key.pem"], {}, "--ssl-cert missing.pem / --ssl-cert-key missing-key.pem: No such file"),
    (["--grace", "-1"], {}, "--grace: must not be negative"),
    (["--listen", "127.0.0.1:http"], {}, "--listen '127.0.0.1:http': port must be a number"),
    (["--inspect", "a-file/inside"], {}, "--inspect a-file/inside: "),
])
def test_bad_values_get_one_line_naming_the_flag(tmp_path, args, env, expected):
    (tmp_path / "a-file").write_text("not a directory")
    config = ops_config(tmp_path, "one")
    state = [] if "--state-dir" in args else ["--state-dir", str(tmp_path / "s")]
    result = serve_once(tmp_path, ["-c", str(config), "--listen", "127.0.0.1:0 ssl", *state, *args], env)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr


def test_admin_listen_public_address_needs_the_explicit_flag(tmp_path):
    config = ops_config(tmp_path, "one")
    gw = start_gateway(tmp_path, ["-c", str(config), "--listen", "127.0.0.1:0", "--state-dir", str(tmp_path / "s"),
                                  "--admin-listen", "0.0.0.0:0", "--admin-allow-public"])
    try:
        port = int(re.search(r"admin API on http://0\.0\.0\.0:(\d+)", "\n".join(gw.summary)).group(1))
        assert httpx.get(f"http://127.0.0.1:{port}/status").status_code == 200
    finally:
        assert gw.stop() == 0, gw.stderr()


# -- certificates in config mode -------------------------------------------------------


def _peer_cert(port: int, cafile: str | None = None) -> x509.Certificate:
    """The certificate a client without SNI gets (an IP address sends none)."""
    ctx = ssl.create_default_context(cafile=cafile) if cafile else ssl._create_unverified_context()
    ctx.check_hostname = False
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw, ctx.wrap_socket(raw) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def test_config_mode_without_default_certificate_makes_only_a_self_signed_one(tmp_path, files):
    config = ops_config(tmp_path, "one", extra=certificates_yml(files))
    state = tmp_path / "state"
    gw = start_gateway(tmp_path, ["-c", str(config), "--listen", "127.0.0.1:0 ssl", "--state-dir", str(state)])
    try:
        assert f"  default certificate (clients whose SNI matches none): self-signed, {state / 'kong-default.crt'}" in gw.summary
        cert = _peer_cert(gw.https)  # no SNI: not the declarative one (its SNIs are localhost, api.test)
        assert cert.issuer == cert.subject and cert.subject.rfc4514_string() == "CN=localhost,O=purekong development"
        assert sorted(p.name for p in state.iterdir()) == ["kong-default.crt", "kong-default.key"]  # no CA key
        assert oct(os.stat(state / "kong-default.key").st_mode & 0o777) == "0o600"
        with httpx.Client(verify=ssl.create_default_context(cafile=files.path("ca.pem")), timeout=TIMEOUT) as c:
            assert c.get(gw.url("/one")).text == "/one"  # SNI localhost: the declarative certificate
    finally:
        assert gw.stop() == 0, gw.stderr()


def test_ssl_cert_is_the_default_certificate_for_clients_without_a_matching_sni(tmp_path, files):
    config = ops_config(tmp_path, "one")
    state = tmp_path / "state"
    gw = start_gateway(tmp_path, ["-c", str(config), "--listen", "127.0.0.1:0 ssl", "--state-dir", str(state),
                                  "--ssl-cert", files.path("server.pem"), "--ssl-cert-key", files.path("server-key.pem")])
    try:
        assert f"  default certificate (clients whose SNI matches none): --ssl-cert {files.path('server.pem')}" in gw.summary
        assert _peer_cert(gw.https, files.path("ca.pem")).subject == files.server.cert.subject
        assert not state.exists() or not any(state.iterdir())  # nothing generated
        result = subprocess.run(["curl", "-sS", "--cacert", files.path("ca.pem"), gw.url("/one")], capture_output=True, text=True, timeout=TIMEOUT)
        assert result.stdout == "/one", result.stderr
    finally:
        assert gw.stop() == 0, gw.stderr()


# -- the access line and the metrics text, for any input --------------------------------

@given(target=st.text(), agent=st.text(), referer=st.text())
def test_combined_line_is_one_line_whatever_the_client_sends(target, agent, referer):
    record = RequestRecord("127.0.0.1", 0.0, "GET", target, "1.1", 200, 5, referer, agent, None, "NONE", "r", 0.001)
    line = combined_line(record)
    assert "\n" not in line and "\r" not in line
    # The three quoted fields stay three: no unescaped quote inside them.
    assert len(re.findall(r'(?<!\\)"', line)) == 6


@given(routes=st.lists(st.text(), min_size=1, max_size=5), statuses=st.lists(st.integers(100, 599), min_size=1, max_size=5))
def test_metrics_text_parses_back_for_any_route_name(routes, statuses):
    prometheus_parser = pytest.importorskip("prometheus_client.parser")
    metrics = Metrics()
    for route, status in zip(routes, statuses):
        record = RequestRecord("127.0.0.1", 0.0, "GET", "/", "1.1", status, 0, "-", "-", None, "NONE", route, 0.01)
        metrics.observe_request(record)
    families = {f.name: f for f in prometheus_parser.text_string_to_metric_families(metrics.render())}
    parsed = {(s.labels["route"], s.labels["code"]): s.value for s in families["purekong_http_requests"].samples}
    assert parsed == {(r, c): n for (r, c), n in metrics.requests.items()}
