#!/usr/bin/env python3
# A Kong Python PDK plugin written to run under either call style.
import kong_pdk.pdk.kong as kong
from kong_pdk.exception import PDKException

Schema = (
    {"header": {"type": "string", "default": "x-token"}},
    {"token": {"type": "string", "required": True}},
    {"upstream_header": {"type": "string", "default": "x-authenticated"}},
)

version = "1.0.0"
priority = 1000


def _data(result):
    # lua-style returns (data, err); --no-lua-style returns data or raises.
    return result[0] if isinstance(result, tuple) else result


class Plugin(object):
    def __init__(self, config):
        self.config = config

    def access(self, kong: kong.kong):
        try:
            token = _data(kong.request.get_header(self.config["header"]))
        except PDKException as exc:
            kong.log.err("cannot read the token: ", exc)
            return kong.response.exit(500, {"message": "internal"})
        if token != self.config["token"]:
            return kong.response.exit(401, {"message": "Unauthorized"}, {"WWW-Authenticate": "Token"})
        kong.service.request.set_header(self.config["upstream_header"], "yes")
        kong.ctx.shared.set("authenticated", True)

    def log(self, kong: kong.kong):
        kong.log.info("authenticated=", _data(kong.ctx.shared.get("authenticated")))


if __name__ == "__main__":
    from kong_pdk.cli import start_dedicated_server
    start_dedicated_server("py-gatekeeper", Plugin, version, priority, Schema)
