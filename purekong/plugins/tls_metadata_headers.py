"""tls-metadata-headers (Kong EE 3.0+): pass the client certificate upstream.

With ``inject_client_cert_details`` on, and a client certificate on the
connection (some plugin must have asked for it: tls-handshake-modifier or
mtls-auth), it sets on the proxied request:

=========================================  ===================================
header (configurable name)                 value (nginx variable)
=========================================  ===================================
``X-Client-Cert``                          ``$ssl_client_escaped_cert``: the leaf
                                           PEM, URL-escaped by nginx
``X-Client-Cert-Serial``                   ``$ssl_client_serial``: uppercase hex
``X-Client-Cert-Issuer-DN``                ``$ssl_client_i_dn``: RFC 2253
``X-Client-Cert-Subject-DN``               ``$ssl_client_s_dn``: RFC 2253
``X-Client-Cert-Fingerprint``              ``$ssl_client_fingerprint``: SHA-1 hex
``X-Client-Cert-Chain`` (fixed name)       ``ngx.escape_uri(full chain PEM)``
=========================================  ===================================

It never validates the certificate.  Without one it logs, at error level, the
two messages Kong logs and sets nothing.

Source: Kong/kong ``kong/plugins/tls-metadata-headers/handler.lua`` (3.8.0.0
version: the chain header, no XFCC header) and ``schema.lua``.
"""

from __future__ import annotations

from typing import Any

from cryptography import x509

from purekong.gateway import Declarative
from purekong.runner import NativePlugin

from . import _nginx

CLIENT_CERT_CHAIN_HEADER = "X-Client-Cert-Chain"


class TLSMetadataHeaders(NativePlugin):
    name = "tls-metadata-headers"
    priority = 996  # after tls-handshake-modifier (997)
    version = "3.9.0"
    lua_style = True
    schema = (
        {"inject_client_cert_details": {"type": "boolean", "default": False}},
        {"client_cert_header_name": {"type": "string", "required": True, "default": "X-Client-Cert"}},
        {"client_serial_header_name": {"type": "string", "required": True, "default": "X-Client-Cert-Serial"}},
        {"client_cert_issuer_dn_header_name": {
            "type": "string", "required": True, "default": "X-Client-Cert-Issuer-DN"}},
        {"client_cert_subject_dn_header_name": {
            "type": "string", "required": True, "default": "X-Client-Cert-Subject-DN"}},
        {"client_cert_fingerprint_header_name": {
            "type": "string", "required": True, "default": "X-Client-Cert-Fingerprint"}},
    )

    def __init__(self, config: dict, entities: Declarative | None = None) -> None:
        super().__init__(config)

    def access(self, kong: Any) -> None:
        conf = self.config
        if not conf["inject_client_cert_details"]:
            return

        # Kong reads nginx's $ssl_client_* variables and calls
        # resty.kong.tls.get_full_client_certificate_chain(); purekong derives
        # the variables from that chain, whose first certificate is the leaf.
        chain, _ = kong.client.tls.get_full_client_certificate_chain()
        leaf = x509.load_pem_x509_certificates(chain.encode("ascii"))[0] if chain else None

        if leaf is not None:
            set_header = kong.service.request.set_header
            for header, value in (
                (conf["client_cert_header_name"], _nginx.escaped_cert(leaf)),
                (conf["client_serial_header_name"], _nginx.serial(leaf)),
                (conf["client_cert_issuer_dn_header_name"], _nginx.issuer_dn(leaf)),
                (conf["client_cert_subject_dn_header_name"], _nginx.subject_dn(leaf)),
                (conf["client_cert_fingerprint_header_name"], _nginx.fingerprint(leaf)),
            ):
                # An empty DN is "not found" for nginx (nil in Lua); Kong
                # 3.12.0.0 stopped failing on it.  We leave the header out.
                if value is not None:
                    set_header(header, value)
        else:
            kong.log.err(
                "plugin enabled to inject tls client certificate headers, but "
                "no client certificate was provided"
            )

        if chain:
            kong.service.request.set_header(CLIENT_CERT_CHAIN_HEADER, _nginx.lua_escape_uri(chain))
        else:
            kong.log.err("could not get full client certificate chain")
