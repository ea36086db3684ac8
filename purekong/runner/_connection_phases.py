"""The connection-phase glue: Kong's connection phases on a purekong ``ServerConnection``.

At the engine's ClientHello pause this runs Kong's ``client_hello`` phase
(every handshake) and, on full handshakes, the ``certificate`` phase (global
plugins only), then applies what the plugins asked through
``kong.client.tls`` to the handshake:

====================================  ==========================================
PDK call                              engine effect (``ServerConnection.proceed``)
====================================  ==========================================
``request_client_certificate(cas)``   ``request_client_certificate=True``, the CA
                                      subjects as the DN list, in order
``disable_session_reuse()``           ``session_reuse=False``
``disable_http2_alpn()``              ``alpn_protocols`` without ``h2``
====================================  ==========================================

``certificate_handlers`` (optional) are run next in the certificate phase,
each with its own lua-style ``kong`` object on a fresh context, phase checks
as the runner's: they are how Kong EE's TLS plugins (mtls-auth,
tls-handshake-modifier) hook the handshake, by wrapping
``Kong.ssl_certificate`` rather than as certificate-phase plugins (see
``purekong.plugins.certificate_handlers``).  One that raises aborts the
handshake, as a Lua error there does in Kong.

After the handshake it turns ``HandshakeComplete`` into the ``TLSInfo`` later
phases read, with ``client_verify`` computed as nginx's
``$ssl_client_verify``: against the CAs given to
``request_client_certificate`` (an empty store otherwise), at Kong's forced
depth 0 unless the server sets ``verify_depth`` (nginx's ``ssl_verify_depth``).
The result is stored with the session (``proceed(session_data=...)``), so a
resumed connection reports the original result, as nginx restores it from
its session; the chain itself is not available there, as in nginx.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from purekong.engine import AlertDescription, CertifiedKey, ClientHelloReceived, HandshakeComplete, ServerConnection
from purekong.pdk import ClientHelloInfo, HandshakeRequests, Phase, TLSInfo, make_kong
from purekong.verify import client_verify

from ._runner import Runner

_log = logging.getLogger("purekong.runner")


@dataclass
class ConnectionPhases:
    """Kong's per-connection phases for one TLS connection."""

    runner: Runner
    #: nginx's ssl_verify_depth; None keeps Kong's behaviour (depth 0).
    verify_depth: int | None = None
    requests: HandshakeRequests = field(default_factory=HandshakeRequests)
    #: Called as ``handler(kong)`` after the global plugins' certificate phase;
    #: a ``name`` attribute namespaces its kong.log lines.
    certificate_handlers: Sequence[Callable] = ()
    #: Picks the server certificates for an SNI (Kong's certificate.execute);
    #: None offers the ServerConnection config's.
    certificate_selector: Callable[[str | None], Sequence[CertifiedKey]] | None = None
    #: What ``certificate_selector`` chose for this connection.
    certificates: tuple[CertifiedKey, ...] | None = None

    def on_client_hello(
        self,
        conn: ServerConnection,
        event: ClientHelloReceived,
        *,
        client_ip: str = "127.0.0.1",
        client_port: int = 0,
        server_port: int = 443,
    ) -> bool:
        """Run the phases and resume the handshake; False if it was aborted."""
        runner = self.runner
        # Without a global plugin for a phase (and, for the certificate
        # phase, no handler) nothing is run, so nothing is built for it: the
        # ClientHelloInfo and the phase's Kong context would be read by no one.
        run_hello = runner.needs_phase("client_hello", global_only=True)
        run_certificate = not event.resumes_session and runner.needs_phase("certificate", global_only=True)
        run_handlers = not event.resumes_session and bool(self.certificate_handlers)
        ok = True
        if run_hello or run_certificate or run_handlers:
            hello = ClientHelloInfo(
                server_name=event.server_name,
                client_ip=client_ip,
                client_port=client_port,
                server_port=server_port,
                alpn_protocols=event.alpn_protocols,
            )
            # OpenSSL calls the client-hello callback before the certificate one.
            if run_hello:
                ok = runner.run_client_hello(self.requests, hello)
            if ok and run_certificate:
                ok = runner.run_certificate(self.requests, hello)
            if ok and run_handlers:
                ok = self._run_certificate_handlers(hello)
        if not ok:
            # A failing handler aborts the handshake in Kong too.
            conn.abort(AlertDescription.internal_error)
            return False
        if self.certificate_selector is not None and not event.resumes_session:
            self.certificates = tuple(self.certificate_selector(event.server_name))
        requests = self.requests
        alpn = conn.config.alpn_protocols
        if requests.disable_http2_alpn:
            alpn = tuple(p for p in alpn if p != "h2")
        conn.proceed(
            certificates=self.certificates,
            request_client_certificate=requests.request_client_certificate,
            client_ca_certificates=requests.ca_certificates or (),
            session_reuse=not requests.disable_session_reuse,
            alpn_protocols=alpn,
            session_data=self._verify_for_session,
        )
        return True

    def _verify_for_session(self, chain: tuple[bytes, ...] | None) -> bytes:
        # Called by the engine once the client's certificates are known.
        return self._client_verify(chain).encode()

    def _client_verify(self, chain: tuple[bytes, ...] | None) -> str:
        depth = 0 if self.verify_depth is None else self.verify_depth
        return client_verify(chain, self.requests.ca_certificates or [], depth=depth)

    def _run_certificate_handlers(self, hello: ClientHelloInfo) -> bool:
        # A fresh context, as Kong's wrapper gets after Kong.ssl_certificate
        # cleared ngx.ctx: the runner's handshake context.
        ctx = self.runner.handshake_context(self.requests, hello)
        for handler in self.certificate_handlers:
            ctx.phase = Phase.certificate
            ctx.plugin_name = getattr(handler, "name", None)
            try:
                handler(make_kong(ctx, lua_style=True))
            except Exception:
                _log.exception("certificate handler %s failed", ctx.plugin_name or handler)
                return False  # the Lua error ends Kong.ssl_certificate there
            finally:
                ctx.plugin_name = None
        return True

    def tls_info(self, handshake: HandshakeComplete) -> TLSInfo:
        """The ``$ssl_*`` facts of the finished handshake."""
        if handshake.session_data is not None:
            verify = handshake.session_data.decode()  # computed at the handshake, or restored with the session
        elif handshake.resumed:
            verify = "NONE"  # a session stored without a result
        else:
            verify = self._client_verify(handshake.peer_certificates)
        return TLSInfo(
            version=handshake.version,
            cipher=handshake.openssl_cipher,
            client_verify=verify,
            client_chain_pem=handshake.peer_certificates_pem(),
            server_name=handshake.server_name,
        )
