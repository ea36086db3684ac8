# A log-phase plugin that ships its log line somewhere slow (here: it waits
# until a file appears, then writes another), as HTTP-log and Kafka-log
# plugins do. Kong runs the log phase after the response went out.
import os
import time

import kong_pdk.pdk.kong as kong

Schema = ({"gate": {"type": "string", "required": True}}, {"done": {"type": "string", "required": True}})
version = "0.1.0"
priority = 0


class Plugin(object):
    def __init__(self, config):
        self.config = config

    def log(self, kong: kong.kong):
        while not os.path.exists(self.config["gate"]):
            time.sleep(0.01)
        status = kong.response.get_status()[0]
        with open(self.config["done"], "w") as f:
            f.write(str(status))
