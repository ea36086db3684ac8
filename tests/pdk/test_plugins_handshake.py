"""ConnectionPhases' certificate handlers (the engine glue for Kong EE's
Kong.ssl_certificate wrappers), over the bare handshake of _handshake_helpers.py.

KongHarness hides the connection phases; these tests look at them (what the
handlers asked of the handshake) and at the CertificateRequest sent.
"""

from __future__ import annotations

import logging

import pytest

from _handshake_helpers import der_name, handshake
from _pki import make_ca
from purekong.runner import NativePlugin, Runner, configure, plugin_from_class


# -- the glue itself -------------------------------------------------------------------


def test_handlers_run_in_the_certificate_phase_with_checks_on(caplog):
    seen = []

    def handler(kong):
        seen.append(kong.nginx.get_var("ssl_server_name"))
        kong.log.debug("hello from the handler")
        with pytest.raises(Exception, match="only in: rewrite, access, balancer, response"):
            kong.client.tls.set_client_verify("SUCCESS")  # not in the certificate phase

    handler.name = "my-wrapper"
    caplog.set_level(logging.DEBUG, logger="purekong.kong")
    phases, done, sent = handshake([handler], server_name="sni.test")
    assert seen == [("sni.test", None)]  # lua-style kong: (value, err)
    assert "[my-wrapper] hello from the handler" in [r.getMessage() for r in caplog.records]
    assert done is not None and sent == []  # nothing requested


def test_failing_handler_aborts_the_handshake():
    def broken(kong):
        kong.client.tls.get_full_client_certificate_chain()  # not allowed in certificate: raises

    broken.name = "broken"
    phases, done, _ = handshake([broken])
    assert done is None


def test_handlers_run_after_the_global_certificate_plugins():
    root, other = make_ca("Glue Root"), make_ca("Glue Other")
    order = []

    class GlobalCert(NativePlugin):
        name = "global-cert"

        def certificate(self, kong):
            order.append("global plugin")
            kong.nginx.set_ctx("x", 1)
            kong.client.tls.request_client_certificate([other.cert])

    def requester(kong):
        assert kong.nginx.get_ctx("x") == (None, None)  # a fresh ngx.ctx, as Kong clears it
        order.append("handler")
        kong.client.tls.request_client_certificate([root.cert])  # replaces the list

    def nil_requester(kong):
        order.append("second handler")
        kong.client.tls.request_client_certificate(None)  # keeps it

    runner = Runner([configure(plugin_from_class(GlobalCert))])
    phases, done, sent = handshake([requester, nil_requester], runner=runner)
    assert order == ["global plugin", "handler", "second handler"]
    assert sent == [[der_name(root)]]
    assert phases.requests.ca_certificates == [root.cert]


def test_a_failing_global_plugin_skips_the_handlers():
    class Broken(NativePlugin):
        name = "broken-global"

        def certificate(self, kong):
            raise RuntimeError("boom")

    called = []
    phases, done, _ = handshake([lambda kong: called.append(1)],
                                runner=Runner([configure(plugin_from_class(Broken))]))
    assert done is None and called == []
