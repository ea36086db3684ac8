"""``purekong serve``'s gateway model: Kong's declarative entities, routing,
and how they become listeners, plugins and certificates. No I/O here; the
network side is :mod:`purekong.server`."""

from ._model import (
    CACertificate,
    Certificate,
    Consumer,
    Declarative,
    MTLSCredential,
    PluginEntity,
    Route,
    Service,
)

__all__ = [
    "CACertificate",
    "Certificate",
    "Consumer",
    "Declarative",
    "MTLSCredential",
    "PluginEntity",
    "Route",
    "Service",
]
