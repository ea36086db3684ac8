"""HTTP/2 (ALPN ``h2``) through ``purekong serve``, with real clients on loopback.

curl ``--http2``, httpx with ``http2=True``, h2load (several streams per
connection) and, where the frames themselves are the point (SETTINGS,
GOAWAY, limits), the ``h2`` library as a client over a stdlib TLS socket.
The services are the shared echo upstream (HTTP/1.1 behind the gateway) and
an ASGI app written here; Kong plugins run on every stream; a native plugin
calls ``kong.client.tls.disable_http2_alpn()`` in the client_hello phase for
SNI ``api.test``, which then negotiates HTTP/1.1 end to end.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import ssl
import subprocess
import time

import h2.config
import h2.connection
import h2.events
import h2.settings
import pytest

from _serve_helpers import HAVE_CURL, TIMEOUT, client, kong_yml, start_gateway, write_plugins

HAVE_H2LOAD = shutil.which("h2load") is not None
HAVE_NGHTTP = shutil.which("nghttp") is not None

H2_APP = '''
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["path"].endswith("/wait"):  # marks that it has the request, then answers a moment later
        import asyncio, pathlib
        pathlib.Path("wait-started").write_text("x")
        await asyncio.sleep(1.0)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"waited"})
        return
    if scope["path"].endswith("/big"):
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/octet-stream")]})
        for i in range(16):
            await send({"type": "http.response.body", "body": bytes([65 + i]) * 65536, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    import json
    doc = {"http_version": scope["http_version"], "length": len(body), "method": scope["method"],
           "headers": [[k.decode(), v.decode()] for k, v in scope["headers"]]}
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": json.dumps(doc).encode()})
'''

NO_H2_PLUGIN = '''
from purekong.pdk import KongContext
from purekong.runner import NativePlugin


class Plugin(NativePlugin):
    name = "no-h2-for-api"
    priority = 100

    def client_hello(self, kong):
        ctx = KongContext.of(kong)
        if ctx is not None and ctx.hello is not None and ctx.hello.server_name == "api.test":
            kong.client.tls.disable_http2_alpn()
'''


def _start(tmp, upstream, files):
    plugins = write_plugins(tmp, {"no-h2-for-api.py": NO_H2_PLUGIN})
    (tmp / "h2_app.py").write_text(H2_APP)
    # bulk: the echo upstream with Kong's default timeouts (the shared echo
    # service's 1.5 s read_timeout is meant to trip; a loaded machine may trip it).
    extra = f"""- name: bulk
  url: http://127.0.0.1:{upstream}/up
  routes:
  - name: bulk
    paths: [/bulk]
- name: h2app
  asgi: h2_app:app
  routes:
  - name: h2app
    paths: [/h2app]
"""
    config = kong_yml(tmp, upstream, files, extra=extra, extra_plugins="- name: no-h2-for-api\n")
    return start_gateway(tmp, [
        "-c", str(config), "--listen", "127.0.0.1:0 ssl", "--plugins-dir", str(plugins),
        "--access-log", str(tmp / "access.log"), "--state-dir", str(tmp / "state"),
    ])


@pytest.fixture(scope="module")
def gw(tmp_path_factory, upstream, files):
    g = _start(tmp_path_factory.mktemp("serve-h2"), upstream, files)
    yield g
    assert g.stop() == 0, g.stderr()


class H2Client:
    """The h2 library over a stdlib TLS socket: frames as the server sends them."""

    def __init__(self, port: int, files, *, sni: str = "localhost") -> None:
        ctx = ssl.create_default_context(cafile=files.path("ca.pem"))
        ctx.set_alpn_protocols(["h2"])
        self.sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT), server_hostname=sni)
        assert self.sock.selected_alpn_protocol() == "h2"
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.conn.initiate_connection()
        self.flush()
        self.events: list[h2.events.Event] = []

    def flush(self) -> None:
        self.sock.sendall(self.conn.data_to_send())

    def request(self, path: str, extra: list[tuple[str, str]] = ()) -> int:
        sid = self.conn.get_next_available_stream_id()
        headers = [(":method", "GET"), (":path", path), (":scheme", "https"), (":authority", "localhost"), *extra]
        self.conn.send_headers(sid, headers, end_stream=True)
        self.flush()
        return sid

    def read_until(self, done, deadline: float = TIMEOUT) -> list[h2.events.Event]:
        end = time.monotonic() + deadline
        while not done(self.events) and time.monotonic() < end:
            data = self.sock.recv(65536)
            if not data:
                break
            for event in self.conn.receive_data(data):
                self.events.append(event)
                if isinstance(event, h2.events.DataReceived):
                    self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            self.flush()
        return self.events

    def close(self) -> None:
        self.sock.close()


def _ended(sid: int):
    return lambda events: any(isinstance(e, h2.events.StreamEnded) and e.stream_id == sid for e in events)


# -- clients --------------------------------------------------------------------------


@pytest.mark.skipif(not HAVE_CURL, reason="curl not installed")
def test_curl_http2_to_an_http11_upstream(gw, files):
    out = subprocess.run(["curl", "-sS", "-i", "--http2", "--cacert", files.path("ca.pem"), "--data-binary", "h2 body",
                          gw.url("/echo/x?q=1")], capture_output=True, timeout=TIMEOUT, check=True)
    head, _, body = out.stdout.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0].startswith("HTTP/2 200"), lines[0]
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    assert headers["via"] == "1.1 purekong/0.1.0" and headers["x-gateway"] == "purekong"  # Kong plugin ran
    echo = json.loads(body)
    assert echo["method"] == "POST" and echo["path"] == "/up/x?q=1" and echo["body"] == "h2 body"
    upstream_headers = {k.lower(): v for k, v in echo["headers"]}
    assert upstream_headers["x-tagged"] == "yes" and upstream_headers["x-forwarded-proto"] == "https"


def test_httpx_http2_and_http11_to_an_asgi_app(gw, files):
    with client(files, http2=True) as c:
        responses = [c.get(gw.url("/h2app")) for _ in range(5)]
    assert {r.http_version for r in responses} == {"HTTP/2"}
    assert all(r.headers["x-gateway"] == "purekong" for r in responses)  # plugins on every request
    assert responses[0].json()["http_version"] == "2"
    with client(files) as c:
        r = c.get(gw.url("/h2app"))
    assert r.http_version == "HTTP/1.1" and r.json()["http_version"] == "1.1"


def test_every_http2_request_is_logged(gw, files):
    with client(files, http2=True) as c:
        for i in range(3):
            assert c.get(gw.url(f"/echo/logged-{i}")).status_code == 200
    deadline = time.monotonic() + TIMEOUT  # the log line follows the response
    while time.monotonic() < deadline:
        uris = [e["request"]["uri"] for e in gw.access()]
        if all(f"/echo/logged-{i}" in uris for i in range(3)):
            break
        time.sleep(0.05)
    assert all(f"/echo/logged-{i}" in uris for i in range(3)), uris


def test_flow_control_a_1_mib_response_and_a_1_mib_request_body(gw, files):
    upload = bytes(range(256)) * 4096  # past the 64 KiB initial windows, both ways
    with client(files, http2=True) as c:
        big = c.get(gw.url("/h2app/big"))
        echoed = c.post(gw.url("/h2app"), content=upload)
    assert big.http_version == "HTTP/2" and big.content == b"".join(bytes([65 + i]) * 65536 for i in range(16))
    assert echoed.json()["length"] == len(upload)


@pytest.mark.skipif(not HAVE_H2LOAD, reason="h2load not installed")
@pytest.mark.parametrize("path", ["/bulk", "/h2app"])
def test_h2load_many_streams_all_succeed(gw, path):
    out = subprocess.run(["h2load", "-n", "400", "-c", "4", "-m", "10", gw.url(path)], capture_output=True, text=True, timeout=120)
    assert "requests: 400 total, 400 started, 400 done, 400 succeeded, 0 failed, 0 errored" in out.stdout, out.stdout


# -- limits and frames ----------------------------------------------------------------


def test_the_servers_settings_announce_the_documented_limits(gw, files):
    c = H2Client(gw.https, files)
    try:
        events = c.read_until(lambda ev: any(isinstance(e, h2.events.RemoteSettingsChanged) for e in ev))
        changed = next(e for e in events if isinstance(e, h2.events.RemoteSettingsChanged)).changed_settings
        values = {code: s.new_value for code, s in changed.items()}
        codes = h2.settings.SettingCodes
        assert values[codes.MAX_CONCURRENT_STREAMS] == 128 and values[codes.MAX_HEADER_LIST_SIZE] == 64 * 1024
        assert values[codes.MAX_FRAME_SIZE] == 16384 and values[codes.ENABLE_PUSH] == 0
    finally:
        c.close()


def test_a_header_list_over_the_limit_ends_the_connection_and_the_next_one_works(gw, files):
    c = H2Client(gw.https, files)
    try:
        c.conn.local_settings.acknowledge()  # not needed by the server; keeps the client quiet
        c.conn.max_outbound_frame_size = 16384
        c.request("/echo", [("x-huge", "a" * 16000)] * 6)  # ~96 KiB of fields
        events = c.read_until(lambda ev: any(isinstance(e, (h2.events.ConnectionTerminated, h2.events.StreamReset)) for e in ev))
        assert any(isinstance(e, (h2.events.ConnectionTerminated, h2.events.StreamReset)) for e in events), events
        assert not any(isinstance(e, h2.events.ResponseReceived) for e in events)
    finally:
        c.close()
    with client(files, http2=True) as hc:
        assert hc.get(gw.url("/echo")).status_code == 200


def test_a_body_announced_over_the_limit_gets_413_before_it_is_sent(gw, files):
    c = H2Client(gw.https, files)
    try:
        sid = c.conn.get_next_available_stream_id()
        c.conn.send_headers(sid, [(":method", "POST"), (":path", "/echo"), (":scheme", "https"), (":authority", "localhost"),
                                  ("content-length", str(10**9))])  # no END_STREAM: the body would follow
        c.flush()
        events = c.read_until(lambda ev: any(isinstance(e, h2.events.StreamReset) and e.stream_id == sid for e in ev))
        status = [dict(e.headers)[":status"] for e in events if isinstance(e, h2.events.ResponseReceived)]
        reset = next(e for e in events if isinstance(e, h2.events.StreamReset))
        assert status == ["413"] and reset.error_code == 0  # RST_STREAM(NO_ERROR) after a complete response
        body = b"".join(e.data for e in events if isinstance(e, h2.events.DataReceived))
        assert json.loads(body) == {"message": "Payload too large"}
    finally:
        c.close()


def test_a_client_resetting_its_stream_leaves_the_connection_usable(gw, files):
    c = H2Client(gw.https, files)
    try:
        slow = c.request("/slow")  # the upstream takes 3 s
        c.conn.reset_stream(slow)
        c.flush()
        fast = c.request("/echo")
        events = c.read_until(_ended(fast))
        statuses = [dict(e.headers)[":status"] for e in events if isinstance(e, h2.events.ResponseReceived) and e.stream_id == fast]
        assert statuses == ["200"]
    finally:
        c.close()


@pytest.mark.skipif(not HAVE_NGHTTP, reason="nghttp not installed")
def test_goaway_on_shutdown_lets_the_stream_in_flight_finish(tmp_path, upstream, files):
    # nghttp prints every frame; h2's client closes its state machine on GOAWAY,
    # so it cannot show the response that follows one.
    g = _start(tmp_path, upstream, files)
    marker = tmp_path / "wait-started"
    try:
        proc = subprocess.Popen(["nghttp", "-nv", f"https://localhost:{g.https}/h2app/wait"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + TIMEOUT
        while not marker.exists() and time.monotonic() < deadline:  # the app has the request
            time.sleep(0.02)
        g.proc.send_signal(15)
        out, _ = proc.communicate(timeout=TIMEOUT)
        assert g.proc.wait(TIMEOUT) == 0, g.stderr()  # a clean exit after the stream finished
    finally:
        g.stop()
    sid = re.search(r"send HEADERS frame <[^>]*stream_id=(\d+)>[^<]*:path: /h2app/wait", out, re.S)
    goaway = re.search(r"recv GOAWAY frame <[^>]*>\s*\(last_stream_id=(\d+), error_code=NO_ERROR", out)
    assert sid and goaway and goaway.group(1) == sid.group(1), out
    # The stream in flight is still answered after the GOAWAY, to its END_STREAM.
    rest = out[goaway.end():]
    assert ":status: 200" in rest and "recv DATA frame <length=6" in rest and "END_STREAM" in rest, out  # "waited"


# -- ALPN -----------------------------------------------------------------------------


def test_a_client_offering_only_h2_gets_h2(gw, files):
    c = H2Client(gw.https, files)  # asserts the ALPN choice
    try:
        sid = c.request("/h2app")
        events = c.read_until(_ended(sid))
        body = b"".join(e.data for e in events if isinstance(e, h2.events.DataReceived))
        assert json.loads(body)["http_version"] == "2"
    finally:
        c.close()


@pytest.mark.skipif(not HAVE_CURL, reason="curl not installed")
@pytest.mark.parametrize("host,version", [("localhost", "2"), ("api.test", "1.1")])
def test_disable_http2_alpn_in_client_hello_makes_curl_use_http11(gw, files, host, version):
    out = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_version}", "--http2", "--cacert", files.path("ca.pem"),
                          "--resolve", f"{host}:{gw.https}:127.0.0.1", f"https://{host}:{gw.https}/echo"],
                         capture_output=True, text=True, timeout=TIMEOUT, check=True)
    assert out.stdout == version
