"""``purekong serve``'s start-up: the declarative configuration, loaded.

:func:`load_config` turns the entities (services, routes, plugins,
certificates, consumers) into a :class:`LoadedConfig`: the router, Kong's
plugins iterator with every plugin configured once, the certificates, the
ASGI apps. Everything is validated here, before a socket is opened, so
nothing starts half-configured.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from purekong import gateway
from purekong.engine import CertifiedKey
from purekong.gateway import Declarative, PluginEntity, PluginsIterator, Router
from purekong.runner import PluginInstance, PluginLoadError, PluginSpec, SchemaViolation, configure, scan_plugins_dir

from . import _asgi
from ._settings import ServeConfigError, ServeOptions

__all__ = ["LoadedConfig", "load_config", "load_declarative"]

_log = logging.getLogger("purekong.serve")


def load_declarative(path: Path) -> Declarative:
    """The declarative file, validated by purekong.gateway (every problem listed)."""
    try:
        return gateway.load_declarative(path)
    except gateway.ConfigError as exc:
        raise ServeConfigError(str(exc)) from None


def _builtins() -> Any:
    """purekong.plugins (mtls-auth, tls-handshake-modifier, tls-metadata-headers), if present."""
    try:
        import purekong.plugins as builtins
    except ImportError:
        return None
    return builtins


@dataclass
class LoadedConfig:
    """The declarative configuration made ready to serve, validated before any
    socket opens: what every worker runs."""

    declarative: Declarative
    router: Router
    plugins: PluginsIterator
    certificate_handlers: list[Any]  # the built-in TLS plugins' certificate-phase hooks
    certificates: list[CertifiedKey]  # the default (first) and the declarative ones
    cert_by_id: dict[str, CertifiedKey]
    asgi_apps: dict[str, Any]
    verify_depth: int | None

    def find_consumer(self, field_name: str, value: str) -> dict | None:
        """A configured consumer by ``id`` or ``username`` (``kong.client.load_consumer``)."""
        consumer = self.declarative.consumer(value, by=field_name)
        return consumer.as_entity() if consumer is not None else None

    def certificates_for(self, sni: str | None) -> tuple[CertifiedKey, ...]:
        """The certificate for a ClientHello's SNI (Kong's find_certificate), else the default."""
        cert = gateway.certificate_for(self.declarative, sni)
        if cert is not None and cert.id in self.cert_by_id:
            return (self.cert_by_id[cert.id],)
        return (self.certificates[0],)


def load_config(
    declarative: Declarative, options: ServeOptions, *, default_cert: CertifiedKey | None, extra_plugins: dict[str, PluginSpec] | None = None
) -> LoadedConfig:
    """Configure every plugin, import every ASGI app, load every certificate.

    Every problem is collected and reported at once, as the declarative
    parser does, each at the entry that causes it (``services[0] (name "a").
    plugins[0] (name "x"): ...``): a plugin file that failed to import (its
    file, line and exception), an unknown plugin, a bad plugin config, a
    plugin raising in ``__init__`` (its traceback at debug level), an ASGI
    app that does not import.
    """
    builtins = _builtins()
    problems: list[str] = []
    specs: dict[str, PluginSpec] = {}
    failed: dict[str, PluginLoadError] = {}
    if options.plugins_dir is not None:
        if not options.plugins_dir.is_dir():
            raise ServeConfigError(f"--plugins-dir {options.plugins_dir}: not a directory")
        specs, failed = scan_plugins_dir(options.plugins_dir)
    specs.update(extra_plugins or {})

    instances: list[tuple[PluginEntity, PluginInstance]] = []
    for index, entity in enumerate(declarative.plugins):
        where = entity.where or f'plugins[{index}] (name "{entity.name}")'
        if not entity.enabled:
            continue
        spec = specs.get(entity.name)
        if spec is None and builtins is not None and entity.name in builtins.BUILTIN_PLUGINS:
            try:
                instances.append((entity, builtins.build_plugin(entity, declarative)))
            except builtins.PluginConfigError as exc:
                problems.append(f"{where}: {exc}")
            continue
        if spec is None:
            if entity.name in failed:
                problems.append(f"{where}.name: {failed[entity.name]}")
            else:
                known = ", ".join(sorted([*specs, *(builtins.BUILTIN_PLUGINS if builtins else ())])) or "none"
                problems.append(f"{where}.name: unknown plugin {entity.name!r} (available: {known})")
            continue
        try:
            inst = configure(spec, entity.config, id=entity.id)
        except SchemaViolation as exc:
            problems.append(f"{where}.config: {exc}")
            continue
        except Exception as exc:
            _log.debug("plugin %r raised in __init__", entity.name, exc_info=True)
            problems.append(f"{where}: plugin {entity.name!r} raised in __init__: {type(exc).__name__}: {exc}")
            continue
        instances.append((entity, inst))

    apps: dict[str, Any] = {}
    config_dir = Path(declarative.source).parent if declarative.source != "<config>" else None
    for service in declarative.services:
        if service.protocol == "asgi":
            try:
                apps[service.id] = _asgi.load_app(service.asgi or "", search_first=config_dir)
            except ValueError as exc:
                problems.append(f"{service.where or f'services (name={service.name or service.id})'}.asgi: {exc}")
    if problems:
        count = len(problems)
        head = f"{declarative.source}: invalid configuration ({count} problem{'s' if count != 1 else ''})"
        raise ServeConfigError("\n  ".join([head + ":", *problems]))

    certs: list[CertifiedKey] = []
    by_id: dict[str, CertifiedKey] = {}
    for cert in declarative.certificates:
        try:
            ck = CertifiedKey(tuple(cert.chain), cert.key)
        except ValueError as exc:
            raise ServeConfigError(f"certificates (id={cert.id}): {exc}") from None
        certs.append(ck)
        by_id[cert.id] = ck
    if default_cert is not None:
        certs.insert(0, default_cert)

    handlers: list[Any] = []
    if builtins is not None:
        try:
            handlers = builtins.certificate_handlers(declarative)
        except builtins.PluginConfigError as exc:
            raise ServeConfigError(f"plugins: {exc}") from None
    return LoadedConfig(
        declarative=declarative,
        router=Router(declarative),
        plugins=PluginsIterator(instances, lua_style=options.plugin_style != "python"),
        certificate_handlers=handlers,
        certificates=certs,
        cert_by_id=by_id,
        asgi_apps=apps,
        verify_depth=options.verify_depth,
    )
