"""purekong: a pure-Python, sans-IO TLS 1.2/1.3 engine with Kong's ``kong.client.tls``.

Subpackages, one job each:

- :mod:`purekong.engine`  the sans-IO TLS engine (the only user of tlslite-ng)
- :mod:`purekong.verify`  nginx's ``$ssl_client_verify``, computed in pure Python
- :mod:`purekong.pdk`     Kong's PDK (``kong.client.tls`` and friends), no I/O
- :mod:`purekong.runner`  Kong's phases on top of the engine and the PDK
- :mod:`purekong.gateway` Kong's declarative configuration and router (no I/O)
- :mod:`purekong.plugins` Kong EE's TLS plugins (mtls-auth, ...), as native plugins
- :mod:`purekong.server`  asyncio servers: ``purekong serve`` and ``purekong tls-server``
- :mod:`purekong.cli`     the ``purekong`` command
- :mod:`purekong.testing` run Kong plugins over a real in-memory handshake, in tests
"""

__version__ = "0.1.0"
