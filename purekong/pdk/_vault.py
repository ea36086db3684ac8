"""``kong.vault`` with Kong's bundled ``env`` vault, and the PDK parts purekong
cannot give a meaning (``kong.enterprise_edition.jwe``), which answer as Kong
does without them.

A reference is ``{vault://<vault>/<resource>[/<key>][?<config>][#<version>]}``
(kong/pdk/vault.lua).  The ``env`` vault reads the environment variable named
by the resource, upper-cased with ``-`` as ``_`` and the ``prefix`` config
prepended; with a key, the variable holds JSON and the key is looked up in it.
purekong has no Vault entities, so any other vault name is "not found".
"""

from __future__ import annotations

import json
import logging
import os
from urllib.parse import parse_qsl, unquote, urlsplit

from ._registry import pdk_function

_log = logging.getLogger("purekong.kong")


def is_reference(reference: object) -> bool:
    return (
        isinstance(reference, str)
        and reference.startswith("{vault://")
        and reference.endswith("}")
    )


def parse_reference(reference: object) -> tuple[dict | None, str | None]:
    if not is_reference(reference):
        return None, f"not a reference [{reference}]"
    assert isinstance(reference, str)
    url = urlsplit(reference[1:-1])
    if not url.hostname:
        return None, f"reference url is missing host [{reference}]"
    resource = url.path[1:]
    if resource == "":
        return None, f"reference url has empty path [{reference}]"
    version = None
    if url.fragment:
        if not url.fragment.isdigit():
            return None, f"reference url has invalid version [{reference}]"
        version = int(url.fragment)
    key = None
    parts = resource.split("/")
    if len(parts) == 1:
        resource = unquote(parts[0])
    else:
        resource = unquote("/".join(parts[:-1]))
        if parts[-1] != "":
            key = unquote(parts[-1])
    if resource == "":
        return None, f"reference url has invalid path [{reference}]"
    config = dict(parse_qsl(url.query)) if url.query else None
    return {"name": url.hostname, "resource": resource, "key": key, "config": config, "version": version}, None


def get(reference: object) -> tuple[str | None, str | None]:
    parsed, err = parse_reference(reference)
    if parsed is None:
        return None, err
    if parsed["name"] != "env":
        return None, f"vault not found ({parsed['name']}) [{reference}]"
    name = parsed["resource"].replace("-", "_")
    prefix = (parsed["config"] or {}).get("prefix")
    if isinstance(prefix, str):
        name = prefix + name
    name = name.upper()
    if parsed["version"] == 2:
        name += "_PREVIOUS"
    value = os.environ.get(name)
    if value is None:
        return None, f"could not get value from external vault (no value found) [{reference}]"
    if parsed["key"] is None:
        return value, None
    try:
        document = json.loads(value)
    except ValueError:
        return None, f"could not decode secret as json [{reference}]"
    found = document.get(parsed["key"]) if isinstance(document, dict) else None
    if found is None:
        return None, f"could not find key {parsed['key']} [{reference}]"
    return str(found), None


def _update(value: object) -> object:
    if isinstance(value, dict):
        return {k: _update(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_update(v) for v in value]
    if is_reference(value):
        resolved, err = get(value)
        if resolved is None:
            _log.warning("unable to resolve reference %s (%s)", value, err)
            return None
        return resolved
    return value


@pdk_function("kong.vault.is_reference")
def vault_is_reference(ctx, reference):
    return is_reference(reference), None


@pdk_function("kong.vault.parse_reference")
def vault_parse_reference(ctx, reference):
    return parse_reference(reference)


@pdk_function("kong.vault.get")
def vault_get(ctx, reference):
    return get(reference)


@pdk_function("kong.vault.update")
def vault_update(ctx, options):
    # Kong resolves every reference in a configuration table, in place.
    return _update(options), None


@pdk_function("kong.vault.flush")
def vault_flush(ctx):
    # The env vault caches nothing in purekong.
    return None, None


# -- parts of Kong Enterprise and of optional Kong modules ------------------

_warned: set[str] = set()


def not_available(name: str) -> tuple[None, str]:
    """Kong's answer for a module it does not load: nil and "not available"."""
    if name not in _warned:
        _warned.add(name)
        _log.warning("%s is not available in purekong (a Kong Enterprise feature)", name)
    return None, "not available"


for _name in ("decode", "decrypt", "encrypt"):
    pdk_function(f"kong.enterprise_edition.jwe.{_name}")(
        (lambda name: lambda ctx, *args: not_available(name))(f"kong.enterprise_edition.jwe.{_name}")
    )
