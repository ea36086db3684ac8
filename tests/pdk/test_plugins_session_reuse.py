"""The handshake plugins always disable session reuse where they ask for a
certificate, so the client's next connection does a full handshake and the
certificate is requested (and available) again. Elsewhere resumption works.

A stdlib ``ssl`` (OpenSSL) client connects twice to a purekong server whose
ConnectionPhases run the built-in certificate handlers.
"""

from __future__ import annotations

import ssl

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from _pki import make_ca, make_leaf
from _phases_helpers import connect as connect_through_phases
from purekong.engine import CertifiedKey, ServerConfig
from purekong.gateway import Declarative, PluginEntity, Route, Service
from purekong.plugins import certificate_handlers
from purekong.runner import Runner
from purekong.runner import ConnectionPhases


@pytest.fixture(scope="module")
def setup():
    root = make_ca("Reuse Plugins CA")
    names = [x509.DNSName(n) for n in ("localhost", "mtls.test")]
    server = make_leaf(root, "localhost", eku=[ExtendedKeyUsageOID.SERVER_AUTH],
                       extensions=[(x509.SubjectAlternativeName(names), False)])
    config = ServerConfig(certificates=(CertifiedKey((server.cert,), server.key),))
    decl = Declarative(
        services=(Service("s", "s", "http"),),
        routes=(Route("r", "r", "s", snis=("mtls.test",)),),
        plugins=(PluginEntity("t", "tls-handshake-modifier", {}, route="r"),),
    )
    return root, config, certificate_handlers(decl)


def connect(config, handlers, ctx, server_name, session=None):
    phases = ConnectionPhases(Runner([]), certificate_handlers=handlers)
    client, server, _ = connect_through_phases(config, phases, ctx, server_name, session)
    return client, server, phases


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
@pytest.mark.parametrize("server_name, requested", [("mtls.test", True), ("localhost", False)])
def test_reuse_is_disabled_exactly_where_a_certificate_is_requested(setup, version, server_name, requested):
    root, config, handlers = setup
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cadata=root.pem)
    ctx.minimum_version = ctx.maximum_version = version
    first, _, phases = connect(config, handlers, ctx, server_name)
    assert phases.requests.request_client_certificate is requested
    assert phases.requests.disable_session_reuse is requested
    second, second_server, _ = connect(config, handlers, ctx, server_name, session=first.session)
    assert second.session_reused is not requested
    assert second_server.handshake.resumed is not requested
