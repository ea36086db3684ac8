# A plugin that blocks in time.sleep, as rate limiters and retry loops in the
# wild do.
import time

import kong_pdk.pdk.kong as kong

Schema = ({"seconds": {"type": "number", "default": 2}},)
version = "0.1.0"
priority = 0


class Plugin(object):
    def __init__(self, config):
        self.config = config

    def access(self, kong: kong.kong):
        time.sleep(self.config["seconds"])
        kong.response.set_header("X-Slept", str(self.config["seconds"]))
