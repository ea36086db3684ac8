"""WebSockets through ``purekong serve``: ASGI apps (Starlette, FastAPI) and an upstream WebSocket server.

The client is the ``websockets`` library (its sync client, over TLS with the
test CA and over plain TCP); the upstream is a ``websockets`` server on
127.0.0.1 in a thread. Kong's phases run around the upgrade: access on the
upgrade request (the global ``tagger`` plugin adds ``X-Tagged`` upstream and
``X-Gateway`` to the 101), a plugin failing in access answers 500 and no
upgrade happens, and the log phase writes one access-log entry once the
WebSocket closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import ssl
import threading
import time

import pytest
from websockets.asyncio.server import serve as ws_serve
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from _serve_helpers import TIMEOUT, kong_yml, start_gateway, write_plugins

WS_APPS = '''
import contextlib

from fastapi import FastAPI, WebSocket as FastAPIWebSocket
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket


@contextlib.asynccontextmanager
async def lifespan(app):
    yield {"greeting": "hello from lifespan"}


async def echo(ws: WebSocket):
    await ws.accept(subprotocol="echo.v1" if "echo.v1" in ws.scope["subprotocols"] else None)
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") is not None:
            await ws.send_text("echo: " + message["text"])
        else:
            await ws.send_bytes(b"echo: " + message["bytes"])


async def scope(ws: WebSocket):
    await ws.accept()
    s = ws.scope
    tls = s["extensions"].get("tls")
    await ws.send_json({
        "type": s["type"], "asgi": s["asgi"], "http_version": s["http_version"], "scheme": s["scheme"],
        "path": s["path"], "raw_path": s["raw_path"].decode(), "query_string": s["query_string"].decode(),
        "root_path": s["root_path"], "subprotocols": s["subprotocols"], "client": list(s["client"]),
        "server": list(s["server"]), "state": s["state"], "tls_version": tls and tls["tls_version"],
        "headers": [[k.decode(), v.decode()] for k, v in s["headers"]],
    })
    await ws.close(code=4001, reason="done")


async def reject(ws: WebSocket):
    await ws.close()


starlette_app = Starlette(lifespan=lifespan, routes=[
    WebSocketRoute("/s/echo", echo), WebSocketRoute("/s/scope", scope), WebSocketRoute("/s/reject", reject),
])

fastapi_app = FastAPI()


@fastapi_app.websocket("/f/chat/{room}")
async def chat(websocket: FastAPIWebSocket, room: str):
    await websocket.accept()
    async for text in websocket.iter_text():
        await websocket.send_text(f"{room}: {text}")
'''


@pytest.fixture(scope="module")
def ws_upstream():
    """A standalone WebSocket server: echoes, and answers "headers" with the upgrade request's."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    port: list[int] = []
    stop = loop.create_future()

    async def handler(conn):
        async for message in conn:
            if message == "headers":
                await conn.send(json.dumps({"path": conn.request.path, "headers": dict(conn.request.headers.raw_items())}))
            else:
                await conn.send(message)

    async def main():
        async with ws_serve(handler, "127.0.0.1", 0) as server:
            port.append(server.sockets[0].getsockname()[1])
            ready.set()
            await stop

    thread = threading.Thread(target=lambda: loop.run_until_complete(main()), daemon=True)
    thread.start()
    assert ready.wait(TIMEOUT)
    yield port[0]
    loop.call_soon_threadsafe(stop.set_result, None)
    thread.join(TIMEOUT)
    loop.close()


@pytest.fixture(scope="module")
def gw(tmp_path_factory, upstream, ws_upstream, files):
    tmp = tmp_path_factory.mktemp("serve-ws")
    plugins = write_plugins(tmp)
    (tmp / "ws_apps.py").write_text(WS_APPS)
    extra = f"""- name: starlette
  asgi: ws_apps:starlette_app
  routes:
  - name: starlette
    paths: [/s]
    strip_path: false
- name: fastapi
  asgi: ws_apps:fastapi_app
  routes:
  - name: fastapi
    paths: [/f]
    strip_path: false
- name: ws-upstream
  url: http://127.0.0.1:{ws_upstream}/ws
  routes:
  - name: ws-upstream
    paths: [/upstream-ws]
  - name: ws-boom
    paths: [/boom-ws]
    plugins:
    - name: boom
"""
    config = kong_yml(tmp, upstream, files, extra=extra)
    g = start_gateway(tmp, [
        "-c", str(config), "--listen", "127.0.0.1:0 ssl", "--listen", "127.0.0.1:0", "--plugins-dir", str(plugins),
        "--access-log", str(tmp / "access.log"), "--state-dir", str(tmp / "state"),
    ])
    yield g
    assert g.stop() == 0, g.stderr()


def wss(gw, files, path: str, **kw):
    ctx = ssl.create_default_context(cafile=files.path("ca.pem"))
    return connect(f"wss://localhost:{gw.https}{path}", ssl=ctx, open_timeout=TIMEOUT, close_timeout=TIMEOUT, **kw)


def ws(gw, path: str, **kw):
    return connect(f"ws://127.0.0.1:{gw.http}{path}", open_timeout=TIMEOUT, close_timeout=TIMEOUT, **kw)


def logged(gw, path: str) -> dict:
    """The access-log entry for ``path`` (written when the WebSocket ended)."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        entries = [e for e in gw.access() if e["request"]["uri"] == path]
        if entries:
            return entries[-1]
        time.sleep(0.05)
    raise AssertionError(f"no access-log entry for {path}")


# -- ASGI apps ------------------------------------------------------------------------


def test_starlette_echo_over_wss_with_a_subprotocol(gw, files):
    with wss(gw, files, "/s/echo", subprotocols=["echo.v1"]) as c:
        assert c.subprotocol == "echo.v1"
        assert c.response.status_code == 101 and c.response.headers["x-gateway"] == "purekong"
        c.send("hi")
        assert c.recv(TIMEOUT) == "echo: hi"
        c.send(b"\x00\x01" * 40000)  # 80 KB: several reads, one message
        assert c.recv(TIMEOUT) == b"echo: " + b"\x00\x01" * 40000
        c.ping().wait(TIMEOUT)


def test_the_websocket_scope_has_every_field_uvicorn_fills(gw, files):
    with wss(gw, files, "/s/scope?x=1", subprotocols=["a", "b"]) as c:
        scope = json.loads(c.recv(TIMEOUT))
        with pytest.raises(ConnectionClosed) as closed:
            c.recv(TIMEOUT)
    assert closed.value.rcvd.code == 4001 and closed.value.rcvd.reason == "done"
    assert scope["type"] == "websocket" and scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert scope["http_version"] == "1.1" and scope["scheme"] == "wss" and scope["root_path"] == ""
    assert (scope["path"], scope["raw_path"], scope["query_string"]) == ("/s/scope", "/s/scope", "x=1")
    assert scope["subprotocols"] == ["a", "b"] and scope["client"][0] == "127.0.0.1" and scope["server"][1] == gw.https
    assert scope["state"] == {"greeting": "hello from lifespan"}  # the lifespan state, copied in
    assert scope["tls_version"] == 0x0304
    names = {k for k, _ in scope["headers"]}
    assert {"sec-websocket-key", "sec-websocket-version", "upgrade", "x-forwarded-for"} <= names


def test_plain_ws_scheme_is_ws(gw):
    with ws(gw, "/s/scope") as c:
        scope = json.loads(c.recv(TIMEOUT))
    assert scope["scheme"] == "ws" and scope["tls_version"] is None


def test_an_app_closing_before_accept_gets_403(gw, files):
    with pytest.raises(InvalidStatus) as refused:
        with wss(gw, files, "/s/reject"):
            pass
    assert refused.value.response.status_code == 403


def test_fastapi_websocket_route_with_a_path_parameter(gw, files):
    with wss(gw, files, "/f/chat/lobby") as c:
        for text in ("one", "two"):
            c.send(text)
            assert c.recv(TIMEOUT) == f"lobby: {text}"


def test_several_websockets_at_once(gw, files):
    with contextlib.ExitStack() as stack:
        clients = [stack.enter_context(wss(gw, files, "/s/echo")) for _ in range(5)]
        for i, c in enumerate(clients):
            c.send(f"n{i}")
        assert [c.recv(TIMEOUT) for c in clients] == [f"echo: n{i}" for i in range(5)]


# -- an upstream WebSocket server ------------------------------------------------------


def test_proxied_to_an_upstream_websocket_server_over_wss_and_ws(gw, files, ws_upstream):
    for connect_to in (lambda: wss(gw, files, "/upstream-ws/room?k=v"), lambda: ws(gw, "/upstream-ws/room?k=v")):
        with connect_to() as c:
            assert c.response.headers["x-gateway"] == "purekong" and c.response.headers["via"] == "1.1 purekong/0.1.0"
            c.send("headers")
            seen = json.loads(c.recv(TIMEOUT))
            c.send("payload " * 5000)
            assert c.recv(TIMEOUT) == "payload " * 5000
            c.send(b"\xff" * 10)
            assert c.recv(TIMEOUT) == b"\xff" * 10
        headers = {k.lower(): v for k, v in seen["headers"].items()}
        assert seen["path"] == "/ws/room?k=v"  # strip_path and the service path, as for HTTP
        assert headers["x-tagged"] == "yes" and headers["upgrade"] == "websocket" and headers["connection"].lower() == "upgrade"
        assert headers["host"] == f"127.0.0.1:{ws_upstream}" and headers["x-forwarded-for"] == "127.0.0.1"


def test_a_plugin_failing_in_access_refuses_the_upgrade(gw, files):
    with pytest.raises(InvalidStatus) as refused:
        with wss(gw, files, "/boom-ws"):
            pass
    assert refused.value.response.status_code == 500


def test_the_log_phase_runs_when_the_websocket_ends(gw, files):
    payload = os.urandom(1000)  # incompressible: permessage-deflate is negotiated end to end
    with wss(gw, files, "/upstream-ws/logged") as c:
        c.send(payload)
        assert c.recv(TIMEOUT) == payload
    entry = logged(gw, "/upstream-ws/logged")
    assert entry["response"]["status"] == 101 and entry["response"]["size"] >= 1000, entry  # the frames sent back
    assert entry["latencies"]["proxy"] >= 0 and entry["upstream_uri"] == "/ws/logged"
