# The python-style plugin again, declaring its own style (purekong's extension),
# so it runs whatever --plugin-style the server has.
lua_style = False
import kong_pdk.pdk.kong as kong
from kong_pdk.pdk import PDKException

Schema = ({"message": {"type": "string", "default": "hello"}},)
version = "0.1.0"
priority = 0


class Plugin(object):
    def __init__(self, config):
        self.config = config

    def access(self, kong: kong.kong):
        try:
            host = kong.request.get_header("host")
        except PDKException:
            host = "?"
        kong.response.set_header("X-Hello", "%s to %s" % (self.config["message"], host))
