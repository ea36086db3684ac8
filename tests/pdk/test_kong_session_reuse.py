"""Kong's session-reuse scenarios (spec §6.D 1-4), through the phase runner.

A stdlib ``ssl`` client (OpenSSL) connects twice to a purekong server whose
certificate phase runs a Kong Python PDK plugin; the second connection offers
the first one's session. Without ``disable_session_reuse()`` it is resumed (and
the certificate phase does not run again); with it, it is not.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from _pki import make_ca, make_leaf
from _phases_helpers import connect
from purekong.engine import CertifiedKey, ServerConfig
from purekong.runner import Runner, configure, load_plugin_file
from purekong.runner import ConnectionPhases

PLUGIN = Path(__file__).parent / "kong_plugins" / "reuse-toggle.py"


@pytest.fixture(scope="module")
def setup():
    root = make_ca("Reuse Test CA")
    san = x509.SubjectAlternativeName([x509.DNSName("localhost")])
    server = make_leaf(root, "localhost", eku=[ExtendedKeyUsageOID.SERVER_AUTH], extensions=[(san, False)])
    config = ServerConfig(certificates=(CertifiedKey((server.cert,), server.key),))
    return root, config


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
@pytest.mark.parametrize("tickets", [True, False], ids=["tickets", "session-cache"])
@pytest.mark.parametrize("disable", [False, True], ids=["reuse", "disable_session_reuse"])
def test_session_reuse(setup, version, tickets, disable):
    root, config = setup
    runner = Runner([configure(load_plugin_file(PLUGIN), {"disable": disable})])
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cadata=root.pem)
    ctx.minimum_version = ctx.maximum_version = version
    if not tickets:
        ctx.options |= ssl.OP_NO_TICKET  # TLS 1.2: session IDs instead of tickets
    first, first_server, first_hellos = connect(config, ConnectionPhases(runner), ctx)
    second, second_server, second_hellos = connect(config, ConnectionPhases(runner), ctx, session=first.session)
    first_phases = sum(not hello.resumes_session for hello in first_hellos)  # certificate phases run
    second_phases = sum(not hello.resumes_session for hello in second_hellos)
    assert first_phases == 1 and not first_server.handshake.resumed
    if disable:
        assert not second.session_reused and not second_server.handshake.resumed
        assert second_phases == 1  # a full handshake: the certificate phase runs again
    else:
        assert second.session_reused and second_server.handshake.resumed
        assert second_phases == 0  # nginx runs no certificate phase on resumption
        assert second_server.handshake.peer_certificates is None
