"""``purekong serve``'s gateway model: Kong's declarative entities, routing,
and how they become listeners, plugins and certificates. No I/O here; the
network side is :mod:`purekong.server`."""

from ._declarative import ConfigError, load_declarative, parse_declarative
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
from ._plugins import NO_ROUTE_MESSAGE, PluginsIterator
from ._router import RouteMatch, Router, certificate_for, match_sni, sni_matches

__all__ = [
    "CACertificate",
    "Certificate",
    "ConfigError",
    "Consumer",
    "Declarative",
    "MTLSCredential",
    "NO_ROUTE_MESSAGE",
    "PluginEntity",
    "PluginsIterator",
    "Route",
    "RouteMatch",
    "Router",
    "Service",
    "certificate_for",
    "load_declarative",
    "match_sni",
    "parse_declarative",
    "sni_matches",
]
