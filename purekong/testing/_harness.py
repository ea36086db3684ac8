"""Test Kong plugins against a real TLS handshake and request, in memory.

Kong's Python PDK has no test harness; this is one. A :class:`KongHarness`
holds configured plugins; each :meth:`~KongHarness.request` runs a real
purekong handshake (client certificate or none, SNI, TLS version) through
Kong's connection phases, then the request through Kong's request phases,
and returns what a test wants to look at: the response, the serialized log,
and the request the upstream received::

    from purekong.testing import KongHarness

    def test_my_plugin(client_cert):
        kong = KongHarness([("plugins/my-plugin.py", {"header": "X-Hello"})])
        result = kong.request("GET", "/", client_certificate=client_cert)
        assert result.response.status == 200
        assert result.log["request"]["tls"]["client_verify"] == "FAILED:unable to get local issuer certificate"
        assert ("X-Hello", "world") in result.upstream_request.headers
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from purekong._devpki import make_dev_pki
from purekong import plugins as builtins
from purekong.engine import (
    CertifiedKey,
    ClientConfig,
    ClientConnection,
    HandshakeComplete,
    ServerConfig,
    ServerConnection,
    Tracer,
)
from purekong.pdk import PLAIN_HTTP, ConnectionInfo, Request, Response, TLSInfo, UpstreamRequest
from purekong.gateway import Declarative
from purekong.runner import ConnectionPhases, PluginInstance, PluginSpec, Runner, configure, load_plugin_file

from ._memory import handshake_in_memory

__all__ = ["KongHarness", "HarnessResult", "echo_upstream"]

PluginLike = PluginInstance | PluginSpec | str | Path | tuple


@dataclass(frozen=True)
class HarnessResult:
    response: Response
    #: ``kong.log.serialize()`` as a dict, as the log phase saw it.
    log: dict
    #: What was sent upstream, or None when Kong answered by itself.
    upstream_request: UpstreamRequest | None
    #: The handshake (None for plain HTTP).
    handshake: HandshakeComplete | None

    def header(self, name: str) -> str | None:
        """The first response header called ``name`` (case-insensitive)."""
        return next((v for k, v in self.response.headers if k.lower() == name.lower()), None)

    def json(self) -> Any:
        """The response body, decoded as JSON."""
        body = self.response.body
        if not isinstance(body, bytes):  # a StreamedBody: a server streamed it, the harness never does
            raise ValueError("the response body was streamed; there is nothing to decode")
        return json.loads(body)


def echo_upstream(request: UpstreamRequest) -> Response:
    """The default upstream: 200 with a JSON description of what it received."""
    body = json.dumps({"method": request.method, "target": request.target, "headers": request.headers})
    return Response(200, [("Content-Type", "application/json")], body.encode())


class KongHarness:
    """Configured plugins plus an in-memory TLS server to run them on."""

    def __init__(
        self,
        plugins: Iterable[PluginLike] = (),
        *,
        lua_style: bool = True,
        verify_depth: int | None = None,
        server_certificate: CertifiedKey | None = None,
        trace: Tracer | None = None,
        declarative: Declarative | None = None,
        certificate_handlers: Iterable[Callable] | None = None,
    ) -> None:
        """``declarative`` adds the built-in plugins it configures
        (:mod:`purekong.plugins`) and, unless ``certificate_handlers`` is
        given, their certificate-phase handlers.  Routing is not modelled:
        every plugin runs on every request."""
        instances = [_instance(p) for p in plugins]
        handlers: list[Callable[..., Any]] = list(certificate_handlers or ())
        if declarative is not None:
            instances += builtins.build_plugins(declarative)
            if certificate_handlers is None:
                handlers = list(builtins.certificate_handlers(declarative))
        self.certificate_handlers = handlers
        self.runner = Runner(instances, lua_style=lua_style)
        self.verify_depth = verify_depth
        self.trace = trace  # the server's purekong.engine tracer, to see the handshake
        self.server_config = ServerConfig(certificates=(server_certificate or _throwaway_server_certificate(),))

    def request(
        self,
        method: str = "GET",
        path: str = "/",
        headers: Iterable[tuple[str, str]] | dict = (),
        body: bytes = b"",
        *,
        tls: bool = True,
        client_certificate: CertifiedKey | None = None,
        server_name: str | None = "localhost",
        versions: tuple[str, ...] = ("TLSv1.3", "TLSv1.2"),
        upstream: Callable[[UpstreamRequest], Response | None] = echo_upstream,
    ) -> HarnessResult:
        headers = list(headers.items()) if isinstance(headers, dict) else list(headers)
        if server_name and not any(k.lower() == "host" for k, _ in headers):
            headers.insert(0, ("Host", server_name))
        handshake, conn = None, ConnectionInfo(tls=PLAIN_HTTP, server_port=80)
        if tls:
            handshake, tls_info = self._handshake(client_certificate, server_name, versions)
            conn = ConnectionInfo(tls=tls_info, server_port=443)
        outcome = self.runner.run_request(conn, Request(method=method, target=path, headers=headers, body=body))
        sent = outcome.upstream if outcome.proxy else None
        response = self.runner.run_response(outcome, upstream(sent) if sent is not None else None)
        return HarnessResult(response, outcome.context.serialize(), sent, handshake)

    def _handshake(self, certificate: CertifiedKey | None, server_name: str | None,
                   versions: tuple[str, ...]) -> tuple[HandshakeComplete, TLSInfo]:
        server = ServerConnection(self.server_config, trace=self.trace)
        client = ClientConnection(
            ClientConfig(verify_server=False, certificate=certificate, versions=versions), server_name
        )
        phases = ConnectionPhases(
            self.runner, verify_depth=self.verify_depth, certificate_handlers=self.certificate_handlers
        )
        result = handshake_in_memory(client, server, on_client_hello=phases.on_client_hello)
        if result.aborted:
            raise RuntimeError("a certificate-phase plugin failed; the handshake was aborted")
        if result.error is not None:
            raise result.error
        if not result.completed or server.handshake is None:
            raise RuntimeError("the in-memory handshake did not complete")
        return server.handshake, phases.tls_info(server.handshake)


def _instance(plugin: PluginLike) -> PluginInstance:
    if isinstance(plugin, PluginInstance):
        return plugin
    config = None
    if isinstance(plugin, tuple):
        plugin, config = plugin
    if isinstance(plugin, (str, Path)):
        plugin = load_plugin_file(Path(plugin))
    if not isinstance(plugin, PluginSpec):
        raise TypeError(f"expected a plugin file, a PluginSpec or a PluginInstance, got {plugin!r}")
    return configure(plugin, config)


@functools.lru_cache(maxsize=1)
def _throwaway_server_certificate() -> CertifiedKey:
    pki = make_dev_pki(ca_days=7, days=7)
    return CertifiedKey((pki.server, pki.ca), pki.server_key)
