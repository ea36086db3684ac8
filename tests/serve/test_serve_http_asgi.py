"""ASGI apps behind ``purekong serve`` as uvicorn runs them: the scope, lifespan state, big bodies.

A Starlette app (with a lifespan that stores state) runs under purekong and,
for the differential test, under uvicorn with the same certificate; the HTTP
scope's fields must be uvicorn's (and their values, where they do not depend
on the server). The gateway runs with ``--request-buffering off`` and a
100 kB ``--max-body-size``, so an oversized chunked upload reaches the app as
a stream and must end in Kong's 413, with no traceback.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx
import pytest

from _serve_helpers import REPO, TIMEOUT, client, kong_yml, start_gateway, write_plugins

LIMIT = 100_000

ASGI_APPS = '''
import contextlib

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route


@contextlib.asynccontextmanager
async def lifespan(app):
    yield {"greeting": "hello from lifespan", "counter": [0]}


async def state(request: Request):
    request.state.counter[0] += 1  # shared object: a shallow copy per request, as uvicorn's
    return JSONResponse({"greeting": request.state.greeting, "count": request.state.counter[0]})


async def scope(request: Request):
    s = request.scope
    plain = {k: v for k, v in s.items() if k in ("type", "asgi", "http_version", "scheme", "method", "root_path", "path")}
    plain.update(raw_path=s["raw_path"].decode(), query_string=s["query_string"].decode(), keys=sorted(s),
                 client=list(s["client"]), server=list(s["server"]), state_keys=sorted(s["state"]),
                 headers=[[k.decode(), v.decode()] for k, v in s["headers"]])
    return JSONResponse(plain)


async def upload(request: Request):
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
    return JSONResponse({"size": size})


app = Starlette(lifespan=lifespan, routes=[Route("/a/state", state), Route("/a/scope", scope),
                                           Route("/a/upload", upload, methods=["POST"])])
'''


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve-asgi")
    (tmp / "asgi_apps.py").write_text(ASGI_APPS)
    return tmp


@pytest.fixture(scope="module")
def gw(app_dir, upstream, files):
    plugins = write_plugins(app_dir)
    extra = """- name: starlette
  asgi: asgi_apps:app
  routes:
  - name: starlette
    paths: [/a]
    strip_path: false
"""
    config = kong_yml(app_dir, upstream, files, extra=extra)
    g = start_gateway(app_dir, [
        "-c", str(config), "--listen", "127.0.0.1:0 ssl", "--plugins-dir", str(plugins), "--state-dir", str(app_dir / "state"),
        "--request-buffering", "off", "--max-body-size", str(LIMIT),
    ])
    yield g
    assert g.stop() == 0, g.stderr()


@pytest.fixture(scope="module")
def uvicorn_port(app_dir, files):
    """The same app under uvicorn, same certificate."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "asgi_apps:app", "--port", str(port), "--log-level", "warning",
                             "--ssl-certfile", files.path("server.pem"), "--ssl-keyfile", files.path("server-key.pem")],
                            cwd=app_dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    yield port
    proc.terminate()
    proc.wait(TIMEOUT)


def test_lifespan_state_reaches_request_state(gw, files):
    with client(files) as c:
        first, second = c.get(gw.url("/a/state")).json(), c.get(gw.url("/a/state")).json()
    assert first["greeting"] == "hello from lifespan" and second["count"] == first["count"] + 1


def test_the_http_scope_has_uvicorns_fields_and_values(gw, uvicorn_port, files):
    with client(files) as c:
        ours = c.get(gw.url("/a/scope?x=1&y=%20")).json()
        theirs = c.get(f"https://localhost:{uvicorn_port}/a/scope?x=1&y=%20").json()
    assert set(theirs["keys"]) <= set(ours["keys"]), set(theirs["keys"]) - set(ours["keys"])
    for field in ("type", "http_version", "scheme", "method", "root_path", "path", "raw_path", "query_string", "state_keys"):
        assert ours[field] == theirs[field], field
    assert ours["asgi"]["version"] == theirs["asgi"]["version"] == "3.0"
    assert ours["client"][0] == "127.0.0.1" and ours["server"] == ["127.0.0.1", gw.https]


def test_http2_requests_have_http_version_2(gw, files):
    with client(files, http2=True) as c:
        r = c.get(gw.url("/a/scope"))
    assert r.http_version == "HTTP/2" and r.json()["http_version"] == "2"


def _chunks(total: int, size: int = 8192):
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        sent += n
        yield b"z" * n


def test_a_chunked_body_within_the_limit_streams_to_the_app(gw, files):
    with client(files) as c:
        r = c.post(gw.url("/a/upload"), content=_chunks(LIMIT - 1000))
    assert r.status_code == 200 and r.json() == {"size": LIMIT - 1000}


def test_an_oversized_chunked_body_gets_413_and_no_traceback(gw, files):
    with client(files) as c:
        try:
            r = c.post(gw.url("/a/upload"), content=_chunks(4 * LIMIT))
        except httpx.RemoteProtocolError as exc:  # the gateway may close while the client still sends
            pytest.fail(f"no answer: {exc}")
    assert r.status_code == 413 and r.json() == {"message": "Payload too large"}
    assert r.headers["connection"] == "close"  # the rest of the body is still on the wire
    time.sleep(0.2)  # let the log line land (not a timing assertion)
    assert "Traceback" not in gw.stderr(), gw.stderr()
    with client(files) as c:  # and the gateway is fine
        assert c.get(gw.url("/a/state")).status_code == 200


def test_an_oversized_content_length_is_refused_before_the_app_runs(gw, files):
    with client(files) as c:
        r = c.post(gw.url("/a/upload"), content=b"z" * (LIMIT + 1))
    assert r.status_code == 413
