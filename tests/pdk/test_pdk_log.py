"""``kong.log``: the serializer's ``request.tls`` (spec §5, §6.C 1-3), serialize
values, log lines and kong_pdk's argument sanitising."""

import json
import logging

import pytest

from purekong.pdk import ConnectionInfo, KongContext, LuaError, Phase, Request, Response, TLSInfo, make_kong

TLS13 = TLSInfo(version="TLSv1.3", cipher="TLS_AES_256_GCM_SHA384", client_verify="NONE")


def ctx_for(tls=TLSInfo(), phase=Phase.log, **kw):
    request = Request(
        method="POST",
        target="/log?a=1&flag&b=x&b=y",
        headers=[("Host", "example.test"), ("X-Multi", "1"), ("x-multi", "2")],
        body=b"hello",
    )
    return KongContext(phase=phase, conn=ConnectionInfo(tls=tls, client_ip="10.0.0.7", server_port=8443), request=request, **kw)


def serialized(ctx):
    text = make_kong(ctx, lua_style=False).log.serialize()
    assert isinstance(text, str)  # the Python PDK gets a JSON string
    return json.loads(text)


def test_plain_http_has_no_tls():  # §6.C 1
    data = serialized(ctx_for())
    assert "tls" not in data["request"]


def test_plain_http_ignores_the_override():
    ctx = ctx_for(phase=Phase.access)
    make_kong(ctx).client.tls.set_client_verify("SUCCESS")
    ctx.phase = Phase.log
    assert "tls" not in serialized(ctx)["request"]


def test_https_without_cert_is_none():  # §6.C 2
    tls = serialized(ctx_for(TLS13))["request"]["tls"]
    assert tls == {"version": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384", "client_verify": "NONE"}


def test_override_wins():  # §6.C 3
    ctx = ctx_for(TLS13, phase=Phase.access)
    make_kong(ctx).client.tls.set_client_verify("SUCCESS")
    ctx.phase = Phase.log
    assert serialized(ctx)["request"]["tls"]["client_verify"] == "SUCCESS"


def test_last_call_wins_across_phases():
    ctx = ctx_for(TLSInfo("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256", "FAILED:unable to get issuer certificate"), phase=Phase.rewrite)
    kong = make_kong(ctx)
    kong.client.tls.set_client_verify("FAILED:consumer not found")
    ctx.phase = Phase.access
    kong.client.tls.set_client_verify("SUCCESS")
    ctx.phase = Phase.response
    kong.client.tls.set_client_verify("FAILED:fail to check revocation")
    ctx.phase = Phase.log
    tls = serialized(ctx)["request"]["tls"]
    assert tls["client_verify"] == "FAILED:fail to check revocation"
    assert tls["version"] == "TLSv1.2"


def test_serialize_shape():
    ctx = ctx_for(TLS13)
    ctx.begin_response(Response(201, [("Content-Type", "text/plain")], b"created"))
    data = serialized(ctx)
    req = data["request"]
    assert req["method"] == "POST"
    assert req["uri"] == "/log?a=1&flag&b=x&b=y"
    assert req["url"] == "https://example.test:8443/log?a=1&flag&b=x&b=y"
    # Lua shapes inside the JSON: single value a string, a flag true, repeats a list
    assert req["querystring"] == {"a": "1", "flag": True, "b": ["x", "y"]}
    assert req["headers"] == {"host": "example.test", "x-multi": ["1", "2"]}
    assert req["size"] == 5
    assert data["response"] == {"status": 201, "headers": {"content-type": "text/plain"}, "size": 7}
    assert data["client_ip"] == "10.0.0.7"
    assert "consumer" not in data and "route" not in data


def test_dict_form_for_python_callers():
    ctx = ctx_for(TLS13)
    assert make_kong(ctx, lua_style=False).log.serialize(as_dict=True) == ctx.serialize()
    data, err = make_kong(ctx).log.serialize()
    assert err is None and json.loads(data)["request"]["tls"]["version"] == "TLSv1.3"


@pytest.mark.parametrize("phase", [p for p in Phase if p is not Phase.log], ids=lambda p: p.name)
def test_serialize_only_in_log(phase):
    with pytest.raises(LuaError, match=rf"^function cannot be called in {phase.name} phase \(only in: log\)$"):
        make_kong(ctx_for(phase=phase)).log.serialize()


def test_set_serialize_value_modes_and_tls_override():
    ctx = ctx_for(TLS13, phase=Phase.access)
    log = make_kong(ctx, lua_style=False).log
    log.set_serialize_value("request.tls.client_verify", "FAILED:edited")
    log.set_serialize_value("custom.nested", 1)
    log.set_serialize_value("custom.nested", 2, {"mode": "add"})  # exists: ignored
    log.set_serialize_value("custom.other", 3, {"mode": "replace"})  # absent: ignored
    log.set_serialize_value("client_ip", "redacted", {"mode": "replace"})
    ctx.phase = Phase.log
    data = serialized(ctx)
    assert data["request"]["tls"]["client_verify"] == "FAILED:edited"
    assert data["custom"] == {"nested": 1}
    assert data["client_ip"] == "redacted"


@pytest.mark.parametrize(
    "args, message",
    [
        ((1, "v"), "key must be a string"),
        (("k", "v", {"mode": "merge"}), "mode must be 'set', 'add' or 'replace'"),
        # (a bare object() would be str()-ed by kong_pdk's log sanitising first)
        (("k", {"a": object()}), "value must be a number, string, boolean or a non-self-referencing table containing numbers, string and booleans"),
    ],
)
def test_set_serialize_value_errors(args, message):
    with pytest.raises(LuaError) as e:
        make_kong(ctx_for(phase=Phase.access)).log.set_serialize_value(*args)
    assert str(e.value) == message


def test_self_referencing_table_rejected_shared_subtable_allowed():
    kong = make_kong(ctx_for(phase=Phase.access))
    loop = {}
    loop["self"] = loop
    with pytest.raises(LuaError):
        kong.log.set_serialize_value("k", loop)
    shared = {"x": 1}
    assert kong.log.set_serialize_value("k", {"a": shared, "b": shared}) == (None, None)


def test_log_levels_concatenate_and_sanitise(caplog):
    ctx = ctx_for(phase=Phase.access)
    ctx.plugin_name = "my-plugin"
    kong = make_kong(ctx)
    with caplog.at_level(logging.DEBUG, logger="purekong.kong"):
        assert kong.log.err("a", 1, None, 2.5, (1, 2), b"x") == (None, None)
        kong.log.debug("dbg")
        kong.log("notice via kong.log")
        kong.log.warn("careful")
    records = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert records == [
        (logging.ERROR, "[my-plugin] a1None2.5(1, 2)b'x'"),
        (logging.DEBUG, "[my-plugin] dbg"),
        (logging.INFO, "[my-plugin] notice via kong.log"),
        (logging.WARNING, "[my-plugin] careful"),
    ]


def test_log_lines_work_in_any_phase():
    for phase in Phase:
        assert make_kong(ctx_for(phase=phase)).log.info("x") == (None, None)


def test_log_sanitising_applies_to_set_serialize_value_too():
    # kong_pdk str()s every kong.log.* argument that is not str/int/list/dict.
    ctx = ctx_for(phase=Phase.access)
    make_kong(ctx).log.set_serialize_value("ratio", 1.5)
    ctx.phase = Phase.log
    assert serialized(ctx)["ratio"] == "1.5"


def test_override_written_to_ngx_ctx_directly():
    # mtls-auth writes ngx.ctx.CLIENT_VERIFY_OVERRIDE itself, not via set_client_verify.
    ctx = ctx_for(TLS13, phase=Phase.access)
    kong = make_kong(ctx, lua_style=False)
    kong.nginx.set_ctx("CLIENT_VERIFY_OVERRIDE", "FAILED:certificate revoked")
    assert kong.nginx.get_ctx("CLIENT_VERIFY_OVERRIDE") == "FAILED:certificate revoked"
    ctx.phase = Phase.log
    assert serialized(ctx)["request"]["tls"]["client_verify"] == "FAILED:certificate revoked"
