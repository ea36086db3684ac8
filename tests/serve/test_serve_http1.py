"""HTTP/1.x as nginx and Kong answer it, seen by real clients on loopback.

Raw sockets read the status lines and headers exactly as sent; curl speaks
HTTP/1.0 and 1.1; h2load (``--h1``) and wrk count every response, and must
count every one as succeeded. The gateway runs as ``purekong serve`` with the
shared test configuration plus a route only for https (Kong's 426) and a
route to an upstream with its own reason phrase and Via.
"""

from __future__ import annotations

import email.utils
import json
import re
import shutil
import socket
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler

import pytest

from _serve_helpers import HAVE_CURL, TIMEOUT, QuietHTTPServer, client, kong_yml, start_gateway, write_plugins

HAVE_H2LOAD = shutil.which("h2load") is not None
HAVE_WRK = shutil.which("wrk") is not None
SERVER = "purekong/0.1.0"


class _Teapot(BaseHTTPRequestHandler):
    """An upstream with a reason phrase of its own, a Via, and no Server header."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send_response(self, code, message=None):  # no Server / Date from http.server
        self.send_response_only(code, message)

    def do_GET(self):
        self.send_response(200, "Fine Thanks")
        self.send_header("Via", "1.0 upstream-proxy")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


@pytest.fixture(scope="module")
def teapot():
    server = QuietHTTPServer(("127.0.0.1", 0), _Teapot)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def gw(tmp_path_factory, upstream, teapot, files):
    tmp = tmp_path_factory.mktemp("serve-http1")
    plugins = write_plugins(tmp)
    extra = f"""- name: bulk  # the echo upstream with Kong's default timeouts, for the load tools
  url: http://127.0.0.1:{upstream}/up
  routes:
  - name: bulk
    paths: [/bulk]
- name: secure
  url: http://127.0.0.1:{upstream}/up
  routes:
  - name: secure
    paths: [/secure]
    protocols: [https]
- name: teapot
  url: http://127.0.0.1:{teapot}
  routes:
  - name: teapot
    paths: [/teapot]
"""
    config = kong_yml(tmp, upstream, files, extra=extra)
    g = start_gateway(tmp, [
        "-c", str(config), "--listen", "127.0.0.1:0 ssl", "--listen", "127.0.0.1:0",
        "--plugins-dir", str(plugins), "--access-log", str(tmp / "access.log"), "--state-dir", str(tmp / "state"),
    ])
    yield g
    assert g.stop() == 0, g.stderr()


def raw(gw, request: bytes) -> tuple[str, dict[str, list[str]], bytes]:
    """Send ``request`` over plain TCP; the status line, headers (lower-case names) and body."""
    with socket.create_connection(("127.0.0.1", gw.http), timeout=TIMEOUT) as s:
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers.setdefault(k.strip().lower(), []).append(v.strip())
    return lines[0], headers, body


def get(gw, path: str, host: str = "localhost") -> tuple[str, dict[str, list[str]], bytes]:
    return raw(gw, f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())


# -- status lines and Kong's headers -------------------------------------------------


def test_status_lines_carry_reason_phrases(gw):
    assert get(gw, "/echo")[0] == "HTTP/1.1 200 OK"
    assert get(gw, "/no-such-route")[0] == "HTTP/1.1 404 Not Found"
    assert get(gw, "/dead")[0] == "HTTP/1.1 502 Bad Gateway"  # nothing listens there
    assert raw(gw, b"GARBAGE\r\n\r\n")[0] == "HTTP/1.1 400 Bad Request"


def test_a_proxied_status_line_keeps_the_upstream_reason(gw):
    line, headers, body = get(gw, "/teapot")
    assert line == "HTTP/1.1 200 Fine Thanks" and body == b"ok"


def test_proxied_responses_get_via_latencies_and_the_upstream_server_and_date(gw):
    _, headers, _ = get(gw, "/echo")
    assert headers["via"] == ["1.1 " + SERVER]
    assert headers["server"][0].startswith("BaseHTTP/")  # Kong passes the upstream's Server (and Date)
    assert int(headers["x-kong-upstream-latency"][0]) >= 0 and int(headers["x-kong-proxy-latency"][0]) >= 0
    assert "x-kong-response-latency" not in headers
    assert email.utils.parsedate_to_datetime(headers["date"][0]) is not None


def test_an_upstream_without_server_gets_kongs_and_its_via_is_extended(gw):
    _, headers, _ = get(gw, "/teapot")
    assert headers["server"] == [SERVER] and len(headers["date"]) == 1
    assert headers["via"] == ["1.0 upstream-proxy, 1.1 " + SERVER]


def test_kongs_own_answers_get_server_and_response_latency_but_no_via(gw):
    _, headers, _ = get(gw, "/no-such-route")
    assert headers["server"] == [SERVER] and "via" not in headers
    assert int(headers["x-kong-response-latency"][0]) >= 0
    assert "x-kong-upstream-latency" not in headers and "x-kong-proxy-latency" not in headers
    email.utils.parsedate_to_datetime(headers["date"][0])


def test_the_426_for_an_https_only_route_says_connection_upgrade(gw):
    line, headers, body = get(gw, "/secure")
    assert line == "HTTP/1.1 426 Upgrade Required"
    tokens = {t.strip().lower() for v in headers["connection"] for t in v.split(",")}  # h11 writes one line per token
    assert tokens == {"upgrade", "close"}, headers["connection"]
    assert headers["upgrade"] == ["TLS/1.2, HTTP/1.1"] and b"Please use HTTPS protocol" in body


# -- hop-by-hop and what goes upstream -----------------------------------------------


@pytest.mark.skipif(not HAVE_CURL, reason="curl not installed")
def test_expect_and_hop_by_hop_headers_are_not_forwarded(gw, files):
    out = subprocess.run(
        ["curl", "-sS", "--http1.1", "--cacert", files.path("ca.pem"), "-H", "Expect: 100-continue", "-H", "TE: trailers",
         "-H", "Keep-Alive: timeout=5", "-H", "Upgrade: h2c", "-H", "Connection: Upgrade, X-Private", "-H", "X-Private: 1",
         "--data-binary", "x" * 2000, gw.url("/echo")],
        capture_output=True, timeout=TIMEOUT, check=True,
    )
    echo = json.loads(out.stdout)
    names = {k.lower() for k, _ in echo["headers"]}
    assert echo["body"] == "x" * 2000
    assert not names & {"expect", "te", "keep-alive", "upgrade", "x-private"}, sorted(names)


def test_request_size_is_request_length_and_latencies_are_logged(gw):
    request = b"POST /echo/sized HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nX-Marker: size-test\r\nConnection: close\r\n\r\nhello"
    assert raw(gw, request)[0] == "HTTP/1.1 200 OK"
    get(gw, "/no-such-route-logged")
    entries = gw.access()
    sized = next(e for e in entries if e["request"]["headers"].get("x-marker") == "size-test")
    assert sized["request"]["size"] == len(request)  # line, headers and body, as $request_length
    lat = sized["latencies"]
    assert set(lat) == {"kong", "proxy", "request", "receive"} and lat["proxy"] >= 0
    assert lat["request"] >= lat["kong"] >= 0
    unrouted = next(e for e in entries if e["request"]["uri"] == "/no-such-route-logged")
    assert unrouted["latencies"]["proxy"] == -1 and unrouted["latencies"]["receive"] == 0
    assert unrouted["response"]["headers"]["server"] == SERVER  # what the client got, as the log sees it


# -- real clients ---------------------------------------------------------------------


@pytest.mark.skipif(not HAVE_CURL, reason="curl not installed")
@pytest.mark.parametrize("flag,version", [("--http1.0", "1.0"), ("--http1.1", "1.1")])
def test_curl_http1_versions(gw, files, flag, version):
    out = subprocess.run(["curl", "-sS", "-i", flag, "--cacert", files.path("ca.pem"), gw.url("/echo")],
                         capture_output=True, timeout=TIMEOUT, check=True)
    status = out.stdout.split(b"\r\n", 1)[0].decode()
    assert status == "HTTP/1.1 200 OK", status
    if version == "1.0":
        assert re.search(rb"(?i)\r\nconnection: close\r\n", out.stdout)


@pytest.mark.skipif(not HAVE_H2LOAD, reason="h2load not installed")
@pytest.mark.parametrize("path", ["/bulk", "/app"])  # a proxied upstream and an ASGI app (h2load counts 2xx/3xx as succeeded)
def test_h2load_h1_counts_every_response_as_succeeded(gw, path):
    out = subprocess.run(["h2load", "--h1", "-n", "200", "-c", "4", gw.url(path)], capture_output=True, text=True, timeout=120)
    assert "requests: 200 total, 200 started, 200 done, 200 succeeded, 0 failed, 0 errored" in out.stdout, out.stdout


def _wrk(url: str) -> str:
    out = subprocess.run(["wrk", "-t1", "-c4", "-d1s", url], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.mark.skipif(not HAVE_WRK, reason="wrk not installed")
def test_wrk_counts_no_errors(gw):
    text = _wrk(gw.url("/bulk"))
    m = re.search(r"(\d+) requests in", text)
    assert m and int(m.group(1)) > 0, text
    assert "Non-2xx" not in text and "Socket errors" not in text, text


@pytest.mark.skipif(not HAVE_WRK, reason="wrk not installed")
def test_wrk_with_an_ip_address_as_sni_completes_handshakes(gw):
    # wrk sends the IP it connects to as SNI; the engine treats it as no SNI
    # (issue 10 defect 9), so the default certificate answers.
    text = _wrk(f"https://127.0.0.1:{gw.https}/bulk")
    m = re.search(r"(\d+) requests in", text)
    assert m and int(m.group(1)) > 0, text
    assert "Non-2xx" not in text and "Socket errors" not in text, text


def test_httpx_http11(gw, files):
    with client(files) as c:
        r = c.get(gw.url("/echo"))
    assert r.http_version == "HTTP/1.1" and r.status_code == 200 and r.reason_phrase == "OK"


@pytest.mark.parametrize("protocol", ["http/1.0", "http/0.9"])  # nginx's ALPN list holds both
def test_a_client_offering_only_an_older_http_over_alpn_is_accepted(gw, files, protocol):
    ctx = ssl.create_default_context(cafile=files.path("ca.pem"))
    ctx.set_alpn_protocols([protocol])
    with socket.create_connection(("127.0.0.1", gw.https), timeout=TIMEOUT) as sock:
        with ctx.wrap_socket(sock, server_hostname="localhost") as tls:
            assert tls.selected_alpn_protocol() == protocol
            tls.sendall(b"GET /echo HTTP/1.0\r\nHost: localhost\r\n\r\n")
            data = b""
            while chunk := tls.recv(65536):
                data += chunk
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
