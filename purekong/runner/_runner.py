"""Kong's phases, run over configured plugins, with no I/O.

Connection side (called by the TLS engine's hooks):

* :meth:`Runner.run_certificate` - full handshakes only; global plugins only, as
  ``Kong.ssl_certificate``;
* :meth:`Runner.run_client_hello` - every handshake; global plugins only.

Both fill the :class:`~purekong.pdk.HandshakeRequests` the engine then applies.

Request side (called by the HTTP server), in two steps around the upstream call:

* :meth:`Runner.run_request` runs rewrite (global plugins only, as Kong: no
  route is matched yet), access and balancer, and returns an :class:`Outcome`:
  either a response to send now (``kong.response.exit`` or an error) or the
  request to proxy;
* :meth:`Runner.run_response` takes the upstream's response (or ``None`` if the
  upstream could not be reached) and runs response, header_filter, body_filter
  and log, returning the response to send.

Plugins run highest priority first (ties: configuration order).  A plugin that
raises is logged with its name and phase and never takes anything down; in a
request phase that request gets Kong's 500.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from purekong.pdk import (
    JSON_CONTENT_TYPE,
    ClientHelloInfo,
    ConnectionInfo,
    ExitUnwind,
    HandshakeRequests,
    KongContext,
    Phase,
    Request,
    Response,
    TLSInfo,
    UpstreamRequest,
    cjson_encode,
    default_message,
    make_kong,
)

from ._loader import PluginSpec
from ._schema import fill_config, remove_nulls

_log = logging.getLogger("purekong.runner")

SCOPES = ("global", "service", "route")


@dataclass(frozen=True)
class PluginInstance:
    """One configured plugin: one ``Plugin(config)`` object serves every request."""

    spec: PluginSpec
    config: dict
    plugin: object
    scope: str = "global"
    # The plugin entity's id (kong.plugin.get_id); Kong generates one when the
    # configuration gives none.
    id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def name(self) -> str:
        return self.spec.name


def configure(spec: PluginSpec, config: dict | None = None, *, scope: str = "global",
              id: str | None = None) -> PluginInstance:
    """Fill ``config`` from the plugin's schema and instantiate it once, as Kong does."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
    filled = fill_config(spec.schema, config)
    # A Kong Python-PDK plugin gets the config as Kong's plugin server does,
    # nulls removed; native plugins (Lua ports) read every field.
    plugin = spec.cls(filled if spec.native else remove_nulls(filled))
    if id is None:
        return PluginInstance(spec, filled, plugin, scope)
    return PluginInstance(spec, filled, plugin, scope, id)


@dataclass
class Outcome:
    """What to do after the request phases: respond now, or proxy ``upstream``."""

    response: Response | None
    upstream: UpstreamRequest | None
    context: KongContext
    finished: bool = False  # run_response has run
    logged: bool = False  # the log phase has run

    @property
    def proxy(self) -> bool:
        return self.upstream is not None


def _error_response(status: int) -> Response:
    body = cjson_encode({"message": default_message(status)})
    return Response(status, [("Content-Type", JSON_CONTENT_TYPE)], body)


def _method_name(phase: Phase) -> str:
    """The plugin method of a single phase (``Phase.access`` -> ``"access"``)."""
    name = phase.name
    assert name is not None  # only combined flags have no name
    return name


# Phases in which a failing plugin turns the response into Kong's 500.
_RESPONSE_PHASES = {
    Phase.rewrite,
    Phase.access,
    Phase.balancer,
    Phase.response,
    Phase.header_filter,
    Phase.body_filter,
}


class Runner:
    def __init__(
        self,
        plugins: Iterable[PluginInstance] = (),
        *,
        lua_style: bool = True,
        check_phases: bool = True,
        logger: logging.Logger | None = None,
    ) -> None:
        # sorted() is stable: equal priorities keep configuration order.
        self.plugins = sorted(plugins, key=lambda p: -p.spec.priority)
        self._kong_plugin_phases = frozenset(ph for p in self.plugins if not p.spec.native for ph in p.spec.phases)
        self.lua_style = lua_style  # for kong_pdk plugins; native ones choose their own
        self.check_phases = check_phases
        self.logger = logger  # for kong.log; None: the "purekong.kong" logger

    @property
    def runs_kong_plugins(self) -> bool:
        """Does a Kong Python-PDK plugin (not a native one) run here? Those
        may block, so the server runs their phases off its event loop."""
        return any(not p.spec.native for p in self.plugins)

    def runs_kong_plugins_in(self, phases: Iterable[str]) -> bool:
        """Does a Kong Python-PDK plugin implement one of ``phases``? (If not,
        those phases run only native plugins: no need to leave the loop.)"""
        return not self._kong_plugin_phases.isdisjoint(phases)

    def needs_phase(self, phase: str, *, global_only: bool = False) -> bool:
        """Does any plugin implement ``phase``?  (The engine can skip a hook.)"""
        if not self.plugins:
            return False  # most routes
        return any(
            phase in p.spec.phases and (p.scope == "global" or not global_only)
            for p in self.plugins
        )

    # -- connection side ------------------------------------------------

    def run_certificate(self, requests: HandshakeRequests, hello: ClientHelloInfo) -> bool:
        """The certificate phase of a full handshake.  False if a plugin raised
        (Kong would abort the handshake; the engine decides)."""
        return self._run_handshake_phase(Phase.certificate, requests, hello)

    def run_client_hello(self, requests: HandshakeRequests, hello: ClientHelloInfo) -> bool:
        """The client_hello phase (Kong 3.9+) of every handshake, resumed or not."""
        return self._run_handshake_phase(Phase.client_hello, requests, hello)

    def handshake_context(self, requests: HandshakeRequests, hello: ClientHelloInfo) -> KongContext:
        """A fresh context for a handshake phase: the ClientHello's facts, the
        requests the plugins fill, this runner's phase checks and logger."""
        return KongContext(
            check_phases=self.check_phases,
            conn=ConnectionInfo(
                tls=TLSInfo(server_name=hello.server_name),
                client_ip=hello.client_ip,
                client_port=hello.client_port,
                server_port=hello.server_port,
            ),
            handshake=requests,
            hello=hello,
            logger=self.logger,
        )

    def _run_handshake_phase(self, phase: Phase, requests: HandshakeRequests, hello: ClientHelloInfo) -> bool:
        ctx = self.handshake_context(requests, hello)
        ok = True
        for inst in self._with_phase(phase, global_only=True):
            ok = self._call(ctx, phase, inst) and ok
        return ok

    # -- request side ---------------------------------------------------

    def run_request(self, conn: ConnectionInfo, request: Request, *,
                    prepare: Callable[[KongContext], None] | None = None) -> Outcome:
        """Rewrite, access and balancer. ``prepare`` is called with the new
        request context before any plugin runs (a server sets what the PDK
        reads from it: ``find_consumer``, ``on_plugin_call``)."""
        ctx = KongContext(
            check_phases=self.check_phases, conn=conn, request=request, logger=self.logger
        )
        if prepare is not None:
            prepare(ctx)
        for phase, global_only in ((Phase.rewrite, True), (Phase.access, False), (Phase.balancer, False)):
            self._run_request_phase(ctx, phase, global_only=global_only)
            if ctx.exit_response is not None:
                return Outcome(ctx.exit_response, None, ctx)
        return Outcome(None, ctx.upstream_request(), ctx)

    def run_response(self, outcome: Outcome, upstream: Response | None = None, *, log: bool = True) -> Response:
        """The response phases: response (when proxied), header_filter,
        body_filter, then log, unless ``log=False``: a server that sends the
        response first runs the log phase after, with :meth:`run_log`, as
        Kong does."""
        if outcome.finished:
            raise ValueError("run_response was already called for this request")
        if not outcome.proxy and upstream is not None:
            raise ValueError("this request was answered by Kong; there is no upstream response")
        outcome.finished = True
        ctx = outcome.context
        if outcome.proxy:
            if upstream is None:  # the server could not get a response
                ctx.source = "error"
                ctx.begin_response(_error_response(502))
            else:
                ctx.upstream_response = upstream
                ctx.begin_response(upstream)
                self._run_request_phase(ctx, Phase.response)
        self._run_request_phase(ctx, Phase.header_filter)
        if ctx.after_header_filter is not None and ctx.response is not None:
            ctx.response.headers = ctx.after_header_filter(ctx.response.headers)  # Kong's runloop headers
        self._run_request_phase(ctx, Phase.body_filter)
        if log:
            self.run_log(outcome)
        assert ctx.response is not None  # begun above, or by kong.response.exit / an error
        return ctx.response

    def run_log(self, outcome: Outcome) -> None:
        """The log phase, once, after :meth:`run_response`."""
        if not outcome.finished:
            raise ValueError("run_log comes after run_response")
        if outcome.logged:
            raise ValueError("run_log was already called for this request")
        outcome.logged = True
        self._run_request_phase(outcome.context, Phase.log)

    def handle(
        self,
        conn: ConnectionInfo,
        request: Request,
        send_upstream: Callable[[UpstreamRequest], Response | None],
    ) -> Response:
        """Both steps, for a synchronous caller (tests, simple servers)."""
        outcome = self.run_request(conn, request)
        upstream = send_upstream(outcome.upstream) if outcome.upstream is not None else None
        return self.run_response(outcome, upstream)

    def _run_request_phase(self, ctx: KongContext, phase: Phase, *, global_only: bool = False) -> None:
        if not self.plugins:
            return  # most routes: no generator to build, six times a request
        exited_before = ctx.exit_response
        for inst in self._with_phase(phase, global_only=global_only):
            if ctx.abandoned:
                return  # the server gave up on this request (a plugin timed out)
            self._call(ctx, phase, inst)
            # exit (or a failure) ends the phase: later plugins do not run.
            if ctx.exit_response is not exited_before:
                break

    # -- one plugin, one phase ------------------------------------------

    def _with_phase(self, phase: Phase, *, global_only: bool) -> Iterator[PluginInstance]:
        for inst in self.plugins:
            if phase.name in inst.spec.phases and (inst.scope == "global" or not global_only):
                yield inst

    def _call(self, ctx: KongContext, phase: Phase, inst: PluginInstance) -> bool:
        ctx.phase = phase
        ctx.plugin_name, ctx.plugin_id = inst.name, inst.id
        if ctx.on_plugin_call is not None:
            ctx.on_plugin_call(inst.name, str(phase.name))
        ctx.unwind_pending = False
        lua_style = self.lua_style if inst.spec.lua_style is None else inst.spec.lua_style
        kong = make_kong(ctx, lua_style=lua_style)
        try:
            getattr(inst.plugin, _method_name(phase))(kong)
            return True
        except ExitUnwind:
            return True  # a PDK call after exit: Kong would never have answered it
        except Exception:
            _log.exception("plugin %s failed in the %s phase", inst.name, phase.name)
            if phase in _RESPONSE_PHASES and ctx.request is not None:
                # Kong.handle_error: the request gets the 500, log still runs.
                ctx.pending_response_ops = []
                ctx.response = ctx.exit_response = _error_response(500)
                ctx.source = "error"
            return False
        finally:
            ctx.unwind_pending = False
            ctx.plugin_name = ctx.plugin_id = None
