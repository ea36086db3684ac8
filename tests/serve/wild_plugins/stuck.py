# A plugin that never returns (a lock that is never released).
import threading

import kong_pdk.pdk.kong as kong

Schema = ()
version = "0.1.0"
priority = 0
_never = threading.Event()


class Plugin(object):
    def __init__(self, config):
        self.config = config

    def access(self, kong: kong.kong):
        _never.wait()
