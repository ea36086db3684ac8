"""``purekong serve`` as users run it: the real command, real clients, a real upstream.

The gateway runs as a subprocess (``python -m purekong.cli serve``) on
127.0.0.1 port 0 (the bound ports are read from its startup summary); the
upstream is a threaded ``http.server`` started here; clients are httpx,
curl and ``openssl s_client``. The helpers are in _serve_helpers.py and the
shared fixtures (``files``, ``upstream``) in tests/serve/conftest.py.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest

from _serve_helpers import (
    HAVE_CURL,
    HAVE_OPENSSL,
    REPO,
    TIMEOUT,
    QuietHTTPServer,
    UpstreamHandler,
    client,
    kong_yml,
    start_gateway,
    write_plugins,
)


@pytest.fixture(scope="module")
def gw(tmp_path_factory, upstream, files):
    tmp = tmp_path_factory.mktemp("serve")
    plugins = write_plugins(tmp)
    config = kong_yml(tmp, upstream, files)
    g = start_gateway(tmp, [
        "-c", str(config), "--listen", "127.0.0.1:0 ssl", "--listen", "127.0.0.1:0",
        "--plugins-dir", str(plugins), "--access-log", str(tmp / "access.log"), "--state-dir", str(tmp / "state"),
    ])
    yield g
    assert g.stop() == 0, g.stderr()


# -- tests ---------------------------------------------------------------------------


def test_startup_summary_names_listeners_routes_plugins_certificates(gw):
    text = "\n".join(gw.summary)
    assert "listening on https://127.0.0.1:" in text and "listening on http://127.0.0.1:" in text
    assert "route echo:" in text and "plugin tagger (global" in text and "plugin boom (route" in text
    assert re.search(r"certificate CN=localhost \[localhost,api.test\] expires \d{4}-\d\d-\d\d", text), text


def test_proxy_over_tls_and_plain_http(gw, files, upstream):
    with client(files) as c:
        r = c.post(gw.url("/echo/a/b?x=1"), content=b"hello body")
    assert r.status_code == 200, r.text
    echo = r.json()
    headers = {k.lower(): v for k, v in echo["headers"]}
    assert echo["path"] == "/up/a/b?x=1" and echo["body"] == "hello body" and echo["method"] == "POST"
    assert headers["host"] == f"127.0.0.1:{upstream}"  # the service's host, not the client's
    assert headers["x-forwarded-proto"] == "https" and headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-forwarded-host"] == "localhost" and headers["x-forwarded-port"] == str(gw.https)
    assert headers["x-forwarded-path"] == "/echo/a/b" and headers["x-forwarded-prefix"] == "/echo"
    assert headers["x-real-ip"] == "127.0.0.1" and headers["x-tagged"] == "yes"
    assert r.headers["x-gateway"] == "purekong" and r.headers["via"] == "1.1 purekong/0.1.0" and r.headers["x-upstream"] == "yes"
    with httpx.Client(timeout=TIMEOUT) as c:
        r = c.get(gw.url("/echo", tls=False), headers={"X-Forwarded-For": "10.0.0.1"})
    headers = {k.lower(): v for k, v in r.json()["headers"]}
    assert r.status_code == 200 and headers["x-forwarded-proto"] == "http"
    assert headers["x-forwarded-for"] == "10.0.0.1, 127.0.0.1"


def test_keep_alive_serves_several_requests_on_one_connection(gw, files):
    import ssl

    ctx = ssl.create_default_context(cafile=files.path("ca.pem"))
    with ctx.wrap_socket(socket.create_connection(("127.0.0.1", gw.https), timeout=TIMEOUT), server_hostname="localhost") as s:
        reader = s.makefile("rb")
        for i in range(3):
            s.sendall(b"GET /app/%d HTTP/1.1\r\nHost: localhost\r\n\r\n" % i)
            status = reader.readline()
            headers = {}
            while (line := reader.readline()) != b"\r\n":
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            if "content-length" in headers:
                body = reader.read(int(headers["content-length"]))
            else:  # chunked (the ASGI app sent no length)
                body = b""
                while (size := int(reader.readline(), 16)) != 0:
                    body += reader.read(size)
                    reader.readline()
                reader.readline()
            assert status.startswith(b"HTTP/1.1 200"), status
            assert json.loads(body)["path"] == f"/{i}"


def test_no_route_is_kongs_404(gw, files):
    with client(files) as c:
        r = c.get(gw.url("/nowhere"))
    assert r.status_code == 404
    assert r.json() == {"message": "no Route matched with those values"}
    # As in Kong, the router's 404 comes before the plugins' access handlers.
    assert "x-gateway" not in r.headers


def test_upstream_failures_are_kongs_502_and_504(gw, files):
    with client(files) as c:
        dead = c.get(gw.url("/dead"))
        slow = c.get(gw.url("/slow"))
        garbage = c.get(gw.url("/garbage"))
    assert dead.status_code == 502 and dead.json() == {"message": "An invalid response was received from the upstream server"}
    assert slow.status_code == 504 and slow.json() == {"message": "The upstream server is timing out"}
    assert garbage.status_code == 502 and garbage.json() == {"message": "An invalid response was received from the upstream server"}


def test_streamed_chunked_response(gw, files):
    with client(files) as c:
        with c.stream("GET", gw.url("/stream")) as r:
            assert r.headers.get("transfer-encoding") == "chunked"
            chunks = b"".join(r.iter_raw())
    assert chunks == b"".join(f"chunk {i}\n".encode() for i in range(5))


def test_streamed_response_is_logged_after_it_went_out_with_its_size(gw, files):
    # The log phase and the access log run in Exchange.finish, once the last
    # chunk is sent: the entry counts the streamed bytes (pdk.StreamedBody).
    with client(files) as c:
        with c.stream("GET", gw.url("/stream/logged")) as r:
            assert r.headers.get("transfer-encoding") == "chunked"  # streamed, not buffered
            size = len(b"".join(r.iter_raw()))
    deadline = time.monotonic() + TIMEOUT
    entries: list = []
    while time.monotonic() < deadline and not entries:
        entries = [e for e in gw.access() if e["request"]["uri"] == "/stream/logged"]
        time.sleep(0.05)
    assert len(entries) == 1
    assert size == 40 and entries[0]["response"]["size"] == size and entries[0]["response"]["status"] == 200


def test_chunked_request_body(gw, files):
    def gen():
        for i in range(4):
            yield f"part{i};".encode()

    with client(files) as c:
        r = c.post(gw.url("/echo"), content=gen())
    assert r.json()["body"] == "part0;part1;part2;part3;"


def test_plugin_that_raises_gives_500_for_that_request_only(gw, files):
    with client(files) as c:
        bad = c.get(gw.url("/boom"))
        good = c.get(gw.url("/echo"))
    assert bad.status_code == 500 and bad.json() == {"message": "An unexpected error occurred"}
    assert good.status_code == 200
    assert "plugin boom failed in the access phase" in gw.stderr()


def test_access_log_has_one_serialized_line_per_request(gw, files):
    with client(files, cert="good") as c:
        c.get(gw.url("/echo/logged"))
    with httpx.Client(timeout=TIMEOUT) as c:
        c.get(gw.url("/echo/plain", tls=False))
    wanted = {"/echo/logged", "/echo/plain"}
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        entries = [e for e in gw.access() if e["request"]["uri"] in wanted]
        if len(entries) >= 2:
            break
        time.sleep(0.05)
    assert len(entries) == 2  # one line per request
    tls_entry = next(e for e in entries if e["request"]["uri"] == "/echo/logged")
    plain_entry = next(e for e in entries if e["request"]["uri"] == "/echo/plain")
    assert tls_entry["request"]["tls"]["version"] in ("TLSv1.2", "TLSv1.3")
    # No plugin asked for a client certificate: none was requested, so NONE.
    assert tls_entry["request"]["tls"]["client_verify"] == "NONE"
    assert tls_entry["response"]["status"] == 200 and tls_entry["response"]["size"] > 0
    assert tls_entry["route"]["name"] == "echo" and tls_entry["service"]["name"] == "echo"
    assert tls_entry["upstream_uri"] == "/up/logged"
    assert "tls" not in plain_entry["request"]


def test_asgi_app_reads_the_tls_extension(gw, files):
    # SNI api.test: tls-handshake-modifier (on that route) requests a certificate.
    with client(files, cert="good") as c:
        r = c.post(gw.url("/app/x"), content=b"payload", extensions={"sni_hostname": "api.test"})
    with client(files, cert="good") as c:
        without = c.get(gw.url("/app/x")).json()["tls"]
    data = r.json()
    tls = data["tls"]
    assert data["path"] == "/x" and data["body"] == "payload"
    assert set(tls) == {"server_cert", "client_cert_chain", "client_cert_name", "client_cert_error", "tls_version", "cipher_suite"}
    assert tls["server_cert"] == files.server.pem
    assert tls["client_cert_chain"][0] == files.good.pem  # OpenSSL adds the CA it knows
    assert tls["client_cert_name"] == "CN=good client,O=purekong tests"
    # tls-handshake-modifier sends no CAs: as in Kong the store is empty, and the
    # client sent its root along, so OpenSSL's verdict is this one.
    assert tls["client_cert_error"] == "self-signed certificate in certificate chain"
    assert tls["tls_version"] in (0x0303, 0x0304) and tls["cipher_suite"] in (0x1301, 0x1302, 0x1303, 0xC02B, 0xC02C, 0xCCA9)
    # SNI localhost: no certificate requested, so none sent.
    assert without["client_cert_chain"] == [] and without["client_cert_name"] is None and without["client_cert_error"] is None



def test_https_only_route_over_http_is_kongs_426(gw):
    # Over plain HTTP the SNI condition does not apply (Kong's router), so the
    # https-only route matches and Kong asks for HTTPS.
    with httpx.Client(timeout=TIMEOUT) as c:
        r = c.get(gw.url("/app/", tls=False))
    assert r.status_code == 426 and r.json() == {"message": "Please use HTTPS protocol"}


def test_malformed_request_gets_400_and_close(gw):
    with socket.create_connection(("127.0.0.1", gw.http), timeout=TIMEOUT) as s:
        s.sendall(b"NOT HTTP AT ALL\x00\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 400 ") and b'{"message":"Bad request"}' in data


def test_oversized_head_gets_494(gw):
    with socket.create_connection(("127.0.0.1", gw.http), timeout=TIMEOUT) as s:
        s.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n")
        data = b""
        try:
            while chunk := s.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass
    assert data.startswith(b"HTTP/1.1 494 ")


@pytest.mark.skipif(not HAVE_CURL, reason="curl not installed")
@pytest.mark.parametrize("version", ["--tlsv1.2 --tls-max 1.2", "--tlsv1.3"])
@pytest.mark.parametrize("cert", [None, "good"])
def test_curl(gw, files, version, cert):
    # api.test: the route whose tls-handshake-modifier requests a certificate.
    args = ["curl", "-sS", "--cacert", files.path("ca.pem"), *version.split(), "--resolve", f"api.test:{gw.https}:127.0.0.1"]
    if cert:
        args += ["--cert", files.path(f"{cert}.pem"), "--key", files.path(f"{cert}-key.pem")]
    out = subprocess.run([*args, f"https://api.test:{gw.https}/app/curl"], capture_output=True, timeout=TIMEOUT)
    assert out.returncode == 0, out.stderr
    tls = json.loads(out.stdout)["tls"]
    assert tls["tls_version"] == (0x0304 if "1.3" in version else 0x0303)
    assert tls["client_cert_chain"][:1] == ([files.good.pem] if cert else [])


@pytest.mark.skipif(not HAVE_OPENSSL, reason="openssl not installed")
@pytest.mark.parametrize("version", ["-tls1_2", "-tls1_3"])
@pytest.mark.parametrize("cert", [None, "good"])
def test_openssl_s_client(gw, files, version, cert):
    # SNI api.test + /app: the route whose tls-handshake-modifier asks for a certificate.
    request = b"GET /app/sc HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\n\r\n"
    args = ["openssl", "s_client", "-connect", f"127.0.0.1:{gw.https}", "-servername", "api.test", version,
            "-CAfile", files.path("ca.pem"), "-ign_eof"]
    if cert:
        args += ["-cert", files.path(f"{cert}.pem"), "-key", files.path(f"{cert}-key.pem")]
    out = subprocess.run(args, input=request, capture_output=True, timeout=TIMEOUT)
    text = out.stdout.decode(errors="replace")
    assert "Verify return code: 0 (ok)" in text
    assert ("TLSv1.3" if version == "-tls1_3" else "TLSv1.2") in text
    assert "HTTP/1.1 200 " in text
    tls = json.loads(text[text.index('{"tls"'):text.rindex("}") + 1])["tls"]
    if cert:
        # s_client completes the chain from -CAfile, so the root comes along and,
        # against Kong's empty store, that is the verdict.
        assert tls["client_cert_chain"][0] == files.good.pem
        assert tls["client_cert_error"] == "self-signed certificate in certificate chain"
    else:
        assert tls["client_cert_chain"] == [] and tls["client_cert_error"] is None


def test_body_larger_than_the_limit_is_413(gw):
    with socket.create_connection(("127.0.0.1", gw.http), timeout=TIMEOUT) as s:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 413 ") and b'{"message":"Payload too large"}' in data


def test_https_upstream(tmp_path, upstream, files):
    """A service with an https URL: the pooled client speaks TLS (stdlib ssl) upstream."""
    import ssl

    server = QuietHTTPServer(("127.0.0.1", 0), UpstreamHandler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(files.path("server.pem"), files.path("server-key.pem"))
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    plugins = write_plugins(tmp_path)
    extra = f"- name: tls-up\n  url: https://127.0.0.1:{server.server_address[1]}/secure\n  routes:\n  - name: tls-up\n    paths: [/tls-up]\n"
    config = kong_yml(tmp_path, upstream, files, extra=extra)
    g = start_gateway(tmp_path, ["-c", str(config), "--listen", "127.0.0.1:0", "--plugins-dir", str(plugins),
                                 "--state-dir", str(tmp_path / "st")])
    try:
        with httpx.Client(timeout=TIMEOUT) as c:
            replies = [c.get(g.url("/tls-up/x", tls=False)) for _ in range(3)]
        assert all(r.status_code == 200 for r in replies)
        assert replies[0].json()["path"] == "/secure/x"
    finally:
        assert g.stop() == 0
        server.shutdown()
        server.server_close()


def test_bad_config_names_entry_and_field_and_exits_nonzero(tmp_path, upstream, files):
    write_plugins(tmp_path)
    bad = tmp_path / "bad.yml"
    bad.write_text('_format_version: "3.0"\nservices:\n- name: s\n  url: http://127.0.0.1:1\n  routes:\n  - name: r\n    paths: [/x]\nplugins:\n- name: no-such-plugin\n')
    out = subprocess.run([sys.executable, "-m", "purekong.cli", "serve", "-c", str(bad), "--listen", "127.0.0.1:0"],
                         capture_output=True, timeout=TIMEOUT, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode != 0
    assert b'plugins[0] (name "no-such-plugin").name: unknown plugin' in out.stderr
    assert b"listening" not in out.stdout
    bad.write_text('_format_version: "3.0"\nservices:\n- name: s\n  url: http://127.0.0.1:1\n  connect_timeout: -5\n')
    out = subprocess.run([sys.executable, "-m", "purekong.cli", "serve", "-c", str(bad), "--listen", "127.0.0.1:0"],
                         capture_output=True, timeout=TIMEOUT, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode != 0 and b"connect_timeout" in out.stderr, out.stderr
    out = subprocess.run([sys.executable, "-m", "purekong.cli", "serve", "-c", str(bad), "--listen", "127.0.0.1:99999"],
                         capture_output=True, timeout=TIMEOUT, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode != 0 and b"listen" in out.stderr


def test_unbuffered_request_body_reaches_the_upstream_as_it_arrives(tmp_path, upstream, files):
    """--request-buffering off: the upstream sees the first part before the client sends the rest."""
    first_seen = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))

    def raw_upstream():
        conn, _ = listener.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            while b"part1" not in body:
                body += conn.recv(65536)
            first_seen.set()
            while not body.endswith(b"part2"):
                body += conn.recv(65536)
            reply = b"got " + body
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(reply), reply))

    threading.Thread(target=raw_upstream, daemon=True).start()
    plugins = write_plugins(tmp_path)
    extra = f"- name: raw\n  url: http://127.0.0.1:{listener.getsockname()[1]}\n  routes:\n  - name: raw\n    paths: [/raw]\n"
    config = kong_yml(tmp_path, upstream, files, extra=extra)
    g = start_gateway(tmp_path, ["-c", str(config), "--listen", "127.0.0.1:0", "--plugins-dir", str(plugins),
                                 "--state-dir", str(tmp_path / "st"), "--request-buffering", "off"])
    try:
        with socket.create_connection(("127.0.0.1", g.http), timeout=TIMEOUT) as s:
            s.sendall(b"POST /raw HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nConnection: close\r\n\r\npart1")
            assert first_seen.wait(TIMEOUT), "the first part was held back"
            s.sendall(b"part2")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        assert data.startswith(b"HTTP/1.1 200 ") and data.endswith(b"got part1part2")
    finally:
        assert g.stop() == 0
        listener.close()
