"""Kong's plugins iterator (purekong.gateway._plugins), without sockets.

Scenarios after Kong's spec/01-unit/28-plugins-iterator/lookup_cfg_spec.lua:
of the entities of one plugin name that apply, the most specific wins, in the
order route+service+consumer, route+consumer, service+consumer, route+service,
consumer, route, service, global; a consumer-scoped one only for its consumer.
"""

from __future__ import annotations

import itertools

import pytest

from purekong.gateway import PluginsIterator, Router, parse_declarative
from purekong.gateway._plugins import PRECEDENCE, select
from purekong.pdk import ConnectionInfo, Request, Response
from purekong.runner import NativePlugin, configure, plugin_from_class


class Auth(NativePlugin):
    """Authenticates the consumer named in X-Consumer (as mtls-auth would)."""

    name = "auth"
    priority = 1000

    def access(self, kong):
        username = kong.request.get_header("x-consumer")
        if username:
            kong.client.authenticate({"id": CONSUMER_IDS[username], "username": username}, None)


class Tag(NativePlugin):
    """Reports which of its entities ran, in each phase it has."""

    name = "tag"
    priority = 10
    schema = ({"value": {"type": "string"}},)

    def rewrite(self, kong):
        kong.response.set_header("X-Tag-Rewrite", self.config["value"])

    def access(self, kong):
        kong.response.set_header("X-Tag", self.config["value"])

    def header_filter(self, kong):
        kong.response.set_header("X-Tag-Header-Filter", self.config["value"])


CONSUMER_IDS: dict[str, str] = {}


def gateway(plugins: list[dict]):
    """A route ``r`` on service ``s``, consumers alice and bob, and ``plugins``."""
    d = parse_declarative({
        "_format_version": "3.0",
        "services": [{"name": "s", "url": "http://upstream.test", "routes": [{"name": "r", "paths": ["/r"]}]},
                     {"name": "other", "url": "http://other.test", "routes": [{"name": "o", "paths": ["/o"]}]}],
        "consumers": [{"username": "alice"}, {"username": "bob"}],
        "plugins": [{"name": "auth"}, *plugins],
    })
    CONSUMER_IDS.update({c.username: c.id for c in d.consumers})
    specs = {"auth": plugin_from_class(Auth), "tag": plugin_from_class(Tag)}
    return d, Router(d), PluginsIterator([(e, configure(specs[e.name], e.config)) for e in d.plugins])


def request(d, router, plugins, path: str, *, consumer: str | None = None, protocol: str = "http"):
    headers = [("Host", "gw.test")] + ([("X-Consumer", consumer)] if consumer else [])
    match = router.match(protocol=protocol, method="GET", host="gw.test", path=path)
    runner = plugins.runner_for(match, protocol)
    outcome = runner.run_request(ConnectionInfo(), Request(method="GET", target=path, headers=headers))
    response = runner.run_response(outcome, Response(200, [], b"ok") if outcome.proxy else None)
    return dict((k.lower(), v) for k, v in response.headers), response


SCOPES = {"route": "r", "service": "s", "consumer": "alice"}


def entity(combo: tuple[bool, bool, bool]) -> dict:
    names = [name for name, on in zip(("route", "service", "consumer"), combo) if on]
    value = "+".join(names) or "global"
    return {"name": "tag", "config": {"value": value}, **{name: SCOPES[name] for name in names}}


@pytest.mark.parametrize("present", [c for n in range(1, 9) for c in itertools.combinations(PRECEDENCE, n)][::7])
def test_the_most_specific_entity_wins(present):
    d, router, plugins = gateway([entity(c) for c in present])
    headers, _ = request(d, router, plugins, "/r", consumer="alice")
    assert headers["x-tag"] == entity(min(present, key=PRECEDENCE.index))["config"]["value"]


def test_precedence_is_kongs_lookup_order():
    # Removing the winner each time walks the whole table (lookup_cfg_spec).
    present = list(PRECEDENCE)
    d, *_ = gateway([entity(c) for c in present])
    entities = list(d.plugins[1:])
    seen = []
    while entities:
        winner = select(entities, CONSUMER_IDS["alice"])
        seen.append(winner.config["value"])
        entities.remove(winner)
    assert seen == ["route+service+consumer", "route+consumer", "service+consumer", "route+service",
                    "consumer", "route", "service", "global"]


def test_a_consumer_scoped_entity_applies_only_to_its_consumer():
    d, router, plugins = gateway([entity((False, False, False)), entity((False, False, True))])
    assert request(d, router, plugins, "/r", consumer="alice")[0]["x-tag"] == "consumer"
    # Another consumer, or none: the global entity runs (not nothing).
    assert request(d, router, plugins, "/r", consumer="bob")[0]["x-tag"] == "global"
    assert request(d, router, plugins, "/r")[0]["x-tag"] == "global"


def test_without_a_fallback_a_consumer_scoped_plugin_runs_for_its_consumer_only():
    d, router, plugins = gateway([entity((True, False, True))])
    assert request(d, router, plugins, "/r", consumer="alice")[0]["x-tag"] == "route+consumer"
    assert "x-tag" not in request(d, router, plugins, "/r", consumer="bob")[0]
    assert "x-tag" not in request(d, router, plugins, "/o", consumer="alice")[0]  # another route


def test_the_choice_holds_for_the_later_phases():
    d, router, plugins = gateway([entity((False, False, False)), entity((False, False, True))])
    headers, _ = request(d, router, plugins, "/r", consumer="alice")
    assert headers["x-tag-header-filter"] == "consumer"
    # rewrite runs before authentication, global plugins only.
    assert headers["x-tag-rewrite"] == "global"


def test_route_and_service_filter():
    d, router, plugins = gateway([
        {"name": "tag", "route": "r", "config": {"value": "on r"}},
        {"name": "tag", "service": "other", "config": {"value": "on other"}},
    ])
    assert request(d, router, plugins, "/r")[0]["x-tag"] == "on r"
    assert request(d, router, plugins, "/o")[0]["x-tag"] == "on other"


def test_protocols_filter():
    d, router, plugins = gateway([{"name": "tag", "config": {"value": "https only"}, "protocols": ["https"]}])
    assert "x-tag" not in request(d, router, plugins, "/r")[0]


def test_no_route_is_a_404_after_the_global_rewrite_and_before_access():
    d, router, plugins = gateway([entity((False, False, False)), {"name": "tag", "service": "s", "config": {"value": "s"}}])
    headers, response = request(d, router, plugins, "/nowhere")
    assert response.status == 404
    assert b"no Route matched with those values" in bytes(response.body)
    assert headers["x-tag-rewrite"] == "global" and "x-tag" not in headers  # access did not run
    assert headers["x-tag-header-filter"] == "global"  # header_filter still runs


def test_https_required_routes():
    d = parse_declarative({
        "_format_version": "3.0",
        "services": [{"name": "s", "url": "http://upstream.test", "routes": [
            {"name": "upgrade", "paths": ["/u"], "protocols": ["https"]},
            {"name": "redirect", "paths": ["/m"], "protocols": ["https"], "https_redirect_status_code": 301},
        ]}],
    })
    router, plugins = Router(d), PluginsIterator([])
    _, upgrade = request(d, router, plugins, "/u")
    assert upgrade.status == 426 and b"Please use HTTPS protocol" in bytes(upgrade.body)
    headers, moved = request(d, router, plugins, "/m?q=1")
    assert moved.status == 301 and headers["location"] == "https://gw.test/m?q=1"


def test_connection_runner_has_the_global_plugins_only():
    d, router, plugins = gateway([entity((False, False, False)), entity((True, False, False))])
    assert [(p.name, p.config.get("value")) for p in plugins.connection_runner.plugins] == [("auth", None), ("tag", "global")]


def test_runners_are_built_once_per_route_and_protocol():
    d, router, plugins = gateway([])
    match = router.match(protocol="http", method="GET", host="gw.test", path="/r")
    assert plugins.runner_for(match, "http") is plugins.runner_for(match, "http")
    assert plugins.runner_for(match, "http") is not plugins.runner_for(match, "https")
