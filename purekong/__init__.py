"""purekong: a pure-Python, sans-IO TLS 1.2/1.3 engine with Kong's ``kong.client.tls``.

Subpackages, one job each:

- :mod:`purekong.engine`  the sans-IO TLS engine (the only user of tlslite-ng)
- :mod:`purekong.verify`  nginx's ``$ssl_client_verify``, computed in pure Python
- :mod:`purekong.pdk`     Kong's PDK (``kong.client.tls`` and friends), no I/O
- :mod:`purekong.runner`  Kong's phases on top of the engine and the PDK
- :mod:`purekong.server`  asyncio servers (the TCP test server, later the gateway)
- :mod:`purekong.cli`     the ``purekong`` command
"""

__version__ = "0.1.0"
