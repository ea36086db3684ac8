# A plugin with a typed schema, configured with the wrong type.
import kong_pdk.pdk.kong as kong

Schema = ({"count": {"type": "integer"}},)
version = "0.1.0"
priority = 0


class Plugin(object):
    def __init__(self, config):
        self.config = config

    def access(self, kong: kong.kong):
        pass
