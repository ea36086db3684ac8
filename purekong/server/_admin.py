"""``--admin-listen``: Kong's status endpoints and DB-less Admin API, over plain HTTP.

Served by every worker on its own listener, with the same HTTP layer as the
proxy (:func:`~._http.serve_connection`):

- ``GET /``: node information (version, hostname, node id, configuration, plugins);
- ``GET /status``: the worker's connection counters (nginx's stub_status) and the
  configuration hash, as Kong's;
- ``GET /metrics``: Prometheus text format (:mod:`._metrics`);
- ``GET /services``, ``/routes``, ``/plugins``, ``/consumers``, ``/certificates``,
  ``/ca_certificates``, ``/snis`` (by id or name, nested): :mod:`purekong.gateway._admin_api`;
- ``POST /config``: a new declarative configuration (JSON or YAML; as the body,
  or as its ``config`` field, JSON or form-encoded), validated as a file is at
  start; 201 with the entities, or Kong's 400 with every problem and the old
  configuration kept. With ``--workers N`` the other workers load it too
  (:mod:`._reload`).

Writing an entity (``POST /services``, ``PATCH /routes/x``...) gets Kong
DB-less's 405 ``operation unsupported``; anything else is 404 (Kong's body).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import signal
import socket
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from purekong import __version__, gateway
from purekong.gateway._admin_api import ENTITY_KINDS, admin_get, admin_write, config_error_body, entity_list
from purekong.pdk import WORKER_STATISTICS

from ._http import HTTPRequest, Reply, Sent, serve_connection
from ._streams import PlainStream
from ._settings import ServeConfigError

if TYPE_CHECKING:
    from ._worker import Worker

__all__ = ["AdminServer"]

_log = logging.getLogger("purekong.serve")
_JSON = "application/json; charset=utf-8"


def _json_reply(status: int, body: Any) -> Reply:
    return Reply(status, [("Content-Type", _JSON)], (json.dumps(body, default=str) + "\n").encode())


def _node_id() -> str:
    # One id per ``purekong serve`` (the parent's pid with several workers).
    parent = os.getpid() if os.getppid() == 1 else os.getppid()
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"purekong:{socket.gethostname()}:{parent}"))


class AdminServer:
    """One worker's admin listener."""

    def __init__(self, worker: "Worker") -> None:
        self.worker = worker
        self.node_id = _node_id() if worker.options.workers > 1 else str(uuid.uuid4())
        self._tasks: set[asyncio.Task[None]] = set()

    def opened(self, stream: PlainStream) -> None:
        """A connection was accepted: serve it in a task of its own."""
        task = asyncio.get_running_loop().create_task(self.accept(stream))
        self._tasks.add(task)  # a task nobody holds may be collected
        task.add_done_callback(self._tasks.discard)

    async def accept(self, stream: PlainStream) -> None:
        try:
            await serve_connection(stream, lambda req: _AdminRequest(self, req), self.worker.limits)
        except Exception:
            _log.exception("admin connection failed")
        finally:
            stream.abort()

    # -- the endpoints ---------------------------------------------------------------
    async def answer(self, req: HTTPRequest) -> Reply:
        path, _, query_text = req.target.partition("?")
        query = {k: v[-1] for k, v in parse_qs(query_text).items()}
        if path.rstrip("/") == "/config":
            if req.method != "POST":
                return _json_reply(405, {"message": "Method not allowed"})
            return await self._post_config(req, query)
        if req.method not in ("GET", "HEAD"):
            if path.rstrip("/") in ("", "/status", "/metrics"):
                return _json_reply(405, {"message": "Method not allowed"})
            return _json_reply(*admin_write(req.method, path))
        if path == "/":
            return _json_reply(200, self._node_info())
        if path.rstrip("/") == "/status":
            return _json_reply(200, self._status())
        if path.rstrip("/") == "/metrics":
            return Reply(200, [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")], self.worker.metrics_view().render().encode())
        status, body = admin_get(self.worker.config.declarative, path, query)
        return _json_reply(status, body)

    def _node_info(self) -> dict[str, Any]:
        options, config = self.worker.options, self.worker.config
        enabled = sorted({entity.name for entity, _ in config.plugins.instances})
        return {
            "version": __version__,
            "tagline": "Welcome to purekong",
            "hostname": socket.gethostname(),
            "node_id": self.node_id,
            "pid": os.getpid(),
            "configuration": {
                "database": "off",
                "role": "traditional",
                "declarative_config": str(options.declarative) if options.declarative else None,
                "proxy_listen": [f"{l.host}:{l.port}{' ssl' if l.ssl else ''}" for l in options.listeners],
                "admin_listen": [f"{options.admin_listen.host}:{options.admin_listen.port}"] if options.admin_listen else [],
                "nginx_worker_processes": options.workers,
                "plugins": enabled,
            },
            "plugins": {
                "available_on_server": {name: True for name in enabled},
                "enabled_in_cluster": enabled,
            },
        }

    def _status(self) -> dict[str, Any]:
        return {
            "database": {"reachable": True},
            "server": WORKER_STATISTICS.as_table(),
            "configuration_hash": _configuration_hash(self.worker.config.declarative),
        }

    async def _post_config(self, req: HTTPRequest, query: dict[str, str]) -> Reply:
        source = self.worker.source
        if source is None:
            return _json_reply(400, {"message": "this purekong serve cannot load a configuration"})
        try:
            data = _posted_config(req)
        except ValueError as exc:
            return _json_reply(400, {"code": 14, "name": "invalid declarative configuration", "message": str(exc)})
        try:
            config = source.load_data(data)
        except gateway.ConfigError as exc:
            self.worker.metrics.observe_reload(False)
            _log.error("POST /config refused, the old configuration stays: %s", exc)
            return _json_reply(400, config_error_body(exc.problems, data))
        except ServeConfigError as exc:
            self.worker.metrics.observe_reload(False)
            _log.error("POST /config refused, the old configuration stays: %s", exc)
            lines = str(exc).split("\n  ")
            return _json_reply(400, config_error_body(lines[1:] or lines, data))
        await self.worker.reload(config)
        _log.info("POST /config: configuration loaded (worker %d)", os.getpid())
        if self.worker.options.workers > 1 and source.posted_path is not None:
            try:
                source.write_posted(data)
            except OSError as exc:
                _log.error("POST /config: cannot pass the configuration to the other workers (%s): %s", source.posted_path, exc)
                return _json_reply(500, {"message": "An unexpected error occurred"})
            os.kill(os.getppid(), signal.SIGUSR2)  # the parent passes it to every worker
        return _json_reply(201, {kind: entity_list(config.declarative, kind) for kind in ENTITY_KINDS})


def _configuration_hash(declarative: gateway.Declarative) -> str:
    """Kong's ``configuration_hash``: an MD5 of the entities (here, of their Admin API view)."""
    view = {kind: entity_list(declarative, kind) for kind in ENTITY_KINDS}
    return hashlib.md5(json.dumps(view, sort_keys=True, default=str).encode(), usedforsecurity=False).hexdigest()


def _posted_config(req: HTTPRequest) -> Any:
    """The entities of a ``POST /config``: Kong takes them as the body or as its ``config`` field."""
    ctype = (req.header("content-type") or "").split(";")[0].strip().lower()
    text = req.body.decode("utf-8", "replace")
    if ctype == "application/x-www-form-urlencoded":
        values = parse_qs(text).get("config")
        if not values:
            raise ValueError("expected a declarative configuration in the 'config' field")
        return _decode(values[-1])
    data = _decode(text)
    if isinstance(data, dict) and isinstance(data.get("config"), str):
        return _decode(data["config"])
    return data


def _decode(text: str) -> Any:
    """JSON, else YAML (Kong accepts both, never Lua)."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"failed parsing declarative configuration: {exc}") from None


class _AdminRequest:
    """One admin request (the HTTP layer's RequestCycle)."""

    def __init__(self, server: AdminServer, req: HTTPRequest) -> None:
        self.server, self.req = server, req

    async def respond(self) -> Reply:
        try:
            return await self.server.answer(self.req)
        except Exception:
            _log.exception("admin request %s %s failed", self.req.method, self.req.target)
            return _json_reply(500, {"message": "An unexpected error occurred"})

    async def finish(self, sent: Sent) -> None:
        _log.debug("admin %s %s (%d bytes)", self.req.method, self.req.target, sent.body_bytes)
