"""Kong's plugins iterator: which plugin instances run for a request.

The rules (Kong's ``kong/runloop/plugins_iterator.lua``), executed below as
:data:`PRECEDENCE` and :func:`select`:

* A plugin entity applies to a request only if its ``protocols`` list the
  request's protocol and the route and service it names (if any) are the
  matched ones.
* Of the entities of one plugin *name* that apply, exactly one runs: the first
  in :data:`PRECEDENCE` order, route+service+consumer down to global. A
  consumer-scoped entity applies only once that consumer is authenticated
  (``kong.client.authenticate``, e.g. by mtls-auth in ``access``), so the
  choice is made again at each call with the consumer known by then; before
  authentication, the most specific entity without a consumer runs.
* The runner orders the chosen instances by priority and runs only global ones
  in the connection phases and in ``rewrite`` (the route is not known yet).
* The runloop's own exits come first in ``access`` (global ``rewrite``
  handlers have run, ``header_filter`` and ``log`` still run): no route
  matched (404, and only global plugins apply), and an https-only route reached
  over http (426, or the route's redirect).

Nothing here does I/O: ``purekong.server`` asks :class:`PluginsIterator` for a
:class:`~purekong.runner.Runner` per (route, protocol) and runs it.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterable, Sequence

from purekong.pdk import KongContext
from purekong.runner import NativePlugin, PluginInstance, Runner, configure, plugin_from_class

from ._model import PluginEntity, Route
from ._router import RouteMatch

__all__ = ["NO_ROUTE_MESSAGE", "PRECEDENCE", "PluginsIterator", "applies", "https_required_exit", "runloop_exit", "select"]

NO_ROUTE_MESSAGE = "no Route matched with those values"

#: Which scopes an entity names (route, service, consumer), most specific
#: first: the first one present among the entities that apply wins.
PRECEDENCE: tuple[tuple[bool, bool, bool], ...] = (
    (True, True, True),
    (True, False, True),
    (False, True, True),
    (True, True, False),
    (False, False, True),
    (True, False, False),
    (False, True, False),
    (False, False, False),
)


def _rank(entity: PluginEntity) -> int:
    return PRECEDENCE.index((bool(entity.route), bool(entity.service), bool(entity.consumer)))


def applies(entity: PluginEntity, *, protocol: str, route_id: str | None, service_id: str | None) -> bool:
    """Does ``entity`` apply to a request on this route and service (consumer aside)?"""
    return (
        protocol in entity.protocols
        and (entity.route is None or entity.route == route_id)
        and (entity.service is None or entity.service == service_id)
    )


def select(candidates: Sequence[PluginEntity], consumer_id: str | None) -> PluginEntity | None:
    """Of the applying entities of one plugin name, the one Kong runs for ``consumer_id``."""
    eligible = [e for e in candidates if e.consumer is None or e.consumer == consumer_id]
    return min(eligible, key=_rank, default=None)


class _ChosenPerConsumer:
    """The plugin object of a name with consumer-scoped entities: each call
    goes to the instance :func:`select` picks for the authenticated consumer."""

    def __init__(self, candidates: list[tuple[PluginEntity, PluginInstance]]) -> None:
        self._candidates = candidates
        self._entities = [entity for entity, _ in candidates]

    def _instance_for(self, consumer_id: str | None) -> PluginInstance | None:
        chosen = select(self._entities, consumer_id)
        return next((inst for entity, inst in self._candidates if entity is chosen), None)

    def __getattr__(self, phase: str) -> Callable[[Any], object]:
        if phase.startswith("_"):
            raise AttributeError(phase)  # only phase handlers are forwarded

        def call(kong: Any) -> object:
            ctx = KongContext.of(kong)
            inst = self._instance_for(ctx.consumer_id if ctx is not None else None)
            return None if inst is None else getattr(inst.plugin, phase)(kong)

        return call


def _scoped(entity: PluginEntity, inst: PluginInstance) -> PluginInstance:
    """The instance with the runner's scope for ``entity`` (global runs in rewrite)."""
    scope = "route" if entity.route or entity.consumer else "service" if entity.service else "global"
    return inst if inst.scope == scope else dataclasses.replace(inst, scope=scope)


def _chosen_instances(
    instances: Iterable[tuple[PluginEntity, PluginInstance]], *, protocol: str, route_id: str | None, service_id: str | None
) -> list[PluginInstance]:
    by_name: dict[str, list[tuple[PluginEntity, PluginInstance]]] = {}
    for entity, inst in instances:
        if applies(entity, protocol=protocol, route_id=route_id, service_id=service_id):
            by_name.setdefault(entity.name, []).append((entity, inst))
    out = []
    for candidates in by_name.values():
        entities = [entity for entity, _ in candidates]
        if all(entity.consumer is None for entity in entities):
            chosen = select(entities, None)
            out.append(next(_scoped(e, i) for e, i in candidates if e is chosen))
            continue
        # The instance before authentication decides the scope (a global one
        # runs in rewrite, with no consumer yet); without one, the plugin
        # waits for its consumer in access.
        fallback = select(entities, None)
        first = candidates[0][1]
        scope = _scoped(fallback, first).scope if fallback is not None else "route"
        out.append(dataclasses.replace(first, plugin=_ChosenPerConsumer(candidates), scope=scope))
    return out


def runloop_exit(status: int, body: object, headers: dict[str, str] | None = None) -> PluginInstance:
    """What Kong's runloop answers before the plugins' access handlers run,
    as the first access handler."""

    class RunloopExit(NativePlugin):
        name = "purekong-runloop"
        priority = 10**9

        def access(self, kong: Any) -> None:
            kong.response.exit(status, body, headers)

    return configure(plugin_from_class(RunloopExit))


def https_required_exit(route: Route) -> PluginInstance:
    """Kong's answer to an https-only route reached over http."""
    code = route.https_redirect_status_code
    if code == 426:
        return runloop_exit(426, {"message": "Please use HTTPS protocol"}, {"Connection": "Upgrade", "Upgrade": "TLS/1.2, HTTP/1.1"})

    class Redirect(NativePlugin):
        name = "purekong-runloop"
        priority = 10**9

        def access(self, kong: Any) -> None:
            host = kong.request.get_host()
            kong.response.exit(code, None, {"Location": f"https://{host}{kong.request.get_path_with_query()}"})

    return configure(plugin_from_class(Redirect))


class PluginsIterator:
    """The configured plugin instances, and the runner each request gets.

    ``instances`` pairs each enabled plugin entity with its configured
    instance. Runners are built on first use and kept per (route, protocol).
    """

    def __init__(self, instances: Sequence[tuple[PluginEntity, PluginInstance]], *, lua_style: bool = True) -> None:
        self.instances = list(instances)
        #: The call style of Kong Python plugins that do not choose their own.
        self.lua_style = lua_style
        #: Global plugins, for the connection phases (certificate, client_hello).
        self.connection_runner = Runner([inst for entity, inst in self.instances if entity.scope == "global"],
                                        lua_style=lua_style)
        self._runners: dict[tuple[str | None, str, bool], Runner] = {}

    def plugins_for(self, match: RouteMatch | None, protocol: str) -> list[PluginInstance]:
        """The instances that may run for a request (before the runloop's exits)."""
        route_id = match.route.id if match else None
        service_id = match.service.id if match and match.service else None
        return _chosen_instances(self.instances, protocol=protocol, route_id=route_id, service_id=service_id)

    def runner_for(self, match: RouteMatch | None, protocol: str) -> Runner:
        """The runner for a request routed to ``match`` (None: no route matched)."""
        key = (match.route.id if match else None, protocol, bool(match and match.https_required))
        runner = self._runners.get(key)
        if runner is None:
            plugins = self.plugins_for(match, protocol)
            if match is None:
                plugins = [p for p in plugins if p.scope == "global"]
                plugins.append(runloop_exit(404, {"message": NO_ROUTE_MESSAGE}))
            elif match.https_required:
                plugins.append(https_required_exit(match.route))
            runner = Runner(plugins, check_phases=True, lua_style=self.lua_style)
            self._runners[key] = runner
        return runner
