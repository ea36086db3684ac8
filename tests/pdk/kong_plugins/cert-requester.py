# A plugin written for Kong's Python PDK, exactly as its docs show: it runs
# unchanged under purekong (the kong_pdk import is only for type hints).
import kong_pdk.pdk.kong as kong

Schema = (
    {"ca_pem": {"type": "string"}},
    {"override": {"type": "string"}},
)
version = "0.1.0"
priority = 1000


class Plugin(object):
    def __init__(self, config):
        self.config = config

    def certificate(self, kong: kong.kong):
        ok, err = kong.client.tls.request_client_certificate(self.config.get("ca_pem"))
        if err:
            kong.log.err("request_client_certificate: ", err)
        kong.client.tls.disable_session_reuse()

    def access(self, kong: kong.kong):
        chain, err = kong.client.tls.get_full_client_certificate_chain()
        count = chain.count("BEGIN CERTIFICATE") if chain else 0
        kong.service.request.set_header("X-Client-Chain-Length", str(count))
        if self.config.get("override"):
            kong.client.tls.set_client_verify(self.config["override"])
