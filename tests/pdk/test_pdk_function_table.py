"""purekong's PDK table against the installed kong-pdk package's, and the
functions that table brought in.

kong-pdk ships one generated stub class per Kong PDK module
(``kong_pdk/pdk/kong/**.py``); every static method there is a function a
plugin can call.  Coverage is measured from that package, not claimed.
"""

import ast
import logging
import os
import warnings
from pathlib import Path

import pytest

from purekong.pdk import FUNCTIONS, KongContext, LuaError, Phase, Request, Response, SharedDict, make_kong

kong_pdk = pytest.importorskip("kong_pdk", reason="kong-pdk is in the test extra")


def kong_pdk_functions() -> set[str]:
    root = Path(kong_pdk.__file__).parent / "pdk" / "kong"
    names = set()
    for path in root.rglob("*.py"):
        parts = ["kong", *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        with warnings.catch_warnings():  # the generated docstrings have "\_" escapes
            warnings.simplefilter("ignore", DeprecationWarning)
            tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.ClassDef):
                names.update(".".join([*parts, f.name]) for f in node.body if isinstance(f, ast.FunctionDef))
    return names


def test_every_kong_pdk_function_exists_in_purekong():
    theirs = kong_pdk_functions()
    assert len(theirs) > 100  # the stubs were found at all
    assert sorted(theirs - set(FUNCTIONS)) == []


def kong(phase=Phase.access, **kw):
    ctx = KongContext(phase=phase, request=kw.pop("request", Request(headers=[("Host", "x")])), **kw)
    return ctx, make_kong(ctx)


def test_service_target_and_timeouts_land_on_the_upstream_request():
    ctx, k = kong()
    assert k.service.set_target("10.0.0.7", 8080) == (None, None)
    assert k.service.set_timeouts(1000, 2000, 3000) == (None, None)
    assert k.service.set_retries(3) == (None, None)
    assert k.service.set_tls_verify(True) == (True, None)
    assert k.service.set_tls_verify_depth(2) == (True, None)
    up = ctx.upstream
    assert (up.target_host, up.target_port) == ("10.0.0.7", 8080)
    assert (up.connect_timeout, up.write_timeout, up.read_timeout, up.retries) == (1000, 2000, 3000, 3)
    assert (up.tls_verify, up.tls_verify_depth) == (True, 2)
    assert k.service.set_upstream("backend") == (None, "could not find an Upstream named 'backend'")
    with pytest.raises(LuaError, match="port must be an integer between 0 and 65535: given 70000"):
        k.service.set_target("h", 70000)
    with pytest.raises(LuaError, match="read_timeout must be an integer between 1 and 2147483646: given 0"):
        k.service.set_timeouts(1, 1, 0)


@pytest.mark.parametrize("mime, args, body", [
    ("application/json", {"name": "John Doe", "age": 42}, b'{"name":"John Doe","age":42}'),
    ("application/x-www-form-urlencoded",
     {"foo": "hello world", "bar": ["baz", "bla", True], "zzz": True, "blo": ""},
     b"bar=baz&bar=bla&bar&blo=&foo=hello%20world&zzz"),  # Kong's own documented example
    ("multipart/form-data; boundary=XyZ", {"b": "2", "a": "1"},
     b'--XyZ\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n'
     b'--XyZ\r\nContent-Disposition: form-data; name="b"\r\n\r\n2\r\n--XyZ--\r\n'),
])
def test_service_request_set_body_encodes_like_kong(mime, args, body):
    ctx, k = kong()
    assert k.service.request.set_body(args, mime) == (True, None)
    assert ctx.upstream.body == body
    assert ("Content-Type", mime) in ctx.upstream.headers


def test_set_body_without_a_content_type_and_with_an_unknown_one():
    _, k = kong()
    assert k.service.request.set_body({"a": 1}) == (
        None, "content type was neither explicitly given as an argument or received as a header")
    with pytest.raises(LuaError, match="unsupported content type text/plain"):
        k.service.request.set_body({"a": 1}, "text/plain")


def test_service_response_get_body_decodes_the_upstream_answer():
    ctx, k = kong(Phase.header_filter)
    ctx.upstream_response = Response(200, [("Content-Type", "application/json")], b'{"ok": true}')
    assert k.service.response.get_body() == ({"ok": True}, None)


def test_forwarded_path_and_prefix():
    _, k = kong(request=Request(target="/api/x?q=1", forwarded_prefix="/api"))
    assert k.request.get_forwarded_path() == ("/api/x", None)
    assert k.request.get_forwarded_prefix() == ("/api", None)


def test_load_consumer_by_id_then_username():
    alice = {"id": "6f1b9c5e-0b8e-4a8e-9d4e-0c7d6b2a1f00", "username": "alice"}
    table = {("id", alice["id"]): alice, ("username", "alice"): alice}
    ctx, k = kong()
    ctx.find_consumer = lambda field, value: table.get((field, value))
    assert k.client.load_consumer(alice["id"]) == (alice, None)
    assert k.client.load_consumer("alice", True) == (alice, None)
    assert k.client.load_consumer("bob", True) == (None, None)
    with pytest.raises(LuaError, match="cannot load a consumer with an id that is not a uuid"):
        k.client.load_consumer("alice")


def test_vault_env_references(monkeypatch):
    monkeypatch.setenv("SSL_CERT", '{"key": "s3cret"}')
    monkeypatch.setenv("MY_TOKEN", "t0ken")
    _, k = kong()
    assert k.vault.is_reference("{vault://env/my-token}") == (True, None)
    assert k.vault.is_reference("vault://env/my-token") == (False, None)
    assert k.vault.get("{vault://env/my-token}") == ("t0ken", None)
    assert k.vault.get("{vault://env/cert/key?prefix=ssl_}") == ("s3cret", None)
    assert k.vault.parse_reference("{vault://env/cert/key?prefix=SSL_#1}") == (
        {"name": "env", "resource": "cert", "key": "key", "config": {"prefix": "SSL_"}, "version": 1}, None)
    assert k.vault.update({"a": "{vault://env/my-token}", "b": ["x"]}) == ({"a": "t0ken", "b": ["x"]}, None)
    value, err = k.vault.get("{vault://env/absent}")
    assert value is None and "no value found" in err


def test_unavailable_modules_answer_not_available_and_log_once(caplog):
    _, k = kong()
    with caplog.at_level(logging.WARNING, logger="purekong.kong"):
        assert k.enterprise_edition.jwe.encrypt("RSA-OAEP", "A256GCM", "k", "p") == (None, "not available")
        assert k.enterprise_edition.jwe.encrypt("RSA-OAEP", "A256GCM", "k", "p") == (None, "not available")
    assert len([r for r in caplog.records if "jwe.encrypt" in r.getMessage()]) <= 1


def test_plugin_id_memory_and_statistics_shapes():
    ctx, k = kong()
    ctx.plugin_id = "123e4567-e89b-12d3-a456-426614174000"
    assert k.plugin.get_id() == (ctx.plugin_id, None)
    stats, _ = k.node.get_memory_stats()
    assert set(stats) == {"lua_shared_dicts", "workers_lua_vms"}
    assert stats["workers_lua_vms"][0]["pid"] == os.getpid()
    assert k.node.get_memory_stats("k", 1)[0]["lua_shared_dicts"]["kong"]["capacity"].endswith(" KiB")
    assert set(k.nginx.get_statistics()[0]) == {
        "connections_active", "connections_reading", "connections_writing", "connections_waiting",
        "connections_accepted", "connections_handled", "total_requests"}
    assert k.nginx.req_start_time() == (ctx.started_at, None)


class Clock:
    now = 100.0

    def __call__(self):
        return self.now


def test_shared_dict_has_nginx_semantics():
    clock = Clock()
    d = SharedDict(capacity=1000, clock=clock)
    assert d.set("a", "1", 10) == (True, None, False)
    assert d.add("a", "2") == (False, "exists", False)
    assert d.replace("b", "2") == (False, "not found", False)
    assert d.incr("n", 1) == (None, "not found")
    assert d.incr("n", 1, 10) == (11, None)
    assert d.incr("a", 1) == (None, "not a number")
    assert d.ttl("a") == (10, None)
    clock.now += 11
    assert d.get("a") is None  # expired
    d.delete("n")
    assert d.get_keys() == []
    with pytest.raises(LuaError, match="bad value type"):
        d.set("t", {"table": 1})


def test_shared_dict_is_bounded_and_evicts_least_recently_used():
    d = SharedDict(capacity=1000)
    for i in range(100):
        ok, err, _ = d.set(f"k{i}", "x" * 50)
        assert ok
    assert d.free_space() >= 0
    assert d.get("k99") == "x" * 50 and d.get("k0") is None  # the oldest went first
    assert d.safe_set("big", "y" * 990) == (False, "no memory")
    assert d.set("huge", "z" * 5000) == (False, "no memory", False)


def test_a_plugin_reaches_the_shared_dict_through_kong():
    _, k = kong()
    assert k.nginx.shared.set("pk-test", 5) == (True, None)
    assert k.nginx.shared.incr("pk-test", 2) == (7, None)
    assert k.nginx.shared.get("pk-test") == (7, None)
    k.nginx.shared.delete("pk-test")
    assert k.nginx.shared.get("pk-test") == (None, None)
