# A plugin that calls a web service synchronously with requests, as geocoding,
# token-introspection and allow-list plugins in the wild do.
import requests

import kong_pdk.pdk.kong as kong

Schema = ({"url": {"type": "string", "required": True}},)
version = "0.1.0"
priority = 100


class Plugin(object):
    def __init__(self, config):
        self.config = config

    def access(self, kong: kong.kong):
        path, _ = kong.request.get_path()
        answer = requests.get(self.config["url"], params={"for": path}, timeout=30)
        kong.service.request.set_header("X-Lookup", answer.headers.get("X-Upstream", "none"))
        kong.response.set_header("X-Lookup-Status", str(answer.status_code))
