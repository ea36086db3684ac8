"""An ASGI app's body that is all there when its head is: one write, the same bytes.

When the app has returned having sent a body its Content-Length frames, the
exchange hands the HTTP/1.1 layer that body as bytes (one write) instead of a
stream. The client must get the same bytes as when the body streams: the
same app made to yield before its last body message (so it is still running
when its head arrives) takes the streamed path, and the two responses,
through the HTTP/1.1 layer's ``_send_reply`` on a real h11 connection, must
be equal but for the Date and latency values.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import h11
import pytest

from purekong.pdk import ConnectionInfo, TLSInfo
from purekong.server._http import HTTPRequest, Reply, Sent, _send_reply
from purekong.server._proxy import UpstreamPool
from purekong.server._config import load_config, load_declarative
from purekong.server._request import Client, RequestHandler
from purekong.server._settings import Listener, ServeOptions

APP = '''
import asyncio

BODY = b'{"hello":"world"}'


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await receive()
    late, length = scope["query_string"] == b"late", len(BODY)
    if scope["path"].endswith("/wrong-length"):
        length += 3
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % length)]})
    await send({"type": "http.response.body", "body": BODY[:5], "more_body": True})
    if late:
        await asyncio.sleep(0)  # still running when the head reaches the exchange: streamed
    await send({"type": "http.response.body", "body": BODY[5:]})
'''

CONFIG = '''_format_version: "3.0"
services:
- name: app
  asgi: whole_app:app
  routes:
  - name: now
    paths: [/now]
'''


@pytest.fixture
def handler(tmp_path: Path, monkeypatch):
    (tmp_path / "whole_app.py").write_text(APP)
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "kong.yml").write_text(CONFIG)
    decl = load_declarative(tmp_path / "kong.yml")
    config = load_config(decl, ServeOptions(declarative=tmp_path / "kong.yml"), default_cert=None)
    return RequestHandler(config, UpstreamPool(), None)


def exchange_bytes(handler: RequestHandler, method: str, target: str, http_version: str = "1.1") -> tuple[Reply, bytes, Sent]:
    """The reply to one request and, for HTTP/1.1, the bytes the HTTP layer sends for it."""
    client = Client(Listener("127.0.0.1", 8000, False),
                    ConnectionInfo(tls=TLSInfo(), client_ip="198.51.100.9", client_port=40000, server_port=8000))
    req = HTTPRequest(method, target, [("Host", "gw.example")], b"", http_version, head_size=40)
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(f"{method} {target} HTTP/1.1\r\nHost: gw.example\r\n\r\n".encode())
    assert isinstance(conn.next_event(), h11.Request)
    out = bytearray()

    async def send_bytes(data: bytes) -> None:
        out.extend(data)

    async def cycle() -> tuple[Reply, Sent]:
        exchange = handler.exchange(client, req)
        reply = await exchange.respond()
        body = reply.body
        sent = Sent()
        await _send_reply(conn, send_bytes, reply, req, sent)
        assert exchange.finish(sent) is None  # the plain path: nothing left to wait on
        reply.body = body
        return reply, sent

    reply, sent = asyncio.run(cycle())
    return reply, bytes(out), sent


def masked(data: bytes) -> bytes:
    data = re.sub(rb"(?im)^(date: )[^\r]*", rb"\1D", data)
    return re.sub(rb"(?im)^(x-kong-[a-z]+-latency: )\d+", rb"\1N", data)


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_a_whole_body_goes_out_as_bytes_with_the_streamed_bytes(handler, method):
    now, now_bytes, now_sent = exchange_bytes(handler, method, "/now/x")
    late, late_bytes, late_sent = exchange_bytes(handler, method, "/now/x?late")
    assert isinstance(now.body, bytes) and now.body == b'{"hello":"world"}'
    assert not isinstance(late.body, (bytes, bytearray))  # the general (streamed) path did run
    assert masked(now_bytes) == masked(late_bytes)
    assert b"content-length: 17\r\n" in now_bytes.lower()
    assert now_bytes.endswith(b"\r\n\r\n" if method == "HEAD" else b'{"hello":"world"}')
    assert (now_sent.body_bytes, now_sent.complete) == (late_sent.body_bytes, late_sent.complete) == (0 if method == "HEAD" else 17, True)


def test_a_body_its_content_length_does_not_frame_streams(handler):
    # h11 refuses the short body at the end of the message: the same as before, streamed.
    reply, data, sent = exchange_bytes(handler, "GET", "/now/wrong-length")
    assert not isinstance(reply.body, (bytes, bytearray))
    assert not sent.complete


def test_http2_requests_keep_the_stream(handler):
    # HTTP/2 ends a streamed body with its own frame: the bytes would differ there.
    client = Client(Listener("127.0.0.1", 8000, False),
                    ConnectionInfo(tls=TLSInfo(), client_ip="198.51.100.9", client_port=40000, server_port=8000))

    async def cycle():
        exchange = handler.exchange(client, HTTPRequest("GET", "/now/x", [("Host", "gw.example")], b"", "2.0"))
        reply = await exchange.respond()
        return reply, b"".join([c async for c in reply.body])

    reply, body = asyncio.run(cycle())
    assert not isinstance(reply.body, (bytes, bytearray)) and body == b'{"hello":"world"}'
