"""The ``kong`` object: call styles, data shapes, request/response/service edits."""

import pytest

from purekong.pdk import (
    ConnectionInfo,
    KongContext,
    LuaError,
    PDKException,
    Phase,
    Request,
    Response,
    TLSInfo,
    make_kong,
)


def ctx_for(phase=Phase.access, **request):
    req = Request(
        method=request.pop("method", "GET"),
        target=request.pop("target", "/a/./b//c/../d?x=1&x=2&flag&e=&sp=a+b%21"),
        headers=request.pop("headers", [("Host", "Example.TEST:8000"), ("X-Forwarded-Thing", "v1"), ("x-forwarded-thing", "v2")]),
        body=request.pop("body", b"\x00binary"),
        route={"id": "r1", "name": "route-1"},
        service={"id": "s1", "name": "service-1"},
    )
    return KongContext(phase=phase, conn=ConnectionInfo(client_ip="192.0.2.1", client_port=51000, server_port=8000), request=req)


def test_lua_style_every_call_is_a_pair():
    kong = make_kong(ctx_for())
    assert kong.request.get_method() == ("GET", None)
    assert kong.service.request.set_header("x-a", "1") == (None, None)  # even "-> None" methods
    assert kong.ctx.shared.set("k", "v") == (None, None)


def test_python_style_returns_data():
    kong = make_kong(ctx_for(), lua_style=False)
    assert kong.request.get_method() == "GET"
    assert kong.service.request.set_header("x-a", "1") is None


def test_python_style_raises_on_err_with_kong_pdk_text():
    ctx = KongContext(phase=Phase.access)  # plain HTTP
    with pytest.raises(PDKException) as e:
        make_kong(ctx, lua_style=False).client.tls.get_full_client_certificate_chain()
    assert type(e.value) is PDKException
    assert str(e.value) == (
        "exception from kong.client.tls.get_full_client_certificate_chain: "
        "connection is not TLS or TLS support for Nginx not enabled"
    )


def test_unknown_names_answer_as_kongs_bridge(caplog):
    """Kong's plugin-server bridge logs the name and answers nil, nil."""
    ctx = ctx_for()
    ctx.plugin_name = "typo"
    with caplog.at_level("ERROR", logger="purekong.kong"):
        assert make_kong(ctx).request.get_heder("host") == (None, None)
        assert make_kong(ctx, lua_style=False).log.error("x") is None
    assert [r.getMessage() for r in caplog.records] == [
        "[typo] could not find pdk method: kong.request.get_heder",
        "[typo] could not find pdk method: kong.log.error",
    ]
    with pytest.raises(TypeError):
        make_kong(ctx).request()


def test_request_data_shapes():
    kong = make_kong(ctx_for(), lua_style=False)
    assert kong.request.get_headers() == {"host": ["Example.TEST:8000"], "x-forwarded-thing": ["v1", "v2"]}
    assert kong.request.get_header("X_FORWARDED_THING") == "v1"
    assert kong.request.get_header("missing") is None
    assert kong.request.get_query() == {"x": ["1", "2"], "flag": [], "e": [""], "sp": ["a b!"]}
    assert kong.request.get_query_arg("x") == "1"
    assert kong.request.get_query_arg("flag") is True
    assert kong.request.get_query_arg("nope") is None
    assert kong.request.get_raw_query() == "x=1&x=2&flag&e=&sp=a+b%21"
    assert kong.request.get_raw_path() == "/a/./b//c/../d"
    assert kong.request.get_path() == "/a/b/d"
    raw = kong.request.get_raw_body()
    assert raw == b"\x00binary" and isinstance(raw, bytes)
    assert kong.request.get_host() == "example.test"
    assert kong.request.get_port() == 8000
    assert kong.request.get_scheme() == "http"
    assert kong.request.get_http_version() == 1.1
    assert kong.client.get_ip() == "192.0.2.1"
    assert kong.client.get_port() == 51000


def test_max_headers_limits():
    kong = make_kong(ctx_for(), lua_style=False)
    assert list(kong.request.get_headers(1)) == ["host"]
    with pytest.raises(LuaError, match="^max_headers must be >= 1$"):
        kong.request.get_headers(0)


def test_scheme_https():
    ctx = ctx_for()
    ctx.conn = ConnectionInfo(tls=TLSInfo("TLSv1.3", "TLS_AES_128_GCM_SHA256"))
    assert make_kong(ctx).request.get_scheme() == ("https", None)


def test_header_name_type_error_raises_in_both_styles():
    for lua_style in (True, False):
        with pytest.raises(LuaError, match="^header name must be a string$"):
            make_kong(ctx_for(), lua_style=lua_style).request.get_header(5)


def test_raw_body_not_after_content():
    with pytest.raises(LuaError, match=r"\(only in: rewrite, access, response, error, admin_api\)$"):
        make_kong(ctx_for(Phase.log)).request.get_raw_body()


def test_service_request_edits():
    ctx = ctx_for()
    svc = make_kong(ctx, lua_style=False).service.request
    svc.set_header("X-Forwarded-Thing", "only")
    svc.add_header("X-Added", ["a", "b"])
    svc.set_header("X-Num", 5)
    svc.clear_header("host")
    svc.set_path("/new")
    svc.set_raw_query("q=1")
    svc.set_method("post")
    svc.set_raw_body("body")
    up = ctx.upstream_request()
    assert up.headers == [("X-Forwarded-Thing", "only"), ("X-Added", "a"), ("X-Added", "b"), ("X-Num", "5")]
    assert (up.method, up.target, up.body) == ("POST", "/new?q=1", b"body")
    with pytest.raises(LuaError, match="^path must start with /$"):
        svc.set_path("relative")


def test_service_request_not_in_header_filter():
    with pytest.raises(LuaError, match="only in: rewrite, access, balancer"):
        make_kong(ctx_for(Phase.header_filter)).service.request.set_header("a", "b")


def test_ctx_shared_round_trip_and_router():
    ctx = ctx_for()
    kong = make_kong(ctx, lua_style=False)
    kong.ctx.shared.set("user", {"id": 1})
    assert kong.ctx.shared.get("user") == {"id": 1}
    assert kong.ctx.shared.get("absent") is None
    assert kong.router.get_route() == {"id": "r1", "name": "route-1"}
    assert kong.router.get_service()["name"] == "service-1"


def test_authenticate_and_consumer():
    ctx = ctx_for()
    kong = make_kong(ctx, lua_style=False)
    assert kong.client.get_consumer() is None
    kong.client.authenticate({"id": "c1", "username": "alice"}, {"id": "cred1", "consumer_id": "c1"})
    assert kong.client.get_consumer() == {"id": "c1", "username": "alice"}
    with pytest.raises(LuaError, match="^either credential or consumer must be provided$"):
        kong.client.authenticate(None, None)
    ctx.phase = Phase.log
    data = ctx.serialize()
    assert data["consumer"]["username"] == "alice"
    assert data["authenticated_entity"] == {"id": "cred1", "consumer_id": "c1"}
    with pytest.raises(LuaError, match=r"^function cannot be called in log phase \(only in: access\)$"):
        kong.client.authenticate({"id": "c2"})


def test_exit_is_fire_and_forget_in_both_styles():
    for lua_style in (True, False):
        ctx = ctx_for()
        kong = make_kong(ctx, lua_style=lua_style)
        kong.response.set_header("X-Early", "1")
        assert kong.response.exit(403, {"message": "no / way"}, {"X-Why": ["a", "b"]}) is None
        assert ctx.response.status == 403
        assert ctx.response.body == b'{"message":"no \\/ way"}'  # lua-cjson escapes "/"
        assert ctx.response.headers == [
            ("X-Early", "1"), ("X-Why", "a"), ("X-Why", "b"),
            ("Content-Type", "application/json; charset=utf-8"),
        ]
        assert ctx.source == "exit"


def test_exit_body_forms():
    for body, raw in ((b"\xffbytes", b"\xffbytes"), ("text", b"text"), (None, b"")):
        ctx = ctx_for()
        make_kong(ctx).response.exit(200, body)
        assert ctx.response.body == raw
        assert ctx.response.headers == []


@pytest.mark.parametrize(
    "args, message",
    [
        (("200",), "code must be a number"),
        ((99,), "code must be a number between 100 and 599"),
        ((200, 5), "body must be a nil, string or table"),
        ((200, "x", "h"), "headers must be a nil or table"),
    ],
)
def test_exit_argument_errors_raise(args, message):
    with pytest.raises(LuaError) as e:
        make_kong(ctx_for()).response.exit(*args)
    assert str(e.value) == message


def test_exit_not_in_log():
    with pytest.raises(LuaError, match="only in: rewrite, access, response, header_filter, error, admin_api"):
        make_kong(ctx_for(Phase.log)).response.exit(200)


def test_error_default_bodies():
    ctx = ctx_for()
    make_kong(ctx).response.error(404)
    assert (ctx.response.status, ctx.response.body) == (404, b'{"message":"Not found"}')
    assert ctx.source == "error"
    ctx = ctx_for()
    make_kong(ctx).response.error(401, "Invalid token")
    assert ctx.response.body == b'{"message":"Invalid token"}'
    with pytest.raises(LuaError, match="^code must be a number between 400 and 599$"):
        make_kong(ctx_for()).response.error(302)


def test_pdk_call_after_exit_unwinds():
    from purekong.pdk._errors import ExitUnwind

    ctx = ctx_for()
    kong = make_kong(ctx)
    kong.response.exit(204)
    with pytest.raises(ExitUnwind):
        kong.request.get_method()
    assert not issubclass(ExitUnwind, Exception)  # a plugin's `except Exception` won't eat it


def test_response_edits_before_and_after_a_response_exists():
    ctx = ctx_for()
    kong = make_kong(ctx, lua_style=False)
    kong.response.set_header("X-Set", "1")
    kong.response.add_header("X-Add", "a")
    kong.response.clear_header("Server")
    kong.response.set_status(202)
    ctx.phase = Phase.header_filter
    ctx.begin_response(Response(200, [("Server", "upstream"), ("X-Set", "old")], b"body"))
    assert kong.response.get_status() == 202
    assert kong.response.get_headers() == {"x-set": ["1"], "x-add": ["a"]}
    kong.response.add_header("X-Add", "b")
    assert kong.response.get_header("x-add") == "a"
    assert kong.response.get_headers()["x-add"] == ["a", "b"]
    with pytest.raises(LuaError, match="invalid header value"):
        kong.response.set_header("X-Bad", {"a": 1})


def test_body_filter_raw_body():
    ctx = ctx_for(Phase.body_filter)
    ctx.begin_response(Response(200, [], b"upstream"))
    kong = make_kong(ctx, lua_style=False)
    assert kong.response.get_raw_body() == b"upstream"
    kong.response.set_raw_body("changed")
    assert ctx.response.body == b"changed"


def test_nginx_vars():
    ctx = ctx_for()
    ctx.conn = ConnectionInfo(tls=TLSInfo("TLSv1.2", "ECDHE-RSA-AES256-GCM-SHA384", "FAILED:x", None, "sni.test"))
    kong = make_kong(ctx, lua_style=False)
    assert kong.nginx.get_var("ssl_client_verify") == "FAILED:x"
    assert kong.nginx.get_var("ssl_cipher") == "ECDHE-RSA-AES256-GCM-SHA384"
    assert kong.nginx.get_var("ssl_server_name") == "sni.test"
    assert kong.nginx.get_var("no_such_var") is None
    assert kong.nginx.get_tls1_version_str() == "TLSv1.2"


@pytest.mark.parametrize(
    "content_type, body, lua",
    [
        ("application/json; charset=utf-8", b'{"a": [1, 2]}', ({"a": [1, 2]}, None)),
        ("application/json", b"{nope", (None, "invalid json body")),
        ("application/x-www-form-urlencoded", b"a=1&b=x&b=y&f", ({"a": "1", "b": ["x", "y"], "f": True}, None)),
        ("text/plain", b"x", (None, "unsupported content type 'text/plain'")),
        (None, b"x", (None, "missing content type")),
    ],
)
def test_get_body(content_type, body, lua):
    headers = [("Content-Type", content_type)] if content_type else []
    ctx = ctx_for(headers=headers, body=body)
    assert make_kong(ctx).request.get_body() == lua


def test_small_namespaces():
    kong = make_kong(ctx_for(), lua_style=False)
    assert kong.request.get_uri_captures() == {"unnamed": [], "named": {}}
    assert kong.ip.is_trusted("10.0.0.1") is False
    assert kong.node.get_id() == kong.node.get_id() and len(kong.node.get_id()) == 36
    assert kong.service.request.enable_buffering() is None
