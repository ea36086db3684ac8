"""Kong's Enterprise TLS plugins, as native purekong plugins.

* ``mtls-auth`` (priority 1600): client-certificate authentication;
* ``tls-handshake-modifier`` (997): ask clients for a certificate;
* ``tls-metadata-headers`` (996): pass the certificate's details upstream.

They come in two parts, as in Kong:

1. at the handshake, :func:`certificate_handlers` gives the functions the
   engine glue runs in the certificate phase (after the global plugins'),
   which request a client certificate on the SNIs the plugins cover
   (:mod:`._handshake`, :mod:`._sni`);
2. per request, :func:`build_plugins` gives the ``PluginInstance``\\ s the
   runner runs (their ``access`` phase).

The gateway calls, once per configuration::

    instances = build_plugins(declarative)          # raises PluginConfigError
    handlers = certificate_handlers(declarative)    # ditto
    runner = Runner([*instances, *other_instances])
    phases = ConnectionPhases(runner, certificate_handlers=handlers)  # per connection

See docs/plugins.md.
"""

from __future__ import annotations

from collections.abc import Iterable

from purekong.gateway import Declarative, PluginEntity
from purekong.runner import PluginInstance, SchemaViolation, fill_config, plugin_from_class

from ._handshake import CertificateRequester
from ._sni import SNISet, build_sni_set, match_sni
from .mtls_auth import MtlsAuth
from .tls_handshake_modifier import TLSHandshakeModifier
from .tls_metadata_headers import TLSMetadataHeaders

__all__ = [
    "BUILTIN_PLUGINS",
    "HANDSHAKE_PLUGINS",
    "CertificateRequester",
    "MtlsAuth",
    "PluginConfigError",
    "SNISet",
    "TLSHandshakeModifier",
    "TLSMetadataHeaders",
    "build_plugin",
    "build_plugins",
    "build_sni_set",
    "certificate_handlers",
    "match_sni",
]

#: name -> class; each class takes ``(config, entities: Declarative)``.
BUILTIN_PLUGINS = {
    "mtls-auth": MtlsAuth,
    "tls-handshake-modifier": TLSHandshakeModifier,
    "tls-metadata-headers": TLSMetadataHeaders,
}

#: The plugins that wrap Kong.ssl_certificate, in the order their wrappers run
#: (init_worker goes by priority, and each wrapper calls the previous one first).
HANDSHAKE_PLUGINS = ("mtls-auth", "tls-handshake-modifier")


class PluginConfigError(ValueError):
    """A built-in plugin's configuration is invalid; the message names the
    plugin entity and the field."""


def build_plugin(entity: PluginEntity, declarative: Declarative) -> PluginInstance:
    """One ``PluginInstance`` from a plugin entity: defaults filled, validated."""
    cls = BUILTIN_PLUGINS.get(entity.name)
    where = f"plugin {entity.id} ({entity.name})"
    if cls is None:
        raise PluginConfigError(f"{where}: not a built-in plugin (one of: {', '.join(BUILTIN_PLUGINS)})")
    if entity.scope == "consumer":
        # All three have Kong's no_consumer typedef.
        raise PluginConfigError(f"{where}: schema violation (consumer: value must be null)")
    if entity.route and not any(r.id == entity.route for r in declarative.routes):
        raise PluginConfigError(f"{where}: route: no route with id {entity.route!r}")
    if entity.service and declarative.service(entity.service) is None:
        raise PluginConfigError(f"{where}: service: no service with id {entity.service!r}")
    spec = plugin_from_class(cls)
    try:
        config = fill_config(spec.schema, entity.config)
        _check_elements(spec.schema, config)
        _check_mutually_required(config)
        plugin = cls(config, declarative)
    except SchemaViolation as exc:
        raise PluginConfigError(f"{where}: {exc}") from None
    except ValueError as exc:  # a CA certificate id that does not exist
        raise PluginConfigError(f"{where}: config.ca_certificates: {exc}") from None
    return PluginInstance(spec, config, plugin, entity.scope)


def build_plugins(declarative: Declarative) -> list[PluginInstance]:
    """Instances for every enabled entity of a built-in plugin, in configuration
    order (the runner orders them by priority).  Other names are left to the
    caller."""
    return [
        build_plugin(entity, declarative)
        for entity in declarative.plugins
        if entity.enabled and entity.name in BUILTIN_PLUGINS
    ]


def certificate_handlers(declarative: Declarative) -> list[CertificateRequester]:
    """The certificate-phase handlers of mtls-auth and tls-handshake-modifier.

    Both are returned even without any instance, as both are loaded in Kong
    EE: such a handler matches nothing and only logs (at debug level) the SNI
    it did not know.  CA certificates named by ``send_ca_dn`` instances are
    resolved now; an unknown id raises :class:`PluginConfigError` (Kong would
    abort every handshake with it).
    """
    handlers = []
    for name in HANDSHAKE_PLUGINS:
        sni_set = build_sni_set(declarative, name)
        for entry in sni_set.entries():
            if entry.ca_ids is None:
                continue
            entry.ca_certificates = []
            for ca_id in entry.ca_ids:
                ca = declarative.ca_certificate(ca_id)
                if ca is None:
                    raise PluginConfigError(
                        f"{name}: config.ca_certificates: CA Certificate '{ca_id}' does not exist"
                    )
                entry.ca_certificates.append(ca.cert)
        handlers.append(CertificateRequester(name, sni_set))
    return handlers


# -- validation the runner's schema filler does not do -----------------------


def _check_elements(schema: Iterable[dict], config: dict) -> None:
    for field in schema:
        ((name, spec),) = field.items()
        elements = spec.get("elements")
        value = config.get(name)
        if not elements or value is None:
            continue
        for i, item in enumerate(value, 1):
            if elements.get("type") == "string" and not isinstance(item, str):
                raise SchemaViolation(f"schema violation (config.{name}.{i}: expected a string)")
            one_of = elements.get("one_of")
            if one_of is not None and item not in one_of:
                raise SchemaViolation(
                    f"schema violation (config.{name}.{i}: expected one of: {', '.join(one_of)})"
                )


def _check_mutually_required(config: dict) -> None:
    # mtls-auth's entity_checks; harmless for the others (no such fields).
    for pair in (("http_proxy_host", "http_proxy_port"), ("https_proxy_host", "https_proxy_port")):
        present = [config.get(f) is not None for f in pair]
        if any(present) and not all(present):
            raise SchemaViolation(
                "schema violation (config: all or none of these fields must be set: "
                + ", ".join(f"'config.{f}'" for f in pair) + ")"
            )
