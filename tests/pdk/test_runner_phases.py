"""The phase runner: Kong's order, priorities, exit, failures, handshake phases."""

import json
import logging
from pathlib import Path

import pytest

from purekong.pdk import (
    ClientHelloInfo,
    ConnectionInfo,
    HandshakeRequests,
    Request,
    Response,
    TLSInfo,
)
from purekong.runner import NativePlugin, Runner, configure, load_plugin_file, plugin_from_class

PLUGINS = Path(__file__).parent / "plugins"
PLAIN = ConnectionInfo()
TLS = ConnectionInfo(tls=TLSInfo("TLSv1.3", "TLS_AES_128_GCM_SHA256", "NONE", None, "api.test"))
CHAIN = "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n" * 2
TLS_CERT = ConnectionInfo(tls=TLSInfo("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256", "FAILED:unable to get local issuer certificate", CHAIN))


class Upstream:
    """A fake upstream that records what it was sent."""

    def __init__(self, response=None):
        self.sent = []
        self.response = response or Response(200, [("Content-Type", "text/plain")], b"upstream")

    def __call__(self, req):
        self.sent.append(req)
        return Response(self.response.status, list(self.response.headers), self.response.body)


def spec(path_or_cls, **kw):
    if isinstance(path_or_cls, str):
        return load_plugin_file(PLUGINS / path_or_cls)
    return plugin_from_class(path_or_cls, **kw)


class Recorder(NativePlugin):
    """Records the phases it sees and, in log, the serializer output."""

    name = "recorder"
    priority = -1000  # after everybody
    seen: list = []
    logs: list = []

    def rewrite(self, kong): self.seen.append("rewrite")
    def access(self, kong): self.seen.append("access")
    def balancer(self, kong): self.seen.append("balancer")
    def response(self, kong): self.seen.append("response")
    def header_filter(self, kong): self.seen.append("header_filter")
    def body_filter(self, kong): self.seen.append("body_filter")

    def log(self, kong):
        self.seen.append("log")
        self.logs.append(kong.log.serialize(as_dict=True))


@pytest.fixture
def recorder():
    Recorder.seen, Recorder.logs = [], []
    return configure(spec(Recorder))


# -- a Kong Python PDK plugin, unchanged, in both call styles ------------------


@pytest.mark.parametrize("lua_style", [True, False], ids=["lua-style", "python-style"])
def test_gatekeeper_allows_and_proxies(lua_style, recorder, caplog):
    gate = configure(spec("py-gatekeeper.py"), {"token": "s3cret"})
    runner = Runner([gate, recorder], lua_style=lua_style)
    upstream = Upstream()
    with caplog.at_level(logging.INFO, logger="purekong.kong"):
        resp = runner.handle(PLAIN, Request(target="/x", headers=[("Host", "a.test"), ("X-Token", "s3cret")]), upstream)
    assert resp == Response(200, [("Content-Type", "text/plain")], b"upstream")
    assert ("x-authenticated", "yes") in upstream.sent[0].headers
    assert "[py-gatekeeper] authenticated=True" in caplog.text
    assert Recorder.seen == ["rewrite", "access", "balancer", "response", "header_filter", "body_filter", "log"]


@pytest.mark.parametrize("lua_style", [True, False], ids=["lua-style", "python-style"])
def test_gatekeeper_rejects_with_exit(lua_style, recorder, caplog):
    gate = configure(spec("py-gatekeeper.py"), {"token": "s3cret"})
    runner = Runner([gate, recorder], lua_style=lua_style)
    upstream = Upstream()
    with caplog.at_level(logging.INFO, logger="purekong.kong"):
        resp = runner.handle(PLAIN, Request(target="/x", headers=[("X-Token", "wrong")]), upstream)
    assert resp.status == 401
    assert resp.body == b'{"message":"Unauthorized"}'
    assert ("WWW-Authenticate", "Token") in resp.headers
    assert upstream.sent == []
    # exit in access: the rest of access and balancer skipped; filters and log run
    assert Recorder.seen == ["rewrite", "header_filter", "body_filter", "log"]
    assert Recorder.logs[0]["response"]["status"] == 401
    assert "[py-gatekeeper] authenticated=None" in caplog.text


def test_docs_example_sets_response_headers(recorder):
    hello = configure(spec("py-hello.py"), {"message": "hi"})
    runner = Runner([hello, recorder])
    resp = runner.handle(PLAIN, Request(headers=[("Host", "example.test")]), Upstream())
    assert ("x-hello-from-python", "Python says hi to example.test") in resp.headers
    assert any(n == "x-python-pid" for n, _ in resp.headers)


def test_unset_fields_reach_a_kong_plugin_as_absent_as_in_kong(recorder):
    """Kong strips nulls before the plugin server sees the config: py-hello's
    ``'message' in self.config`` is false, so it says its own default."""
    hello = configure(spec("py-hello.py"), {})
    assert hello.config == {"message": None}  # what purekong validated and stores
    resp = Runner([hello, recorder]).handle(PLAIN, Request(headers=[("Host", "example.test")]), Upstream())
    assert ("x-hello-from-python", "Python says hello to example.test") in resp.headers


# -- failures ------------------------------------------------------------------


class Boom(NativePlugin):
    name = "boom"
    priority = 10
    calls = 0

    def access(self, kong):
        Boom.calls += 1
        if kong.request.get_header("x-boom"):
            raise RuntimeError("kaboom")
        kong.response.set_header("X-Boom-Ok", "1")


def test_raising_plugin_gives_500_for_that_request_only(recorder, caplog):
    runner = Runner([configure(spec(Boom)), recorder])
    upstream = Upstream()
    with caplog.at_level(logging.ERROR, logger="purekong.runner"):
        bad = runner.handle(PLAIN, Request(headers=[("X-Boom", "1")]), upstream)
    assert bad.status == 500
    assert bad.body == b'{"message":"An unexpected error occurred"}'
    assert bad.headers == [("Content-Type", "application/json; charset=utf-8")]
    assert "plugin boom failed in the access phase" in caplog.text and "kaboom" in caplog.text
    assert Recorder.seen[-1] == "log" and Recorder.logs[0]["source"] == "error"
    assert upstream.sent == []
    good = runner.handle(PLAIN, Request(), upstream)
    assert good.status == 200 and ("X-Boom-Ok", "1") in good.headers


def test_phase_violation_in_a_plugin_is_a_500():
    class Wrong(NativePlugin):
        name = "wrong"

        def access(self, kong):
            kong.client.tls.request_client_certificate()

    resp = Runner([configure(spec(Wrong))]).handle(TLS, Request(), Upstream())
    assert resp.status == 500


def test_checks_off_runner_lets_the_call_through():
    class Wrong(NativePlugin):
        name = "wrong"
        lua_style = True

        def access(self, kong):
            kong.response.set_header("X-Result", repr(kong.client.tls.request_client_certificate()))

    resp = Runner([configure(spec(Wrong))], check_phases=False).handle(TLS, Request(), Upstream())
    assert ("X-Result", "(None, 'API disabled in the current context')") in resp.headers


def test_failure_in_log_is_logged_only(caplog):
    class BadLog(NativePlugin):
        name = "badlog"

        def log(self, kong):
            raise ValueError("log broke")

    with caplog.at_level(logging.ERROR, logger="purekong.runner"):
        resp = Runner([configure(spec(BadLog))]).handle(PLAIN, Request(), Upstream())
    assert resp.status == 200
    assert "plugin badlog failed in the log phase" in caplog.text


# -- order and exit ------------------------------------------------------------


def _ordered(name, prio, order, exit_status=None):
    class P(NativePlugin):
        def access(self, kong):
            order.append(name)
            if exit_status:
                kong.response.exit(exit_status)
                order.append(name + ":after-exit")  # runs: exit returns
                kong.log.info("unreached")  # next PDK call unwinds the plugin
                order.append(name + ":unreached")

        def header_filter(self, kong):
            order.append(name + ":hf")

    return configure(plugin_from_class(P, name=name, priority=prio))


def test_priority_order_highest_first():
    order = []
    plugins = [_ordered("low", 1, order), _ordered("high", 1000, order), _ordered("mid", 500, order),
               _ordered("mid2", 500, order)]
    Runner(plugins).handle(PLAIN, Request(), Upstream())
    assert order == ["high", "mid", "mid2", "low", "high:hf", "mid:hf", "mid2:hf", "low:hf"]


def test_exit_skips_lower_plugins_but_not_filters(caplog):
    order = []
    plugins = [_ordered("first", 100, order), _ordered("stopper", 50, order, exit_status=418), _ordered("last", 1, order)]
    with caplog.at_level(logging.ERROR, logger="purekong.runner"):
        resp = Runner(plugins).handle(PLAIN, Request(), Upstream())
    assert resp.status == 418
    assert order == ["first", "stopper", "stopper:after-exit", "first:hf", "stopper:hf", "last:hf"]
    assert caplog.text == ""  # unwinding after exit is not an error


def test_exit_in_rewrite_skips_access(recorder):
    class Early(NativePlugin):
        name = "early"
        priority = 100

        def rewrite(self, kong):
            kong.response.exit(403, "go away")

    upstream = Upstream()
    resp = Runner([configure(spec(Early)), recorder]).handle(PLAIN, Request(), upstream)
    assert (resp.status, resp.body) == (403, b"go away")
    assert Recorder.seen == ["header_filter", "body_filter", "log"]
    assert upstream.sent == []


def test_rewrite_runs_only_global_plugins(recorder):
    scoped = configure(spec(Recorder), scope="route")
    Recorder.seen = []
    Runner([scoped]).handle(PLAIN, Request(), Upstream())
    assert "rewrite" not in Recorder.seen and "access" in Recorder.seen


# -- two-step API: response phase, upstream failure ------------------------------


class Buffered(NativePlugin):
    name = "buffered"

    def response(self, kong):
        status = kong.service.response.get_status()
        body = kong.service.response.get_raw_body()
        kong.response.set_header("X-Upstream-Status", status)
        if body == b"secret":
            kong.response.exit(451, {"message": "redacted"})

    def header_filter(self, kong):
        kong.response.set_header("X-Source", kong.response.get_source())

    def body_filter(self, kong):
        kong.response.set_raw_body(kong.response.get_raw_body().upper())


def test_two_step_api_with_response_phase():
    runner = Runner([configure(spec(Buffered))])
    outcome = runner.run_request(PLAIN, Request(target="/p?q=1"))
    assert outcome.proxy and outcome.response is None
    assert outcome.upstream.target == "/p?q=1"
    final = runner.run_response(outcome, Response(201, [("Content-Type", "text/plain")], b"fine"))
    assert final.status == 201 and final.body == b"FINE"
    assert ("X-Upstream-Status", "201") in final.headers and ("X-Source", "service") in final.headers


def test_exit_in_response_phase_replaces_the_upstream_answer():
    runner = Runner([configure(spec(Buffered))])
    final = runner.handle(PLAIN, Request(), Upstream(Response(200, [], b"secret")))
    assert final.status == 451
    assert final.body == b'{"MESSAGE":"REDACTED"}'  # body_filter still ran
    assert ("X-Source", "exit") in final.headers


def test_unreachable_upstream_is_kongs_502(recorder):
    runner = Runner([recorder])
    outcome = runner.run_request(PLAIN, Request())
    final = runner.run_response(outcome, None)
    assert final.status == 502
    assert json.loads(final.body) == {"message": "An invalid response was received from the upstream server"}
    assert Recorder.seen[-1] == "log"


def test_no_upstream_response_for_an_answered_request():
    class Stop(NativePlugin):
        name = "stop"

        def access(self, kong):
            kong.response.exit(200)

    runner = Runner([configure(spec(Stop))])
    outcome = runner.run_request(PLAIN, Request())
    assert not outcome.proxy and outcome.response.status == 200
    with pytest.raises(ValueError):
        runner.run_response(outcome, Response())
    assert runner.run_response(outcome).status == 200
    with pytest.raises(ValueError, match="already called"):
        runner.run_response(outcome)


# -- connection side --------------------------------------------------------------


def test_certificate_phase_runs_global_plugins_only():
    chain = spec("py-chain.py")
    requests = HandshakeRequests()
    runner = Runner([configure(chain, scope="route")], lua_style=False)
    assert runner.run_certificate(requests, ClientHelloInfo(server_name="api.test")) is True
    assert requests == HandshakeRequests()
    runner = Runner([configure(chain)], lua_style=False)
    assert runner.needs_phase("certificate", global_only=True)
    assert runner.run_certificate(requests, ClientHelloInfo(server_name="api.test")) is True
    assert requests == HandshakeRequests(request_client_certificate=True, disable_session_reuse=True)


def test_certificate_phase_failure_is_reported():
    class Bad(NativePlugin):
        name = "bad"

        def certificate(self, kong):
            kong.client.tls.request_client_certificate(42)

    requests = HandshakeRequests()
    assert Runner([configure(spec(Bad))]).run_certificate(requests, ClientHelloInfo()) is False
    assert requests.request_client_certificate is False


def test_client_hello_phase_and_sni():
    class NoH2(NativePlugin):
        name = "no-h2"
        sni = []

        def client_hello(self, kong):
            NoH2.sni.append(kong.nginx.get_var("ssl_server_name"))
            NoH2.sni.append(kong.client.get_ip())
            kong.client.tls.disable_http2_alpn()

        def certificate(self, kong):
            kong.client.tls.disable_http2_alpn()  # wrong phase

    requests = HandshakeRequests()
    runner = Runner([configure(spec(NoH2))])
    assert runner.run_client_hello(requests, ClientHelloInfo(server_name="h2.test", client_ip="198.51.100.9")) is True
    assert requests.disable_http2_alpn is True
    assert NoH2.sni == ["h2.test", "198.51.100.9"]
    assert runner.run_certificate(HandshakeRequests(), ClientHelloInfo()) is False


def test_chain_plugin_overrides_client_verify_in_the_log(recorder):
    runner = Runner([configure(spec("py-chain.py")), recorder], lua_style=False)
    upstream = Upstream()
    resp = runner.handle(TLS_CERT, Request(), upstream)
    assert resp.status == 200
    assert ("x-client-chain-certs", "2") in upstream.sent[0].headers
    assert Recorder.logs[-1]["request"]["tls"]["client_verify"] == "SUCCESS"

    resp = runner.handle(TLS, Request(), upstream)  # TLS without a client cert
    assert resp.status == 401
    assert Recorder.logs[-1]["request"]["tls"]["client_verify"] == "NONE"

    resp = runner.handle(PLAIN, Request(), upstream)  # plain HTTP: PDKException path
    assert json.loads(resp.body) == {"message": "No required TLS certificate was sent"}
    assert "tls" not in Recorder.logs[-1]["request"]
