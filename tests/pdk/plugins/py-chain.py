#!/usr/bin/env python3
# Reads the client chain (python style) and overrides client_verify.
import kong_pdk.pdk.kong as kong
from kong_pdk.exception import PDKException

version = "0.1.0"
priority = 1600


class Plugin(object):
    def __init__(self, config):
        self.config = config

    def certificate(self, kong: kong.kong):
        kong.client.tls.request_client_certificate()
        kong.client.tls.disable_session_reuse()

    def access(self, kong: kong.kong):
        try:
            chain = kong.client.tls.get_full_client_certificate_chain()
        except PDKException as exc:
            kong.client.tls.set_client_verify("NONE")
            return kong.response.exit(401, {"message": "No required TLS certificate was sent"})
        if chain is None:
            kong.client.tls.set_client_verify("NONE")
            return kong.response.exit(401, {"message": "No required TLS certificate was sent"})
        kong.client.tls.set_client_verify("SUCCESS")
        kong.service.request.set_header("x-client-chain-certs", str(chain.count("BEGIN CERTIFICATE")))
