# A plugin file with a syntax error, as a user's half-edited file would be.
import kong_pdk.pdk.kong as kong

Schema = ({"message": {"type": "string"}},)


class Plugin(object):
    def __init__(self, config)
        self.config = config
