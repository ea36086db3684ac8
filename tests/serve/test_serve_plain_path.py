"""The plain path (a route without plugins builds no Kong context) against the general one.

The same requests go, in process, through ``Exchange`` to the same ASGI app
on two routes: ``bare`` (no plugin: the plain path) and ``noop`` (a plugin
whose phases do nothing: the general path, with the Kong context, the
phases and Kong's headers added by the runner). What the client gets (status,
headers, body), what the app sees (its scope's headers) and what is recorded
(the access line, the metrics) must be the same, but for the route's name
and the latency figures, which are timings.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
from pathlib import Path

import pytest

from purekong.pdk import ConnectionInfo, TLSInfo
from purekong.runner import NativePlugin, _runner, plugin_from_class
from purekong.server._access_log import RequestLog
from purekong.server._config import load_config, load_declarative
from purekong.server._http import HTTPRequest, Sent
from purekong.server._metrics import Metrics
from purekong.server._plugin_threads import PluginThreads
from purekong.server._proxy import UpstreamPool
from purekong.server._request import VIA, Client, RequestHandler
from purekong.server._settings import Listener, ServeOptions

APP = '''
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["path"].endswith("/fail"):
        raise RuntimeError("the app fails on purpose")
    seen = {"path": scope["path"], "query": scope["query_string"].decode(), "body": body.decode(),
            "headers": [[k.decode(), v.decode()] for k, v in scope["headers"]]}
    out = json.dumps(seen).encode()
    await send({"type": "http.response.start", "status": 201 if body else 200,
                "headers": [(b"content-type", b"application/json"), (b"via", b"1.1 app"), (b"x-app", b"yes")]})
    await send({"type": "http.response.body", "body": out[:10], "more_body": True})
    await send({"type": "http.response.body", "body": out[10:]})

import json
'''

CONFIG = '''_format_version: "3.0"
services:
- name: app
  asgi: plain_app:app
  routes:
  - name: bare
    paths: [/bare]
  - name: noop
    paths: [/noop]
    plugins:
    - name: noop
  - name: mixed
    paths: [/mixed]
    plugins:
    - name: access-only
    - name: native-log
'''

THREADS: dict[str, str] = {}  # plugin phase -> the thread it ran on


class AccessOnly:
    """A Kong Python plugin with an access phase only."""

    def __init__(self, config):
        self.config = config

    def access(self, kong):
        THREADS["access"] = threading.current_thread().name


class NativeLog(NativePlugin):
    name = "native-log"

    def log(self, kong):
        THREADS["log"] = threading.current_thread().name


class NoOp:
    """A Kong Python plugin whose request phases do nothing (access only: the response still streams)."""

    def __init__(self, config):
        self.config = config

    def access(self, kong):
        pass

    def log(self, kong):
        pass


REQUESTS = [
    ("GET", "/x?a=1&b=two", [("Host", "gw.example:8000"), ("User-Agent", "test/1"), ("Accept", "*/*")], b""),
    ("POST", "/up", [("Host", "gw.example"), ("Referer", "http://r/\"q\""), ("Content-Length", "5"),
                     ("X-Forwarded-For", "192.0.2.7"), ("host", "second.example")], b"hello"),
    ("GET", "/fail", [("Host", "gw.example")], b""),  # the app fails: Kong's 502 page
    ("GET", "/", [], b""),  # no Host at all
]


@pytest.fixture
def handler(tmp_path: Path):
    return _handler_in(tmp_path)


def _handler_in(tmp_path: Path) -> RequestHandler:
    """A request handler for CONFIG (its app written in ``tmp_path``), metrics on, no access log file."""
    (tmp_path / "plain_app.py").write_text(APP)
    (tmp_path / "kong.yml").write_text(CONFIG)
    decl = load_declarative(tmp_path / "kong.yml")
    config = load_config(decl, ServeOptions(declarative=tmp_path / "kong.yml"), default_cert=None,
                         extra_plugins={"noop": plugin_from_class(NoOp, name="noop"),
                                        "access-only": plugin_from_class(AccessOnly, name="access-only"),
                                        "native-log": plugin_from_class(NativeLog)})
    metrics = Metrics()
    return RequestHandler(config, UpstreamPool(), RequestLog(None, metrics=metrics))


def run_one(handler: RequestHandler, method: str, target: str, headers, body: bytes):
    client = Client(Listener("127.0.0.1", 8000, False),
                    ConnectionInfo(tls=TLSInfo(), client_ip="198.51.100.9", client_port=40000, server_port=8000))
    req = HTTPRequest(method, target, list(headers), body, "1.1", head_size=120)

    async def cycle():
        exchange = handler.exchange(client, req)
        reply = await exchange.respond()
        if isinstance(reply.body, bytes):
            data = reply.body
        else:
            data = b"".join([chunk async for chunk in reply.body])
        pending = exchange.finish(Sent(len(data), True))  # None: done (no phase to run)
        if pending is not None:
            await pending
        return exchange, reply, data

    return asyncio.run(cycle())


def masked(headers):
    """Kong's latency headers carry timings: their names and order count, not their values."""
    return [(k, "N" if k.startswith("X-Kong-") and k.endswith("-Latency") else v) for k, v in headers]


def masked_line(line: str) -> str:
    line = re.sub(r"\[[^]]+\]", "[T]", line)  # the request's start time
    return re.sub(r" [\d.]+$", " D", line)  # its duration


@pytest.mark.parametrize("method, path, headers, body", REQUESTS)
def test_plain_and_general_paths_answer_and_record_the_same(handler, caplog, monkeypatch, method, path, headers, body):
    contexts = []
    real = _runner.KongContext
    monkeypatch.setattr(_runner, "KongContext", lambda **kw: contexts.append(kw) or real(**kw))
    caplog.set_level(logging.INFO, logger="purekong.access")
    bare, bare_reply, bare_body = run_one(handler, method, "/bare" + path, headers, body)
    bare_line = caplog.records[-1].getMessage()
    built_for_bare = len(contexts)
    noop, noop_reply, noop_body = run_one(handler, method, "/noop" + path, headers, body)
    noop_line = caplog.records[-1].getMessage()

    failed = path == "/fail"
    assert bare.plain and noop.plain is False
    # The plain path built no Kong context, but for an error page (whose phases need one).
    assert built_for_bare == (1 if failed else 0) and len(contexts) == built_for_bare + 1
    assert (bare.outcome is not None) == failed

    assert bare_reply.status == noop_reply.status == (502 if failed else 201 if body else 200)
    assert masked(bare_reply.headers) == masked(noop_reply.headers)
    names = [k for k, _ in bare_reply.headers]
    if failed:
        assert "X-Kong-Upstream-Latency" in names and bare_body == noop_body
    else:
        assert names == ["content-type", "x-app", "X-Kong-Upstream-Latency", "X-Kong-Proxy-Latency", "Via", "Server"]
        assert dict(bare_reply.headers)["Via"] == f"1.1 app, {VIA}"  # the app's, then Kong's
        seen_bare, seen_noop = json.loads(bare_body), json.loads(noop_body)
        for seen, prefix in ((seen_bare, "/bare"), (seen_noop, "/noop")):
            # strip_path: the app sees the rest; Kong says what the route took.
            assert seen["path"] == (path.split("?")[0] or "/")
            assert [v for k, v in seen["headers"] if k == "x-forwarded-path"] == [prefix + path.split("?")[0]]
            assert [v for k, v in seen["headers"] if k == "x-forwarded-prefix"] == [prefix]
            seen["headers"] = [[k, v] for k, v in seen["headers"] if k not in ("x-forwarded-path", "x-forwarded-prefix")]
        assert seen_bare == seen_noop

    assert masked_line(bare_line).replace("/bare", "/X") == masked_line(noop_line).replace("/noop", "/X")
    metrics = handler.access_log.metrics
    assert metrics.requests[("bare", str(bare_reply.status))] == metrics.requests[("noop", str(noop_reply.status))] == 1
    assert metrics.latency["bare"].count == metrics.latency["noop"].count == 1


def test_a_serializing_access_log_keeps_the_general_path(tmp_path, handler):
    """kong.log.serialize() reads the Kong context: with a JSON access log file
    every route builds it, and its line says what the request was."""
    log = tmp_path / "access.json"
    handler = RequestHandler(handler.config, handler.pool, RequestLog(log, "json", Metrics()))
    exchange, reply, _ = run_one(handler, "GET", "/bare/x", [("Host", "gw.example")], b"")
    assert not exchange.plain and exchange.outcome is not None
    entry = json.loads(log.read_text())
    assert entry["route"]["name"] == "bare" and entry["response"]["status"] == reply.status == 200
    handler.access_log.close()


def test_phases_no_kong_plugin_implements_stay_on_the_loop(handler):
    """A Kong Python plugin's phases run on a plugin thread (they may block);
    the phases only native plugins implement (here: log) need no hand-off."""
    threads = PluginThreads(size=1)
    handler = RequestHandler(handler.config, handler.pool, handler.access_log, threads)
    THREADS.clear()
    try:
        exchange, reply, _ = run_one(handler, "GET", "/mixed/x", [("Host", "gw.example")], b"")
    finally:
        threads.close()
    assert reply.status == 200 and exchange.outcome is not None and exchange.outcome.logged
    assert THREADS["access"] != threading.main_thread().name
    assert THREADS["log"] == threading.main_thread().name


@pytest.mark.parametrize("method, path, headers, body", REQUESTS)
def test_the_metrics_are_the_same_whether_or_not_the_access_line_is_written(tmp_path, caplog, method, path, headers, body):
    """With nobody reading the access line (``--log-level warning``) the
    metrics count what they count with it (no record built then)."""
    counted = []
    for level in (logging.INFO, logging.WARNING):
        caplog.set_level(level, logger="purekong.access")
        (tmp_path / str(level)).mkdir()
        one = _handler_in(tmp_path / str(level))
        caplog.clear()
        for prefix in ("/bare", "/noop"):
            run_one(one, method, prefix + path, headers, body)
        lines = [r for r in caplog.records if r.name == "purekong.access"]
        assert len(lines) == (2 if level == logging.INFO else 0)
        metrics = one.access_log.metrics
        counted.append((metrics.requests, {route: h.count for route, h in metrics.latency.items()}))
    assert counted[0] == counted[1] and sum(counted[0][0].values()) == 2
