"""tls-handshake-modifier (Kong EE 3.0+): ask TLS clients for a certificate.

Its whole job is done at the handshake, by the certificate-phase wrapper
(:mod:`purekong.plugins._handshake`): on the SNIs of the routes it is enabled
for (``*`` when global or on a route without SNIs), it requests a client
certificate without sending CA names and disables session reuse.  It never
validates anything; it only makes the certificate available to later plugins
(tls-metadata-headers, custom ones).  Its access phase does nothing.

Source: Kong/kong ``kong/plugins/tls-handshake-modifier/{handler,schema}.lua``.
"""

from __future__ import annotations

from typing import Any

from purekong.gateway import Declarative
from purekong.runner import NativePlugin


class TLSHandshakeModifier(NativePlugin):
    name = "tls-handshake-modifier"
    priority = 997  # before tls-metadata-headers (996)
    version = "3.9.0"
    lua_style = True
    schema = (
        {"tls_client_certificate": {"type": "string", "required": False, "one_of": ["REQUEST"], "default": "REQUEST"}},
    )

    def __init__(self, config: dict, entities: Declarative | None = None) -> None:
        super().__init__(config)

    def access(self, kong: Any) -> None:
        pass  # as in Kong: everything happened during the handshake
