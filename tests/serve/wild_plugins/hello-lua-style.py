# Kong's py-hello, written in the default (lua) style: (value, err) tuples.
import kong_pdk.pdk.kong as kong

Schema = ({"message": {"type": "string", "default": "hello"}},)
version = "0.1.0"
priority = 0


class Plugin(object):
    def __init__(self, config):
        self.config = config

    def access(self, kong: kong.kong):
        host, err = kong.request.get_header("host")
        if err:
            host = "?"
        kong.response.set_header("X-Hello", "%s to %s" % (self.config["message"], host))
