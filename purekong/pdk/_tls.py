"""``kong.client.tls`` (Kong ``kong/pdk/client/tls.lua`` plus the 3.9 ``disable_http2_alpn``).

Phase masks are the ones in Kong's code, not its docs (spec §9).  With Kong's
checks off, the OpenResty-level behaviour remains: functions bound to the TLS
handshake hooks throw "API disabled in the current context" elsewhere.
"""

from __future__ import annotations

import logging

from cryptography import x509

from ._errors import LuaError
from ._headers import lua_type
from ._phases import NGINX_PHASE, Phase
from ._registry import pdk_function

_API_DISABLED = "API disabled in the current context"
_NOT_TLS = "connection is not TLS or TLS support for Nginx not enabled"

REWRITE_AND_LATER = Phase.rewrite | Phase.access | Phase.response | Phase.balancer | Phase.log
REWRITE_BEFORE_LOG = Phase.rewrite | Phase.access | Phase.response | Phase.balancer

# lua-kong-nginx-module's own whitelist for the chain getter (nginx phases).
_CHAIN_NGX_PHASES = {"rewrite", "balancer", "access", "content", "log", "preread"}

_log = logging.getLogger("purekong.kong")


def _nginx_phase(ctx) -> str | None:
    return NGINX_PHASE.get(ctx.phase) if ctx.phase is not None else None


def parse_ca_certs(ca_certs: object) -> list[x509.Certificate]:
    """PEM text (one or more certs), or a list of PEM strings / certificates."""
    if isinstance(ca_certs, (str, bytes)):
        data = ca_certs.encode("ascii") if isinstance(ca_certs, str) else ca_certs
        try:
            return x509.load_pem_x509_certificates(data)
        except ValueError:
            raise LuaError("ca_certs: no valid PEM certificate found") from None
    if isinstance(ca_certs, (list, tuple)):
        out: list[x509.Certificate] = []
        for item in ca_certs:
            if isinstance(item, x509.Certificate):
                out.append(item)
            elif isinstance(item, (str, bytes)):
                out.extend(parse_ca_certs(item))
            else:
                raise LuaError(
                    "ca_certs: expected PEM text or x509.Certificate items, "
                    f"got {type(item).__name__}"
                )
        return out
    # Kong: a LuaJIT FFI conversion error (thrown) for a non-pointer value.
    raise LuaError(
        "ca_certs: expected PEM text or a list of certificates, "
        f"got {lua_type(ca_certs)}"
    )


@pdk_function("kong.client.tls.request_client_certificate", Phase.certificate)
def request_client_certificate(ctx, ca_certs=None):
    # ngx.ssl.verify_client returns (not throws) this outside ssl_certificate_by_lua.
    if _nginx_phase(ctx) != "ssl_cert" or ctx.handshake is None:
        return None, _API_DISABLED
    cas = parse_ca_certs(ca_certs) if ca_certs is not None else None
    ctx.handshake.request_client_certificate = True
    if cas is not None:
        # A new store and DN list replace any earlier ones; None keeps them.
        ctx.handshake.ca_certificates = cas
    return True, None


@pdk_function("kong.client.tls.disable_session_reuse", Phase.certificate)
def disable_session_reuse(ctx):
    if _nginx_phase(ctx) != "ssl_cert" or ctx.handshake is None:
        raise LuaError(_API_DISABLED)
    ctx.handshake.disable_session_reuse = True
    return True, None


@pdk_function("kong.client.tls.get_full_client_certificate_chain", REWRITE_AND_LATER)
def get_full_client_certificate_chain(ctx):
    if _nginx_phase(ctx) not in _CHAIN_NGX_PHASES:
        raise LuaError(_API_DISABLED)
    tls = ctx.conn.tls
    if not tls.is_tls:
        return None, _NOT_TLS
    # None both without a client certificate and on a resumed session.
    return tls.client_chain_pem, None


@pdk_function("kong.client.tls.set_client_verify", REWRITE_BEFORE_LOG)
def set_client_verify(ctx, v):
    if not isinstance(v, str):
        raise LuaError("assertion failed!")
    if v != "SUCCESS" and v != "NONE" and not v.startswith("FAILED:"):
        raise LuaError(
            f"unknown client verify value: {v} accepted values are: "
            '"SUCCESS", "NONE" or "FAILED:<reason>"'
        )
    ctx.client_verify_override = v  # the last call wins
    return None, None


@pdk_function("kong.client.tls.disable_http2_alpn", Phase.client_hello)
def disable_http2_alpn(ctx):
    if _nginx_phase(ctx) != "ssl_client_hello":
        raise LuaError(_API_DISABLED)
    if ctx.handshake is None:
        return False, "bad request"  # false, not nil (spec §3.5)
    ctx.handshake.disable_http2_alpn = True
    _log.info("lua ssl disable http2")
    return True, None
