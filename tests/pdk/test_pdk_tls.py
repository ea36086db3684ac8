"""``kong.client.tls``: phase matrix, checks-off semantics, messages, tuple shapes
(spec kong-client-tls.md §3, §6.A, §8)."""

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from purekong.pdk import (
    ConnectionInfo,
    HandshakeRequests,
    KongContext,
    LuaError,
    PDKException,
    Phase,
    Request,
    TLSInfo,
    make_kong,
)

ALL_PHASES = list(Phase)
API_DISABLED = "API disabled in the current context"
NOT_TLS = "connection is not TLS or TLS support for Nginx not enabled"

# function -> (args, phases allowed by Kong's *code*, names in its message)
MATRIX = {
    "request_client_certificate": ((), {"certificate"}, "certificate"),
    "disable_session_reuse": ((), {"certificate"}, "certificate"),
    "get_full_client_certificate_chain": (
        (),
        {"rewrite", "access", "balancer", "response", "log"},
        "rewrite, access, balancer, response, log",
    ),
    "set_client_verify": (
        ("SUCCESS",),
        {"rewrite", "access", "balancer", "response"},
        "rewrite, access, balancer, response",
    ),
    "disable_http2_alpn": ((), {"client_hello"}, "client_hello"),
}

TLS13 = TLSInfo(version="TLSv1.3", cipher="TLS_AES_256_GCM_SHA384", client_verify="NONE")


def make_ctx(phase, *, check_phases=True, tls=TLS13, handshake=None):
    handshake = handshake if handshake is not None else HandshakeRequests()
    return KongContext(
        phase=phase,
        check_phases=check_phases,
        conn=ConnectionInfo(tls=tls),
        request=Request(),
        handshake=handshake,
    )


def tls_api(ctx, lua_style=True):
    return make_kong(ctx, lua_style=lua_style).client.tls


@pytest.mark.parametrize("phase", ALL_PHASES, ids=lambda p: p.name)
@pytest.mark.parametrize("func", sorted(MATRIX))
def test_phase_matrix_with_checks_on(func, phase):
    args, allowed, names = MATRIX[func]
    call = getattr(tls_api(make_ctx(phase)), func)
    if phase.name in allowed:
        call(*args)  # must not raise
    else:
        with pytest.raises(LuaError) as e:
            call(*args)
        assert str(e.value) == f"function cannot be called in {phase.name} phase (only in: {names})"


def test_documented_but_rejected_phases():
    # Spec §9: the docs list header_filter/body_filter for the chain getter and
    # omit response for set_client_verify; the code wins.
    for phase in (Phase.header_filter, Phase.body_filter):
        with pytest.raises(LuaError):
            tls_api(make_ctx(phase)).get_full_client_certificate_chain()
    assert tls_api(make_ctx(Phase.response)).get_full_client_certificate_chain() == (None, None)
    assert tls_api(make_ctx(Phase.response)).set_client_verify("NONE") == (None, None)


@pytest.mark.parametrize("func", sorted(MATRIX))
def test_no_phase_message(func):
    args, _, names = MATRIX[func]
    with pytest.raises(LuaError) as e:
        getattr(tls_api(make_ctx(None)), func)(*args)
    assert str(e.value) == f"no phase in ngx.ctx.KONG_PHASE, (need one of {names})"


# Spec §6.A, checks off (kong.ctx = nil), the phases Kong's test exercises:
# True = no throw, False = OpenResty-level throw, "forced" = no throw.
EXERCISED = ["init_worker", "certificate", "client_hello", "header_filter", "body_filter", "log"]
CHECKS_OFF = {
    "request_client_certificate": ["forced", True, "forced", "forced", "forced", "forced"],
    "disable_session_reuse": [False, True, False, False, False, False],
    "get_full_client_certificate_chain": [False, False, False, False, False, True],
    "set_client_verify": ["forced", "forced", "forced", "forced", "forced", "forced"],
    "disable_http2_alpn": [False, False, True, False, False, False],
}


@pytest.mark.parametrize("func", sorted(CHECKS_OFF))
@pytest.mark.parametrize("index", range(len(EXERCISED)), ids=EXERCISED)
def test_checks_off_semantics(func, index):
    phase = Phase[EXERCISED[index]]
    expect = CHECKS_OFF[func][index]
    args = MATRIX[func][0]
    call = getattr(tls_api(make_ctx(phase, check_phases=False)), func)
    if expect is False:
        with pytest.raises(LuaError) as e:
            call(*args)
        assert str(e.value) == API_DISABLED
    else:
        call(*args)


def test_checks_off_request_outside_handshake_returns_the_error():
    # ngx.ssl.verify_client *returns* this error outside ssl_certificate_by_lua.
    ctx = make_ctx(Phase.access, check_phases=False)
    assert tls_api(ctx).request_client_certificate() == (None, API_DISABLED)
    assert ctx.handshake.request_client_certificate is False
    with pytest.raises(PDKException) as e:
        tls_api(ctx, lua_style=False).request_client_certificate()
    assert str(e.value) == f"exception from kong.client.tls.request_client_certificate: {API_DISABLED}"


# -- certificates ---------------------------------------------------------


def _name(cn):
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Kong Testing"),
        x509.NameAttribute(NameOID.COMMON_NAME, cn),
    ])


def _cert(cn, issuer_cn, key, issuer_key):
    now = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(issuer_cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(issuer_key, hashes.SHA256())
    )


@pytest.fixture(scope="module")
def cas():
    root_key = ec.generate_private_key(ec.SECP256R1())
    inter_key = ec.generate_private_key(ec.SECP256R1())
    root = _cert("Kong Testing Root CA", "Kong Testing Root CA", root_key, root_key)
    inter = _cert("Kong Testing Intermidiate CA", "Kong Testing Root CA", inter_key, root_key)
    return inter, root


def pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def test_request_without_ca_list():
    ctx = make_ctx(Phase.certificate)
    assert tls_api(ctx).request_client_certificate() == (True, None)
    assert ctx.handshake == HandshakeRequests(request_client_certificate=True)


def test_request_with_pem_text_keeps_order(cas):
    inter, root = cas
    ctx = make_ctx(Phase.certificate)
    assert tls_api(ctx).request_client_certificate(pem(inter) + pem(root)) == (True, None)
    assert ctx.handshake.ca_certificates == [inter, root]
    subjects = [c.subject.rfc4514_string() for c in ctx.handshake.ca_certificates]
    assert subjects[0].startswith("CN=Kong Testing Intermidiate CA")


@pytest.mark.parametrize("form", ["pem-list", "objects", "mixed", "tuple"])
def test_request_with_list_forms(cas, form):
    inter, root = cas
    arg = {
        "pem-list": [pem(root), pem(inter)],
        "objects": [root, inter],
        "mixed": [root, pem(inter)],
        "tuple": (root, inter),
    }[form]
    ctx = make_ctx(Phase.certificate)
    tls_api(ctx, lua_style=False).request_client_certificate(arg)
    assert ctx.handshake.ca_certificates == [root, inter]


def test_second_call_replaces_and_none_keeps(cas):
    inter, root = cas
    ctx = make_ctx(Phase.certificate)
    api = tls_api(ctx)
    api.request_client_certificate([inter, root])
    api.request_client_certificate([root])
    assert ctx.handshake.ca_certificates == [root]
    api.request_client_certificate()
    assert ctx.handshake.ca_certificates == [root]


def test_empty_list_is_an_empty_dn_list():
    ctx = make_ctx(Phase.certificate)
    tls_api(ctx).request_client_certificate([])
    assert ctx.handshake.ca_certificates == []
    assert ctx.handshake.request_client_certificate


@pytest.mark.parametrize("bad", [42, {"a": 1}, "not a pem", [object()]])
@pytest.mark.parametrize("lua_style", [True, False])
def test_bad_ca_certs_raise_in_both_styles(bad, lua_style):
    ctx = make_ctx(Phase.certificate)
    with pytest.raises(LuaError, match="^ca_certs: "):
        tls_api(ctx, lua_style).request_client_certificate(bad)
    assert ctx.handshake.request_client_certificate is False


def test_disable_session_reuse_shapes():
    ctx = make_ctx(Phase.certificate)
    assert tls_api(ctx).disable_session_reuse() == (True, None)
    assert ctx.handshake.disable_session_reuse
    assert tls_api(make_ctx(Phase.certificate), False).disable_session_reuse() is True


def test_disable_http2_alpn_shapes():
    ctx = make_ctx(Phase.client_hello)
    assert tls_api(ctx).disable_http2_alpn() == (True, None)
    assert ctx.handshake.disable_http2_alpn
    # false, not nil, on failure (spec §3.5)
    no_handshake = KongContext(phase=Phase.client_hello)
    assert tls_api(no_handshake).disable_http2_alpn() == (False, "bad request")


CHAIN = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"


@pytest.mark.parametrize(
    "tls, lua, python",
    [
        (TLSInfo("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256", "FAILED:x", CHAIN), (CHAIN, None), CHAIN),
        (TLS13, (None, None), None),  # no cert, or a resumed session
        (TLSInfo(), (None, NOT_TLS), PDKException),  # plain HTTP
    ],
    ids=["cert", "no-cert", "plain"],
)
def test_chain_getter_shapes(tls, lua, python):
    assert tls_api(make_ctx(Phase.access, tls=tls)).get_full_client_certificate_chain() == lua
    call = tls_api(make_ctx(Phase.access, tls=tls), False).get_full_client_certificate_chain
    if python is PDKException:
        with pytest.raises(PDKException) as e:
            call()
        assert str(e.value) == f"exception from kong.client.tls.get_full_client_certificate_chain: {NOT_TLS}"
    else:
        assert call() == python


@pytest.mark.parametrize("v", ["SUCCESS", "NONE", "FAILED:", "FAILED:self-signed certificate"])
def test_set_client_verify_accepts(v):
    ctx = make_ctx(Phase.access)
    assert tls_api(ctx).set_client_verify(v) == (None, None)
    assert tls_api(ctx, False).set_client_verify(v) is None
    assert ctx.client_verify_override == v


@pytest.mark.parametrize("v", ["success", "FAILED", "failed:x", "", "NONE "])
@pytest.mark.parametrize("lua_style", [True, False])
def test_set_client_verify_value_error(v, lua_style):
    ctx = make_ctx(Phase.access)
    with pytest.raises(LuaError) as e:
        tls_api(ctx, lua_style).set_client_verify(v)
    assert str(e.value) == (
        f"unknown client verify value: {v} accepted values are: "
        '"SUCCESS", "NONE" or "FAILED:<reason>"'
    )
    assert ctx.client_verify_override is None


@pytest.mark.parametrize("v", [None, 1, b"SUCCESS", ["SUCCESS"]])
@pytest.mark.parametrize("lua_style", [True, False])
def test_set_client_verify_type_error(v, lua_style):
    with pytest.raises(LuaError) as e:
        tls_api(make_ctx(Phase.access), lua_style).set_client_verify(v)
    assert str(e.value) == "assertion failed!"


def test_phase_error_beats_type_error():
    # Kong checks the phase first.
    with pytest.raises(LuaError, match="^function cannot be called in log phase"):
        tls_api(make_ctx(Phase.log)).set_client_verify(None)
