"""Loading Kong Python PDK plugins and running Kong's phases over them, no I/O.

:class:`ConnectionPhases` runs the connection phases at a ``ServerConnection``'s
ClientHello pause: it calls :meth:`Runner.run_certificate` / :meth:`Runner.run_client_hello`
with the :class:`~purekong.pdk.HandshakeRequests` it will apply; the HTTP server
calls :meth:`Runner.run_request` then :meth:`Runner.run_response`.
"""

from ._connection_phases import ConnectionPhases
from ._loader import (
    NATIVE_PHASES,
    PY_PDK_PHASES,
    NativePlugin,
    PluginLoadError,
    PluginSpec,
    load_plugin_file,
    load_plugins_dir,
    plugin_from_class,
    scan_plugins_dir,
)
from ._runner import Outcome, PluginInstance, Runner, configure
from ._schema import SchemaViolation, fill_config
from ._shim import install as install_kong_pdk_shim

__all__ = [
    "ConnectionPhases",
    "NATIVE_PHASES",
    "PY_PDK_PHASES",
    "NativePlugin",
    "Outcome",
    "PluginInstance",
    "PluginLoadError",
    "PluginSpec",
    "Runner",
    "SchemaViolation",
    "configure",
    "fill_config",
    "install_kong_pdk_shim",
    "load_plugin_file",
    "load_plugins_dir",
    "scan_plugins_dir",
    "plugin_from_class",
]
