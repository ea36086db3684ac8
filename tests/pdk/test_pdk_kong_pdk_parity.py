"""Differential test against the real ``kong_pdk.pdk.Kong`` proxy, when installed.

kong_pdk's ``Kong(channel, lua_style)`` is driven with a synchronous channel
that answers each call from purekong's PDK functions; purekong's own ``kong``
object must give the same results (the spec's suggested in-process setup,
kong-python-pdk.md §6.4).  Skipped when kong_pdk is not installed.
"""

import importlib.util

import pytest

from purekong.pdk import FUNCTIONS, ConnectionInfo, KongContext, Phase, Request, TLSInfo, make_kong


def _real_kong_pdk():
    if importlib.util.find_spec("kong_pdk") is None:
        return None
    import kong_pdk.pdk

    if getattr(kong_pdk.pdk, "__purekong_shim__", False):
        return None
    return kong_pdk.pdk


REAL = _real_kong_pdk()
pytestmark = pytest.mark.skipif(REAL is None, reason="kong_pdk is not installed")


class Channel:
    """kong_pdk's channel, answered in-process by purekong's PDK functions."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.pending = None

    def put(self, msg):
        self.pending = msg
        if msg["Method"] in ("kong.response.exit", "kong.response.error"):
            FUNCTIONS[msg["Method"]](self.ctx, *msg["Args"])

    def get(self):
        msg, self.pending = self.pending, None
        return FUNCTIONS[msg["Method"]](self.ctx, *msg["Args"])


def _ctx():
    return KongContext(
        phase=Phase.access,
        conn=ConnectionInfo(tls=TLSInfo("TLSv1.3", "TLS_AES_128_GCM_SHA256")),
        request=Request(target="/p?a=1&f", headers=[("Host", "h.test"), ("X-A", "1"), ("x-a", "2")]),
    )


CALLS = [
    ("request", "get_header", ("x-a",)),
    ("request", "get_headers", ()),
    ("request", "get_query", ()),
    ("request", "get_query_arg", ("f",)),
    ("client.tls", "get_full_client_certificate_chain", ()),
    ("client.tls", "set_client_verify", ("SUCCESS",)),
    ("service.request", "set_header", ("x-b", 2.5)),
    ("log", "info", ("a", 1.5, None, (1,))),
    ("response", "exit", (403, {"message": "x"})),
]


def _resolve(root, path, name):
    node = root
    for part in path.split("."):
        node = getattr(node, part)
    return getattr(node, name)


@pytest.mark.parametrize("lua_style", [True, False])
@pytest.mark.parametrize("path, name, args", CALLS, ids=[f"{p}.{n}" for p, n, _ in CALLS])
def test_same_results_as_kong_pdk(lua_style, path, name, args):
    theirs_ctx, ours_ctx = _ctx(), _ctx()
    theirs = _resolve(REAL.Kong(Channel(theirs_ctx), lua_style).kong, path, name)(*args)
    ours = _resolve(make_kong(ours_ctx, lua_style=lua_style), path, name)(*args)
    assert ours == theirs
    assert ours_ctx.upstream.headers == theirs_ctx.upstream.headers
    assert ours_ctx.client_verify_override == theirs_ctx.client_verify_override
    assert ours_ctx.response == theirs_ctx.response


def test_python_style_error_text_matches():
    plain = KongContext(phase=Phase.access)
    with pytest.raises(REAL.PDKException) as theirs:
        REAL.Kong(Channel(plain), False).kong.client.tls.get_full_client_certificate_chain()
    with pytest.raises(REAL.PDKException) as ours:
        make_kong(KongContext(phase=Phase.access), lua_style=False).client.tls.get_full_client_certificate_chain()
    assert str(ours.value) == str(theirs.value)
