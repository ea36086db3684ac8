"""``--admin-listen``: Kong's status endpoints, the DB-less Admin API and /metrics,
against a real ``purekong serve`` with httpx and curl; /metrics is read with
prometheus_client's text-format parser.
"""

from __future__ import annotations

import json
import re
import ssl
import subprocess
import time

import httpx
import pytest
from hypothesis import given, strategies as st

from _serve_helpers import TIMEOUT, certificates_yml, start_gateway
from purekong.gateway import parse_declarative
from purekong.gateway._admin_api import admin_get, config_error_body

prometheus_parser = pytest.importorskip("prometheus_client.parser")

APP = '''
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": scope["path"].encode()})
'''


def admin_config(tmp, files, extra_routes: str = "") -> str:
    (tmp / "admin_app.py").write_text(APP)
    path = tmp / "kong.yml"
    path.write_text(f"""_format_version: "3.0"
services:
- name: app
  asgi: admin_app:app
  routes:
  - name: first
    paths: [/first]
  - name: second
    paths: [/second]
    plugins:
    - name: tls-metadata-headers
{extra_routes}
consumers:
- username: alice
  custom_id: a-1
{certificates_yml(files)}""")
    return str(path)


def _admin_port(summary: list[str]) -> int:
    return int(re.search(r"admin API on http://127\.0\.0\.1:(\d+)", "\n".join(summary)).group(1))


@pytest.fixture(scope="module")
def gw(tmp_path_factory, files):
    tmp = tmp_path_factory.mktemp("admin")
    g = start_gateway(tmp, ["-c", admin_config(tmp, files), "--listen", "127.0.0.1:0 ssl", "--listen", "127.0.0.1:0",
                            "--admin-listen", "127.0.0.1:0", "--state-dir", str(tmp / "state")])
    g.admin = f"http://127.0.0.1:{_admin_port(g.summary)}"  # type: ignore[attr-defined]
    g.tmp = tmp  # type: ignore[attr-defined]
    yield g
    assert g.stop() == 0, g.stderr()


def get(gw, path: str) -> httpx.Response:
    return httpx.get(gw.admin + path, timeout=TIMEOUT)


def test_admin_is_off_by_default(tmp_path, files):
    g = start_gateway(tmp_path, ["-c", admin_config(tmp_path, files), "--listen", "127.0.0.1:0", "--state-dir", str(tmp_path / "s")])
    try:
        assert "admin API" not in "\n".join(g.summary)
    finally:
        assert g.stop() == 0


def test_node_info_and_status(gw):
    info = get(gw, "/").json()
    assert info["tagline"] == "Welcome to purekong" and info["configuration"]["database"] == "off"
    assert info["plugins"]["enabled_in_cluster"] == ["tls-metadata-headers"]
    httpx.get(gw.url("/first", tls=False))
    status = get(gw, "/status").json()
    assert status["database"] == {"reachable": True}
    assert status["server"]["total_requests"] >= 1 and status["server"]["connections_accepted"] >= 1
    assert re.fullmatch(r"[0-9a-f]{32}", status["configuration_hash"])


def test_entity_lists_have_kongs_pagination_shape(gw):
    for kind, count in [("services", 1), ("routes", 2), ("plugins", 1), ("consumers", 1), ("certificates", 1),
                        ("ca_certificates", 0), ("snis", 2)]:
        r = get(gw, f"/{kind}")
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
        body = r.json()
        assert set(body) == {"data", "next"} and body["next"] is None and len(body["data"]) == count, (kind, body)


def test_entities_by_id_or_name_and_nested(gw):
    service = get(gw, "/services/app").json()
    assert service["name"] == "app" and service["protocol"] == "asgi"
    assert get(gw, f"/services/{service['id']}").json() == service
    routes = get(gw, "/services/app/routes").json()["data"]
    assert sorted(r["name"] for r in routes) == ["first", "second"]
    assert all(r["service"] == {"id": service["id"]} for r in routes)
    assert get(gw, "/routes/second/service").json() == service
    plugins = get(gw, "/routes/second/plugins").json()["data"]
    assert [p["name"] for p in plugins] == ["tls-metadata-headers"]
    assert get(gw, f"/plugins/{plugins[0]['id']}").json()["route"]["id"] == get(gw, "/routes/second").json()["id"]
    assert get(gw, "/routes/first/plugins").json() == {"data": [], "next": None}
    assert get(gw, "/consumers/alice").json()["custom_id"] == "a-1"
    sni = get(gw, "/snis/api.test").json()
    cert = get(gw, f"/certificates/{sni['certificate']['id']}").json()
    assert sorted(cert["snis"]) == ["api.test", "localhost"] and cert["cert"].startswith("-----BEGIN CERTIFICATE-----")
    assert get(gw, "/certificates/localhost").json()["id"] == cert["id"]  # Kong: a certificate by one of its SNIs
    assert sorted(s["name"] for s in get(gw, f"/certificates/{cert['id']}/snis").json()["data"]) == ["api.test", "localhost"]


def test_kongs_404_and_405(gw):
    for path in ("/services/nope", "/routes/nope/plugins", "/nothing", "/services/app/nothing"):
        r = get(gw, path)
        assert r.status_code == 404 and r.json() == {"message": "Not found"}, path
    r = httpx.delete(gw.admin + "/services/app", timeout=TIMEOUT)
    assert r.status_code == 405 and r.json() == {
        "code": 12, "name": "operation unsupported", "message": "cannot delete 'services' entities when not using a database"}
    r = httpx.post(gw.admin + "/services/app/routes", json={"paths": ["/x"]}, timeout=TIMEOUT)
    assert r.status_code == 405 and r.json()["message"] == "cannot create 'routes' entities when not using a database"
    assert httpx.post(gw.admin + "/status", timeout=TIMEOUT).status_code == 405
    assert get(gw, "/routes?size=0").status_code == 400


def test_pagination_walks_every_route_once(gw):
    seen, url = [], "/routes?size=1"
    while url:
        body = get(gw, url).json()
        seen += [r["name"] for r in body["data"]]
        url = body["next"]
        assert len(seen) <= 2
    assert sorted(seen) == ["first", "second"]


def test_metrics_parse_as_prometheus_text(gw, files):
    ctx = ssl.create_default_context(cafile=files.path("ca.pem"))
    with httpx.Client(verify=ctx, timeout=TIMEOUT) as c:
        assert c.get(gw.url("/first")).status_code == 200
        assert c.get(gw.url("/nothing-here")).status_code == 404
    subprocess.run(["curl", "-sk", "--tls-max", "1.2", gw.url("/second")], capture_output=True, timeout=TIMEOUT)
    # A handshake that fails: a client that only offers TLS 1.1.
    subprocess.run(["curl", "-sk", "--tlsv1.1", "--tls-max", "1.1", gw.url("/first")], capture_output=True, timeout=TIMEOUT)
    r = get(gw, "/metrics")
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in prometheus_parser.text_string_to_metric_families(r.text)}
    requests = {(s.labels["route"], s.labels["code"]): s.value for s in families["purekong_http_requests"].samples}
    assert requests[("first", "200")] >= 1 and requests[("", "404")] >= 1 and requests[("second", "200")] >= 1
    latency = families["purekong_request_latency_seconds"]
    assert latency.type == "histogram"
    buckets = [s for s in latency.samples if s.name.endswith("_bucket") and s.labels["route"] == "first"]
    assert buckets[-1].labels["le"] == "+Inf" and [b.value for b in buckets] == sorted(b.value for b in buckets)
    handshakes = {(s.labels["version"], s.labels["outcome"]): s.value for s in families["purekong_tls_handshakes"].samples}
    assert handshakes[("TLSv1.3", "success")] >= 1 and handshakes[("TLSv1.2", "success")] >= 1
    assert handshakes[("unknown", "failure")] >= 1
    verify = {s.labels["result"]: s.value for s in families["purekong_client_verify"].samples}
    assert verify["NONE"] >= 2  # httpx (one connection, two requests) and curl
    assert families["purekong_connections_open"].type == "gauge"


def test_post_config_loads_a_new_configuration_and_refuses_an_invalid_one(tmp_path, files):
    config = admin_config(tmp_path, files)
    g = start_gateway(tmp_path, ["-c", config, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--state-dir", str(tmp_path / "s")])
    admin = f"http://127.0.0.1:{_admin_port(g.summary)}"
    try:
        new = {"_format_version": "3.0", "services": [{"name": "app", "asgi": "admin_app:app",
                                                        "routes": [{"name": "third", "paths": ["/third"], "strip_path": False}]}]}
        r = httpx.post(admin + "/config", json=new, timeout=TIMEOUT)
        assert r.status_code == 201, r.text
        assert [x["name"] for x in r.json()["routes"]] == ["third"]
        assert httpx.get(g.url("/third", tls=False)).text == "/third"
        assert httpx.get(g.url("/first", tls=False)).status_code == 404
        assert [x["name"] for x in httpx.get(admin + "/routes").json()["data"]] == ["third"]

        bad = {"_format_version": "3.0", "services": [{"name": "broken", "url": "ftp://example.test",
                                                        "routes": [{"name": "r", "paths": ["nope"]}]}]}
        r = httpx.post(admin + "/config", json=bad, timeout=TIMEOUT)
        assert r.status_code == 400
        body = r.json()
        assert body["code"] == 14 and body["name"] == "invalid declarative configuration"
        assert body["fields"]["services"]["1"]["url"].startswith('unsupported scheme "ftp"')
        assert body["fields"]["services"]["1"]["routes"]["1"]["paths[0]"] == 'must start with "/"'
        flat = {e["entity_type"]: e for e in body["flattened_errors"]}
        assert flat["service"]["entity_name"] == "broken" and flat["service"]["errors"][0]["field"] == "url"
        assert flat["route"]["entity"] == {"name": "r", "paths": ["nope"]}
        assert httpx.get(g.url("/third", tls=False)).text == "/third"  # the old one stays
        assert "POST /config refused, the old configuration stays" in g.stderr()

        # Kong's other shapes: YAML text in the "config" field, form-encoded.
        yml = "_format_version: '3.0'\nservices:\n- name: app\n  asgi: admin_app:app\n  routes:\n  - name: fourth\n    paths: [/fourth]\n    strip_path: false\n"
        assert httpx.post(admin + "/config", data={"config": yml}, timeout=TIMEOUT).status_code == 201
        assert httpx.get(g.url("/fourth", tls=False)).text == "/fourth"
        assert httpx.post(admin + "/config", content=b"{not: [valid", timeout=TIMEOUT).status_code == 400
    finally:
        assert g.stop() == 0, g.stderr()


def test_post_config_reaches_every_worker(tmp_path, files):
    config = admin_config(tmp_path, files)
    g = start_gateway(tmp_path, ["-c", config, "--listen", "127.0.0.1:0", "--workers", "2", "--admin-listen", "127.0.0.1:0",
                                 "--state-dir", str(tmp_path / "s")])
    admin = f"http://127.0.0.1:{_admin_port(g.summary)}"
    try:
        new = {"_format_version": "3.0", "services": [{"name": "app", "asgi": "admin_app:app", "routes": [{"name": "x", "paths": ["/x"], "strip_path": False}]}]}
        assert httpx.post(admin + "/config", json=new, timeout=TIMEOUT).status_code == 201
        deadline = time.monotonic() + TIMEOUT
        while g.stderr().count("POST /config: configuration reloaded") < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        for _ in range(10):  # new connections, whichever worker takes them
            assert httpx.get(g.url("/x", tls=False), headers={"Connection": "close"}).text == "/x"
    finally:
        assert g.stop() == 0, g.stderr()


# -- the pure part -----------------------------------------------------------------------


@given(st.integers(0, 30), st.integers(1, 7))
def test_pages_cover_every_entity_exactly_once(count, size):
    d = parse_declarative({"_format_version": "3.0", "services": [{"name": f"s{i}", "url": "http://up.test"} for i in range(count)]})
    names, path, query = [], "/services", {"size": str(size)}
    while True:
        status, body = admin_get(d, path, query)
        assert status == 200 and len(body["data"]) <= size
        names += [s["name"] for s in body["data"]]
        if body["next"] is None:
            break
        path, _, q = body["next"].partition("?")
        query = dict(part.split("=", 1) for part in q.split("&"))
    assert names == [f"s{i}" for i in range(count)]


def test_config_error_body_for_top_level_problems():
    body = config_error_body(["_format_version: missing"], {})
    assert body["code"] == 14 and body["flattened_errors"][0]["errors"][0]["message"] == "missing"
    assert json.dumps(body)  # JSON all the way down


def test_metrics_sum_every_worker(tmp_path, files):
    g = start_gateway(tmp_path, ["-c", admin_config(tmp_path, files), "--listen", "127.0.0.1:0", "--workers", "2",
                                 "--admin-listen", "127.0.0.1:0", "--state-dir", str(tmp_path / "s")])
    admin = f"http://127.0.0.1:{_admin_port(g.summary)}"
    try:
        pids: set[str] = set()
        sent = 0

        def scrape() -> dict:
            return {f.name: f for f in prometheus_parser.text_string_to_metric_families(httpx.get(admin + "/metrics").text)}

        # New connections until both workers answered some (on a loaded machine
        # one worker may take the first twenty), then the sum must be all of them.
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline and (len(pids) < 2 or sent < 20):
            for _ in range(10):
                assert httpx.get(g.url("/first", tls=False), headers={"Connection": "close"}).status_code == 200
                sent += 1
            families = scrape()
            pids = {s.labels["pid"] for s in families["purekong_worker_info"].samples}
        counted = -1.0
        while time.monotonic() < deadline:
            families = scrape()
            pids = {s.labels["pid"] for s in families["purekong_worker_info"].samples}
            counted = sum(s.value for s in families["purekong_http_requests"].samples if s.labels["route"] == "first")
            if len(pids) == 2 and counted == sent:
                break
            time.sleep(0.1)
        assert len(pids) == 2 and counted == sent, (pids, counted, sent)
        latency = [s for s in families["purekong_request_latency_seconds"].samples if s.name.endswith("_count") and s.labels["route"] == "first"]
        assert latency[0].value == sent
        # Whichever worker answers the scrape (new connections), the total is the same.
        for _ in range(6):
            text = httpx.get(admin + "/metrics", headers={"Connection": "close"}).text
            assert re.search(rf'^purekong_http_requests_total\{{route="first",code="200"\}} {sent}$', text, re.M), text
    finally:
        assert g.stop() == 0, g.stderr()
