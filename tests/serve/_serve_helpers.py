"""Helpers shared by the ``purekong serve`` tests (test_serve_*.py): the test
PKI on disk, the gateway as a real process, its kong.yml and plugins, and an
httpx client that trusts the test CA.

The fixtures built from these (``files``, ``upstream``) are in
tests/serve/conftest.py, once per session.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from _pki import Issued, make_ca, make_cert, make_leaf, pool_key

REPO = Path(__file__).resolve().parent.parent.parent
TIMEOUT = 30.0  # generous: only reached when something is broken
HAVE_CURL = shutil.which("curl") is not None
HAVE_OPENSSL = shutil.which("openssl") is not None


# -- PKI -----------------------------------------------------------------------------


@dataclass
class Files:
    dir: Path
    ca: Issued
    server: Issued
    good: Issued  # client cert issued by ca
    rogue_ca: Issued
    rogue: Issued  # client cert from another CA

    def path(self, name: str) -> str:
        return str(self.dir / name)


def _write(path: Path, issued: Issued, chain: tuple[Issued, ...] = ()) -> None:
    path.with_suffix(".pem").write_text(issued.pem + "".join(c.pem for c in chain))
    path.with_name(path.name + "-key.pem").write_bytes(
        issued.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


def make_files(directory: Path) -> Files:
    """The test CA, the gateway's certificate, a good and a rogue client, as PEM files."""
    ca = make_ca("CN=Serve Test CA,O=purekong tests", key=pool_key("ec", 40))
    server = make_cert(
        "localhost", ca, key=pool_key("ec", 41), key_usage={"digital_signature"},
        eku=[ExtendedKeyUsageOID.SERVER_AUTH],
        extensions=[(x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.DNSName("api.test")]), False)],
    )
    good = make_leaf(ca, "CN=good client,O=purekong tests", key=pool_key("ec", 42))
    rogue_ca = make_ca("CN=Rogue CA", key=pool_key("ec", 43))
    rogue = make_leaf(rogue_ca, "CN=rogue client", key=pool_key("ec", 44))
    for stem, issued in (("ca", ca), ("server", server), ("good", good), ("rogue-ca", rogue_ca), ("rogue", rogue)):
        _write(directory / stem, issued)
    return Files(directory, ca, server, good, rogue_ca, rogue)


# -- the upstream --------------------------------------------------------------------


class UpstreamHandler(BaseHTTPRequestHandler):
    """Echoes each request as JSON; /slow, /garbage and /stream misbehave on purpose."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def _reply(self, status: int, body: bytes, ctype: str = "application/json", extra=()) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path.startswith("/slow"):
            time.sleep(3)
        if self.path.startswith("/garbage"):
            self.wfile.write(b"this is not HTTP\r\n\r\n")
            self.close_connection = True
            return
        if self.path.startswith("/stream"):
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(5):
                chunk = f"chunk {i}\n".encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
                time.sleep(0.05)
            self.wfile.write(b"0\r\n\r\n")
            return
        echo = {"method": self.command, "path": self.path, "headers": [[k, v] for k, v in self.headers.items()], "body": body.decode("latin-1")}
        self._reply(200, json.dumps(echo).encode(), extra=[("X-Upstream", "yes")])

    do_GET = do_POST = do_PUT = do_DELETE = _handle


class QuietHTTPServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):  # the gateway gave up on /slow: expected
        pass


# -- the gateway process -------------------------------------------------------------


@dataclass
class Gateway:
    proc: subprocess.Popen
    https: int | None
    http: int | None
    summary: list[str]
    stderr_path: Path
    access_log: Path | None = None

    def url(self, path: str = "/", *, tls: bool = True) -> str:
        return f"https://localhost:{self.https}{path}" if tls else f"http://127.0.0.1:{self.http}{path}"

    def access(self) -> list[dict]:
        if self.access_log is None or not self.access_log.exists():
            return []
        return [json.loads(line) for line in self.access_log.read_text().splitlines() if line.strip()]

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def stop(self, sig=signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(TIMEOUT)
            raise


def start_gateway(tmp: Path, args: list[str], *, env: dict | None = None) -> Gateway:
    """Run ``purekong serve ARGS``; return once its startup summary is printed."""
    stderr_path = tmp / f"serve-{time.monotonic_ns()}.err"
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), str(REPO / "tests"), full_env.get("PYTHONPATH")]))
    with open(stderr_path, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "purekong.cli", "serve", *args], stdout=subprocess.PIPE, stderr=err, env=full_env, cwd=tmp)
    summary: list[str] = []
    deadline = time.monotonic() + TIMEOUT
    https = http = None
    while time.monotonic() < deadline:
        line = proc.stdout.readline().decode()
        if not line:
            raise AssertionError(f"purekong serve exited ({proc.wait()}):\n{stderr_path.read_text()}")
        summary.append(line.rstrip("\n"))
        m = re.search(r"listening on (https?)://[^:]+:(\d+)", line)
        if m:
            if m.group(1) == "https" and https is None:
                https = int(m.group(2))
            elif m.group(1) == "http" and http is None:
                http = int(m.group(2))
        if _summary_done(summary):
            break
    # Drain stdout in the background so the process never blocks on it.
    threading.Thread(target=lambda: [summary.append(l.decode().rstrip()) for l in proc.stdout], daemon=True).start()
    log = None
    if "--access-log" in args:
        log = Path(args[args.index("--access-log") + 1])
        if not log.is_absolute():
            log = tmp / log
    return Gateway(proc, https, http, summary, stderr_path, log)


def _summary_done(lines: list[str]) -> bool:
    return any(line.startswith("  ready") for line in lines)


def kong_yml(tmp: Path, upstream_port: int, files: Files, extra_plugins: str = "", extra: str = "") -> Path:
    path = tmp / "kong.yml"
    path.write_text(f"""_format_version: "3.0"
services:
- name: echo
  url: http://127.0.0.1:{upstream_port}/up
  read_timeout: 1500
  routes:
  - name: echo
    paths: [/echo]
- name: slow
  url: http://127.0.0.1:{upstream_port}
  read_timeout: 1000
  routes:
  - name: slow
    paths: [/slow, /garbage, /stream]
    strip_path: false
- name: dead
  url: http://127.0.0.1:{_dead_port()}
  routes:
  - name: dead
    paths: [/dead]
- name: app
  asgi: tls_app:app
  routes:
  - name: app
    paths: [/app]
  - name: app-mtls
    paths: [/app]
    snis: [api.test]
    protocols: [https]
    plugins:
    - name: tls-handshake-modifier
- name: boom
  url: http://127.0.0.1:{upstream_port}
  routes:
  - name: boom
    paths: [/boom]
    plugins:
    - name: boom
{extra}
plugins:
- name: tagger
{extra_plugins}
{certificates_yml(files)}""")
    return path


def certificates_yml(files: Files) -> str:
    """The ``certificates`` section: the test server certificate for localhost and api.test."""
    key = files.server.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    return f"""certificates:
- cert: |
{indent(files.server.pem + files.ca.pem, 4)}
  key: |
{indent(key, 4)}
  snis: [{{name: localhost}}, {{name: api.test}}]
"""


def indent(text: str, n: int) -> str:
    return "".join(" " * n + line + "\n" for line in text.splitlines())


def _dead_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    return port


PLUGINS = {
    "tagger.py": '''
version = "0.1.0"
priority = 10

class Plugin:
    def __init__(self, config):
        self.config = config

    def access(self, kong):
        kong.service.request.set_header("X-Tagged", "yes")
        kong.response.set_header("X-Gateway", "purekong")
''',
    "boom.py": '''
priority = 5

class Plugin:
    def __init__(self, config):
        pass

    def access(self, kong):
        raise RuntimeError("boom")
''',
}

TLS_APP = '''
async def app(scope, receive, send):
    import json
    if scope["type"] != "http":
        return
    message = await receive()
    tls = scope.get("extensions", {}).get("tls")
    body = json.dumps({"tls": tls, "path": scope["path"], "body": message["body"].decode(),
                       "headers": [[k.decode(), v.decode()] for k, v in scope["headers"]]}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})
'''


def write_plugins(tmp: Path, extra: dict | None = None) -> Path:
    d = tmp / "plugins"
    d.mkdir(exist_ok=True)
    for name, text in {**PLUGINS, **(extra or {})}.items():
        (d / name).write_text(text)
    (tmp / "tls_app.py").write_text(TLS_APP)
    return d


def client(files: Files, cert: str | None = None, **kw) -> httpx.Client:
    # The gateway's certificate for "localhost" is issued by the test CA.
    ctx = ssl.create_default_context(cafile=files.path("ca.pem"))
    if cert:
        ctx.load_cert_chain(files.path(f"{cert}.pem"), files.path(f"{cert}-key.pem"))
    return httpx.Client(verify=ctx, timeout=TIMEOUT, **kw)


async def serve_on_socketpair(serve, handler, limits, client_bytes: bytes = b""):
    """Run ``serve(stream, handler, limits, state)`` (the HTTP/1.1 or HTTP/2
    layer) on one end of a socket pair, as the worker does (the stream closed
    when it returns), and connect an asyncio client to the other end, which
    has sent ``client_bytes``. Returns (server task, stream, client reader, client writer)."""
    import asyncio

    from purekong.server._http import ConnectionState
    from purekong.server._streams import open_stream

    server_sock, client_sock = socket.socketpair()
    stream = await open_stream(server_sock, limits)

    async def run() -> None:
        try:
            await serve(stream, handler, limits, ConnectionState())
        finally:
            await stream.close()  # as the worker does

    task = asyncio.create_task(run())
    c_reader, c_writer = await asyncio.open_connection(sock=client_sock)
    if client_bytes:
        c_writer.write(client_bytes)
        await c_writer.drain()
    return task, stream, c_reader, c_writer
