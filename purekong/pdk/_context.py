"""The state of one handshake or one HTTP request, as the PDK sees it.

The runner creates one :class:`KongContext` per handshake (certificate and
client_hello phases) and one per request (rewrite to log), sets ``phase``
before each phase, and reads the results back (``handshake``,
``upstream_request()``, ``response``).  Connection-level state is not carried
into requests, as in Kong (``ngx.ctx`` is cleared after the certificate phase).
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

from ._headers import replay
from ._log import build_serialized
from ._phases import Phase
from ._types import (
    ClientHelloInfo,
    ConnectionInfo,
    HandshakeRequests,
    Request,
    Response,
    UpstreamRequest,
    WORKER_STATISTICS,
    WorkerStatistics,
)

_KONG_LOGGER = logging.getLogger("purekong.kong")  # kong.log's, unless a runner gives its own

# kong.client.load_consumer's view of the configured consumers:
# (field, value) -> the consumer entity or None; field is "id" or "username".
ConsumerLookup = Callable[[str, str], "dict | None"]


class KongContext:
    def __init__(
        self,
        *,
        phase: Phase | None = None,
        check_phases: bool = True,
        conn: ConnectionInfo | None = None,
        request: Request | None = None,
        handshake: HandshakeRequests | None = None,
        hello: ClientHelloInfo | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.phase = phase
        # False is Kong's "tests" mode (no kong.ctx): phase checks pass silently,
        # but the underlying nginx-level checks still apply.
        self.check_phases = check_phases
        self.conn = conn or ConnectionInfo()
        self.hello = hello
        self.handshake = handshake
        self.request = request
        self.logger = logger or _KONG_LOGGER
        self.plugin_name: str | None = None  # for log lines; set by the runner
        self.plugin_id: str | None = None  # kong.plugin.get_id; set by the runner
        # Set by the server: the configured consumers, and this worker's counters.
        self.find_consumer: ConsumerLookup | None = None
        self.statistics: WorkerStatistics = WORKER_STATISTICS
        # Set by a server running plugins on threads: told (plugin, phase) as
        # each plugin call starts, so it can cut a plugin off that never returns;
        # ``abandoned`` then stops the rest of the phases.
        self.on_plugin_call: Callable[[str, str], None] | None = None
        self.abandoned = False

        # kong.ctx.shared, and ngx.ctx (kong.nginx.get_ctx/set_ctx)
        self.shared: dict[str, Any] = {}
        self.nginx_ctx: dict[str, Any] = {}
        # kong.log.set_serialize_value edits, applied in order on serialize
        self.serialize_values: list[tuple[list[str], Any, str]] = []
        # Set by the server: called with the response headers after the
        # header_filter phase (where Kong's runloop adds Via, Server and the
        # latency headers); and what kong.log.serialize reports that only the
        # server knows: $request_length, Kong's latencies but "request" (ms).
        self.after_header_filter: Callable[[list[tuple[str, str]]], list[tuple[str, str]]] | None = None
        self.request_size: int | None = None
        self.latencies: dict[str, int] | None = None
        # kong.client.authenticate
        self.consumer: dict | None = None
        self.credential: dict | None = None

        # kong.service.request edits, on a copy of the client request
        req = request or Request()
        self.upstream = UpstreamRequest(
            method=req.method, target=req.target, headers=list(req.headers), body=req.body
        )
        # kong.response.set_header & co before a response exists: replayed onto it
        self.pending_response_ops: list[tuple[str, str, Any]] = []
        self.pending_status: int | None = None
        # kong.service.response (the upstream's answer) and kong.response (ours)
        self.upstream_response: Response | None = None
        self.response: Response | None = None
        # kong.response.exit/error: the short-circuit response and its source
        self.exit_response: Response | None = None
        self.source = "service"
        # Set by exit; the kong object then unwinds the plugin at its next call.
        self.unwind_pending = False

        self.started_at = req.start_time if req.start_time is not None else time.time()

    # ngx.ctx.CLIENT_VERIFY_OVERRIDE: set by kong.client.tls.set_client_verify,
    # or directly (mtls-auth does; kong.nginx.set_ctx reaches the same table).
    @property
    def client_verify_override(self) -> str | None:
        return self.nginx_ctx.get("CLIENT_VERIFY_OVERRIDE")

    @client_verify_override.setter
    def client_verify_override(self, value: str | None) -> None:
        self.nginx_ctx["CLIENT_VERIFY_OVERRIDE"] = value

    @property
    def consumer_id(self) -> str | None:
        """The id of the consumer ``kong.client.authenticate`` set, if any
        (Kong's ``ctx.authenticated_consumer.id``: what consumer-scoped
        plugins are chosen by)."""
        return (self.consumer or {}).get("id")

    @staticmethod
    def of(kong: object) -> "KongContext | None":
        """The context behind a ``kong`` object made by :func:`make_kong`
        (None for anything else)."""
        ctx = getattr(kong, "_ctx", None)
        return ctx if isinstance(ctx, KongContext) else None

    # -- for the runner -------------------------------------------------

    def upstream_request(self) -> UpstreamRequest:
        return self.upstream

    def begin_response(self, response: Response) -> Response:
        """Make ``response`` the one kong.response reads and edits.

        Header edits plugins made before a response existed are applied on top.
        """
        headers = replay(list(response.headers), self.pending_response_ops)
        status = self.pending_status or response.status
        self.pending_response_ops, self.pending_status = [], None
        self.response = Response(status, headers, response.body)
        return self.response

    def serialize(self) -> dict:
        """``kong.log.serialize()`` as a dict (no phase check)."""
        return build_serialized(self)
