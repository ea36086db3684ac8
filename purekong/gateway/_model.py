"""The entities of a Kong declarative configuration, as purekong holds them.

Plain frozen dataclasses: ``_declarative`` builds them from YAML/JSON (and
rejects anything invalid, naming the entry and the field); the router, the
built-in plugins and the server only read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cryptography import x509


@dataclass(frozen=True)
class Service:
    id: str
    name: str | None
    #: "http" or "https" for an upstream URL; "asgi" for purekong's extension.
    protocol: str
    host: str | None = None
    port: int | None = None
    path: str | None = None
    #: "module:attribute" of an ASGI 3 application (protocol "asgi").
    asgi: str | None = None
    connect_timeout: int = 60_000  # milliseconds, as Kong
    write_timeout: int = 60_000
    read_timeout: int = 60_000
    retries: int = 5
    #: Kong 3.x: a disabled service's routes are left out of the router.
    enabled: bool = True
    #: Where the entry is in the configuration (``services[0] (name "a")``),
    #: for messages about it; not part of its identity.
    where: str = field(default="", compare=False)


@dataclass(frozen=True)
class Route:
    id: str
    name: str | None
    service: str | None  # Service.id
    protocols: tuple[str, ...] = ("http", "https")
    methods: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    snis: tuple[str, ...] = ()
    strip_path: bool = True
    preserve_host: bool = False
    #: What Kong answers when an https-only route is matched over plain http:
    #: 426 ("Please use HTTPS protocol") or a 301/302/307/308 redirect.
    https_redirect_status_code: int = 426


@dataclass(frozen=True)
class PluginEntity:
    id: str
    name: str
    config: dict[str, Any]
    enabled: bool = True
    service: str | None = None  # Service.id
    route: str | None = None  # Route.id
    consumer: str | None = None  # Consumer.id
    #: Kong runs a plugin only for requests whose protocol is listed here
    #: (Kong's default: every http-subsystem protocol).
    protocols: tuple[str, ...] = ("grpc", "grpcs", "http", "https")
    instance_name: str | None = None
    #: Where the entry is in the configuration (``services[0] (name "a")``),
    #: for messages about it; not part of its identity.
    where: str = field(default="", compare=False)

    @property
    def scope(self) -> str:
        if self.route:
            return "route"
        if self.service:
            return "service"
        if self.consumer:
            return "consumer"
        return "global"


@dataclass(frozen=True)
class Certificate:
    id: str
    chain: tuple[x509.Certificate, ...]
    key: Any  # a cryptography private key
    snis: tuple[str, ...] = ()
    #: Where the entry is in the configuration (``services[0] (name "a")``),
    #: for messages about it; not part of its identity.
    where: str = field(default="", compare=False)


@dataclass(frozen=True)
class CACertificate:
    id: str
    cert: x509.Certificate


@dataclass(frozen=True)
class MTLSCredential:
    id: str
    subject_name: str
    ca_certificate: str | None = None  # CACertificate.id


@dataclass(frozen=True)
class Consumer:
    id: str
    username: str | None = None
    custom_id: str | None = None
    mtls_auth_credentials: tuple[MTLSCredential, ...] = ()

    def as_entity(self) -> dict[str, str]:
        """The consumer as Kong's DAO returns it to plugins: null fields absent."""
        out = {"id": self.id}
        if self.username is not None:
            out["username"] = self.username
        if self.custom_id is not None:
            out["custom_id"] = self.custom_id
        return out


@dataclass(frozen=True)
class Declarative:
    """A whole validated configuration."""

    services: tuple[Service, ...] = ()
    routes: tuple[Route, ...] = ()
    plugins: tuple[PluginEntity, ...] = ()
    certificates: tuple[Certificate, ...] = ()
    ca_certificates: tuple[CACertificate, ...] = ()
    consumers: tuple[Consumer, ...] = ()
    #: The file it was read from ("<config>" when given as data).
    source: str = field(default="<config>", compare=False)

    def route(self, route_id: str | None) -> Route | None:
        return next((r for r in self.routes if r.id == route_id), None)

    def service(self, service_id: str | None) -> Service | None:
        return next((s for s in self.services if s.id == service_id), None)

    def ca_certificate(self, ca_id: str) -> CACertificate | None:
        return next((c for c in self.ca_certificates if c.id == ca_id), None)

    def consumer(self, key: str, *, by: str = "id") -> Consumer | None:
        """A consumer by id, username or custom_id."""
        return next((c for c in self.consumers if getattr(c, by) == key), None)
