"""Every PDK function's phases, against the table in docs/pdk.md.

Like Kong's phase-check harness, it also fails when a function has no entry.
"""

import pytest

from purekong.pdk import FUNCTIONS, KongContext, LuaError, Phase

ANY = {p.name for p in Phase}
REQUEST = {"rewrite", "access", "balancer", "response", "cluster_listener", "header_filter",
           "body_filter", "log", "error", "admin_api"}
AUTH_AND_LATER = {"access", "response", "header_filter", "body_filter", "log"}
HEADER_BODY_LOG = {"response", "header_filter", "body_filter", "log", "error", "admin_api"}
REWRITE_ACCESS_HEADER = {"rewrite", "access", "response", "header_filter", "error", "admin_api"}
BEFORE_CONTENT = {"rewrite", "access", "response", "error", "admin_api"}
SERVICE_REQ = {"rewrite", "access", "balancer"}
SERVICE_REQ_ACCESS = {"rewrite", "access"}
SERVICE_RESP = {"response", "header_filter", "body_filter", "log"}

EXPECTED = {
    "kong.client.tls.request_client_certificate": {"certificate"},
    "kong.client.tls.disable_session_reuse": {"certificate"},
    "kong.client.tls.disable_http2_alpn": {"client_hello"},
    "kong.client.tls.get_full_client_certificate_chain": {"rewrite", "access", "balancer", "response", "log"},
    "kong.client.tls.set_client_verify": {"rewrite", "access", "balancer", "response"},
    "kong.client.get_ip": ANY - {"init_worker"},
    "kong.client.get_port": ANY - {"init_worker"},
    "kong.client.get_forwarded_ip": ANY - {"init_worker"},
    "kong.client.get_forwarded_port": ANY - {"init_worker"},
    "kong.client.get_consumer": AUTH_AND_LATER,
    "kong.client.get_credential": AUTH_AND_LATER,
    "kong.client.get_protocol": AUTH_AND_LATER,
    "kong.client.authenticate": {"access"},
    "kong.request.get_raw_body": BEFORE_CONTENT,
    "kong.request.get_body": BEFORE_CONTENT,
    "kong.response.get_raw_body": {"body_filter"},
    "kong.response.set_raw_body": {"body_filter"},
    "kong.router.get_route": AUTH_AND_LATER,
    "kong.router.get_service": AUTH_AND_LATER,
    "kong.log.serialize": {"log"},
    "kong.log.set_serialize_value": {"rewrite", "access", "response", "header_filter", "body_filter", "log"},
}
for _name in ("set_path", "set_raw_query", "set_query", "set_method", "set_scheme", "enable_buffering"):
    EXPECTED[f"kong.service.request.{_name}"] = SERVICE_REQ_ACCESS
for _name in ("set_header", "add_header", "clear_header", "set_headers", "set_raw_body"):
    EXPECTED[f"kong.service.request.{_name}"] = SERVICE_REQ
for _name in ("get_status", "get_headers", "get_header", "get_raw_body"):
    EXPECTED[f"kong.service.response.{_name}"] = SERVICE_RESP
for _name in ("get_status", "get_header", "get_headers", "get_source"):
    EXPECTED[f"kong.response.{_name}"] = HEADER_BODY_LOG
for _name in ("set_status", "set_header", "add_header", "clear_header", "set_headers", "exit", "error"):
    EXPECTED[f"kong.response.{_name}"] = REWRITE_ACCESS_HEADER
EXPECTED["kong.client.load_consumer"] = AUTH_AND_LATER
EXPECTED["kong.service.request.set_body"] = SERVICE_REQ_ACCESS
EXPECTED["kong.service.request.disable_tls"] = {"balancer", "preread"}
EXPECTED["kong.service.response.get_body"] = SERVICE_RESP
for _name in ("set_upstream", "set_retries", "set_timeouts"):
    EXPECTED[f"kong.service.{_name}"] = {"access"}
for _name in ("set_target", "set_tls_verify", "set_tls_verify_depth"):
    EXPECTED[f"kong.service.{_name}"] = SERVICE_REQ | {"preread"}
for _name in FUNCTIONS:
    if _name.split(".")[1] in ("vault", "plugin", "cluster", "telemetry", "enterprise_edition"):
        EXPECTED[_name] = ANY
for _name in FUNCTIONS:
    if _name.startswith("kong.request.") and _name not in EXPECTED:
        EXPECTED[_name] = REQUEST
    if _name.split(".")[1] in ("log", "ctx", "nginx", "node", "ip") and _name not in EXPECTED:
        EXPECTED[_name] = ANY


def allowed_phases(name):
    out = set()
    for phase in Phase:
        try:
            FUNCTIONS[name](KongContext(phase=phase))  # no arguments: any later error is fine
        except LuaError as e:
            if str(e).startswith("function cannot be called in"):
                continue
        except Exception:
            pass
        out.add(phase.name)
    return out


def test_every_function_has_an_entry():
    assert set(FUNCTIONS) == set(EXPECTED)
    assert {n for n, v in EXPECTED.items() if v is REQUEST} >= {"kong.request.get_header", "kong.request.get_query"}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_phases_of(name):
    assert allowed_phases(name) == EXPECTED[name]
