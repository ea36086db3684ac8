# Kong Python PDK plugin: disables session reuse in the certificate phase
# when configured to, as Kong's tls-handshake-modifier does.
Schema = ({"disable": {"type": "boolean", "default": False}},)
priority = 10


class Plugin:
    def __init__(self, config):
        self.config = config

    def certificate(self, kong):
        if self.config["disable"]:
            ok, err = kong.client.tls.disable_session_reuse()
            assert ok is True and err is None
