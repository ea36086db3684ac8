"""What Kong EE's TLS plugins do at the handshake (the certificate phase).

They are not certificate-phase plugins: each one's ``init_worker`` wraps
``Kong.ssl_certificate`` so that, after Kong's own certificate phase (server
certificate, global plugins), it

1. sets the phase to ``certificate`` and namespaces ``kong.log`` with the
   plugin's name;
2. gets the plugin's SNI set (:mod:`._sni`, cached forever in Kong; here
   built once from the configuration);
3. runs ``certificate.execute(snis_set)``: match the SNI, then ask for a
   client certificate (with the merged CA DNs for mtls-auth's ``send_ca_dn``)
   and always disable session reuse, so the certificate is there again on the
   client's next connection.

Sources: Kong/kong ``kong/plugins/tls-handshake-modifier/handler.lua``,
``plugins-ee/mtls-auth/kong/plugins/mtls-auth/handler.lua``,
``kong/enterprise_edition/tls/plugins/certificate.lua`` (EE; the OSS 3.9.x copy
is ``kong/tls/plugins/certificate.lua``).

A :class:`CertificateRequester` is called by the engine glue
(``ConnectionPhases(certificate_handlers=...)``) with a lua-style ``kong``
object in the certificate phase, phase checks on.
"""

from __future__ import annotations

from typing import Any

from ._sni import SNISet, match_sni


class CertificateRequester:
    """One plugin's ``Kong.ssl_certificate`` wrapper."""

    def __init__(self, name: str, sni_set: SNISet) -> None:
        #: The plugin name; the engine glue puts it on kong.log lines.
        self.name = name
        self.sni_set = sni_set

    def __repr__(self) -> str:
        return f"<CertificateRequester {self.name}>"

    def __call__(self, kong: Any) -> None:
        # ngx.ssl.server_name(): the SNI of the ClientHello, or nil.
        server_name, _ = kong.nginx.get_var("ssl_server_name")
        entry = match_sni(self.sni_set, server_name, kong.log.debug)
        if entry is None:
            return

        kong.log.debug("enabled, will request certificate from client")
        chain = None
        if entry.ca_certificates is not None:  # some instance has send_ca_dn
            kong.log.debug("set client ca certificate chain")
            chain = entry.ca_certificates

        ok, err = kong.client.tls.request_client_certificate(chain)
        if not ok:
            kong.log.err("unable to request client to present its certificate: ", err)

        # Without this the client could resume next time, and a resumed
        # session has no certificate chain for the later phases.
        ok, err = kong.client.tls.disable_session_reuse()
        if not ok:
            kong.log.err("unable to disable session reuse for client certificate: ", err)
