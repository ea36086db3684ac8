# A plugin that decides where the request goes (kong.service.set_target and
# set_timeouts), as load-balancing and canary plugins in the wild do, and
# reports what the PDK tells it about the request and the worker.
import json

import kong_pdk.pdk.kong as kong

Schema = (
    {"host": {"type": "string", "required": True}},
    {"port": {"type": "integer", "required": True}},
    {"read_timeout": {"type": "integer"}},
)
version = "0.1.0"
priority = 0


class Plugin(object):
    def __init__(self, config):
        self.config = config

    def access(self, kong: kong.kong):
        kong.service.set_target(self.config["host"], self.config["port"])
        if "read_timeout" in self.config:
            kong.service.set_timeouts(1000, 1000, self.config["read_timeout"])
        seen, _ = kong.nginx.shared.incr("retarget-requests", 1, 0)
        consumer, _ = kong.client.load_consumer("alice", True)
        prefix, _ = kong.request.get_forwarded_prefix()
        stats, _ = kong.nginx.get_statistics()
        kong.response.set_header("X-Retarget", json.dumps({
            "seen": seen, "consumer": consumer and consumer["username"], "prefix": prefix,
            "total_requests": stats["total_requests"], "active": stats["connections_active"],
            "plugin_id": kong.plugin.get_id()[0],
        }))
