# A plugin whose constructor fails on its configuration, as plugins in the
# wild do when a required setting is missing.
import kong_pdk.pdk.kong as kong

Schema = ({"endpoint": {"type": "string"}},)
version = "0.1.0"
priority = 0


class Plugin(object):
    def __init__(self, config):
        self.endpoint = config["endpoint"]  # KeyError: Kong strips the unset field

    def access(self, kong: kong.kong):
        pass
