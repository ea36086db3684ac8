# A plugin that calls a PDK name Kong does not have (kong.log.error; Kong's is
# kong.log.err) and carries on, as it does under Kong.
import kong_pdk.pdk.kong as kong

Schema = ()
version = "0.1.0"
priority = 0


class Plugin(object):
    def __init__(self, config):
        self.config = config

    def access(self, kong: kong.kong):
        answer = kong.log.error("this name does not exist")
        kong.response.set_header("X-Missing-Answer", repr(answer))
