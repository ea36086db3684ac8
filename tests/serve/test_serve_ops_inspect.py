"""``--inspect DIR``: ``purekong serve`` and ``purekong tls-server`` write one
recording per TLS connection, which ``purekong inspect`` reads. Real clients
(curl, openssl s_client, stdlib ssl); the bounds (number of files, bytes per
connection) are checked on an in-process ``TLSServer``.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import ssl
import subprocess
import sys
import time

from _serve_helpers import HAVE_CURL, HAVE_OPENSSL, TIMEOUT, certificates_yml, start_gateway
import pytest

from purekong.engine import CertifiedKey, ServerConfig
from purekong.inspect import Recording
from purekong.server import TLSServer, TLSServerOptions
from purekong.server._inspect import MAX_CAPTURE_BYTES

APP = '''
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"hello"})
'''


def _recordings(directory, count: int) -> list:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        files = sorted(directory.glob("*.json"))
        if len(files) >= count:
            return files
        time.sleep(0.05)
    raise AssertionError(f"expected {count} recordings in {directory}, found {list(directory.iterdir())}")


@pytest.mark.skipif(not (HAVE_CURL and HAVE_OPENSSL), reason="needs curl and openssl")
def test_serve_inspect_records_each_clients_handshake(tmp_path, files):
    (tmp_path / "hello_app.py").write_text(APP)
    config = tmp_path / "kong.yml"
    config.write_text(f"""_format_version: "3.0"
services:
- name: app
  asgi: hello_app:app
  routes:
  - name: app
    paths: [/]
{certificates_yml(files)}""")
    rec = tmp_path / "rec"
    gw = start_gateway(tmp_path, ["-c", str(config), "--listen", "127.0.0.1:0 ssl", "--inspect", str(rec), "--state-dir", str(tmp_path / "s")])
    try:
        assert "inspect: one recording per TLS connection in" in "\n".join(gw.summary)
        out = subprocess.run(["curl", "-sS", "--cacert", files.path("ca.pem"), "--tlsv1.2", "--tls-max", "1.2", gw.url("/")],
                             capture_output=True, text=True, timeout=TIMEOUT)
        assert out.stdout == "hello", out.stderr
        _recordings(rec, 1)
        # A client the gateway refuses is recorded too: that is when one wants to look.
        subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{gw.https}", "-tls1_3", "-ciphersuites", "TLS_AES_128_CCM_8_SHA256"],
                       input="", capture_output=True, text=True, timeout=TIMEOUT)
        first, second = _recordings(rec, 2)
        assert oct(os.stat(first).st_mode & 0o777) == "0o600"  # they hold the connection's keys
        ok = Recording.from_json(first.read_bytes())
        assert ok.tls_version == 0x0303 and [m.msg_type for m in ok.handshake_messages][:2] == [1, 2]  # ClientHello, ServerHello
        refused = Recording.from_json(second.read_bytes())
        assert [a.name for a in refused.alerts] == ["handshake_failure"]
        shown = subprocess.run([sys.executable, "-m", "purekong.cli", "inspect", str(first)], capture_output=True, text=True, timeout=TIMEOUT)
        assert shown.returncode == 0 and "ClientHello" in shown.stdout and "ServerHello" in shown.stdout, shown.stderr
    finally:
        assert gw.stop() == 0, gw.stderr()


def test_tls_server_inspect_flag(tmp_path, files):
    rec = tmp_path / "rec"
    proc = subprocess.Popen([sys.executable, "-m", "purekong.cli", "tls-server", "--port", "0", "--cert", files.path("server.pem"),
                             "--key", files.path("server-key.pem"), "--inspect", str(rec)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = int(re.search(r":(\d+)$", proc.stdout.readline().strip()).group(1))
        ctx = ssl.create_default_context(cafile=files.path("ca.pem"))
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw, ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(b"GET / HTTP/1.0\r\n\r\n")
            while tls.recv(4096):
                pass
        [path] = _recordings(rec, 1)
        proc.terminate()
        assert f"recorded in {path}" in proc.communicate(timeout=TIMEOUT)[1]  # its stderr says where
        recording = Recording.from_json(path.read_bytes())
        hello = recording.handshake_messages[0]
        assert recording.tls_version == 0x0304 and hello.msg_type == 1 and b"localhost" in hello.raw  # the client's SNI
    finally:
        proc.terminate()
        proc.wait(TIMEOUT)


def _tls_client(port: int, cafile: str, payload: bytes = b"") -> None:
    ctx = ssl.create_default_context(cafile=cafile)
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw, ctx.wrap_socket(raw, server_hostname="localhost") as tls:
        if payload:
            tls.sendall(payload)
            got = 0
            while got < len(payload):
                chunk = tls.recv(65536)
                if not chunk:
                    break
                got += len(chunk)
        tls.unwrap() if payload else tls.sendall(b"GET / HTTP/1.0\r\n\r\n")
        if not payload:
            while tls.recv(4096):
                pass


def test_inspect_keeps_at_most_max_recordings_and_max_bytes(tmp_path, files):
    cert = CertifiedKey.load(files.path("server.pem"), files.path("server-key.pem"))
    rec = tmp_path / "rec"
    rec.mkdir()

    async def main() -> None:
        server = TLSServer(TLSServerOptions(config=ServerConfig(certificates=(cert,)), echo=True, inspect_dir=rec, log=lambda line: None))
        assert server.inspect is not None
        server.inspect.max_recordings = 2
        _, port = await server.start("127.0.0.1", 0)
        big = os.urandom(MAX_CAPTURE_BYTES + 512 * 1024)
        await asyncio.to_thread(_tls_client, port, files.path("ca.pem"), big)
        for _ in range(3):
            await asyncio.to_thread(_tls_client, port, files.path("ca.pem"), b"small")
        await server.close()

    asyncio.run(main())
    kept = sorted(rec.glob("*.json"))
    assert len(kept) == 2  # the newest two; the big one was pruned, so check the cut on a fresh run
    rec2 = tmp_path / "rec2"
    rec2.mkdir()

    async def big_only() -> None:
        server = TLSServer(TLSServerOptions(config=ServerConfig(certificates=(cert,)), echo=True, inspect_dir=rec2, log=lambda line: None))
        _, port = await server.start("127.0.0.1", 0)
        await asyncio.to_thread(_tls_client, port, files.path("ca.pem"), os.urandom(MAX_CAPTURE_BYTES + 512 * 1024))
        await server.close()

    asyncio.run(big_only())
    [path] = rec2.glob("*.json")
    recording = Recording.from_json(path.read_bytes())
    assert any("kept the first" in f.message for f in recording.findings)
    assert sum(len(r.raw) for r in recording.records) <= MAX_CAPTURE_BYTES
