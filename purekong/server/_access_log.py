"""What ``purekong serve`` records per request: the access line and the metrics.

Every finished request gives one :class:`RequestRecord` (built in
:func:`record_of` from the :class:`~._request.Exchange`). :class:`RequestLog`
prints it on stderr as nginx's ``combined`` line plus the TLS version,
``client_verify`` and the request time (logger ``purekong.access``, at info,
so ``--log-level warning`` silences it), appends it to ``--access-log FILE``
as ``kong.log.serialize()`` JSON (``--access-log-format json``, the default)
or as the same combined line, and counts it in the worker's metrics.

Combined, as nginx's ``log_format combined`` then ours::

    127.0.0.1 - - [02/Dec/2026:15:04:05 +0000] "GET /echo HTTP/1.1" 200 312 "-" "curl/8.5.0" TLSv1.3 client_verify=NONE 0.004
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from purekong.runner import Outcome

    from ._http import Sent
    from ._metrics import Metrics
    from ._request import Exchange

__all__ = ["ACCESS_LOG_FORMATS", "RequestLog", "RequestRecord", "combined_line", "record_of"]

_log = logging.getLogger("purekong.serve")
_access = logging.getLogger("purekong.access")

ACCESS_LOG_FORMATS = ("json", "combined")


@dataclass(frozen=True)
class RequestRecord:
    """One finished request, as the access line and the metrics see it."""

    client_ip: str
    started: float  # seconds since the epoch
    method: str
    target: str
    http_version: str
    status: int
    body_bytes: int
    referer: str
    user_agent: str
    tls_version: str | None
    client_verify: str
    route: str  # the route's name, else its id, else "" (no route matched)
    duration: float  # seconds, from the request's start to the last byte sent


def record_of(exchange: "Exchange", sent: "Sent") -> RequestRecord | None:
    """The record of a finished exchange (None if nothing was answered)."""
    answered = _status_and_route(exchange)
    if answered is None:
        return None
    status, route_name = answered
    req, info = exchange.req, exchange.client.info
    tls = info.tls
    started = exchange.started
    return RequestRecord(
        client_ip=info.client_ip,
        started=started,
        method=req.method,
        target=req.target,
        http_version=req.http_version,
        status=status,
        body_bytes=sent.body_bytes,
        referer=exchange.header("referer") or "-",
        user_agent=exchange.header("user-agent") or "-",
        tls_version=tls.version,
        client_verify=tls.client_verify,
        route=route_name,
        duration=max(0.0, time.time() - started),
    )


def _status_and_route(exchange: "Exchange") -> tuple[int, str] | None:
    """A finished exchange's status and route name (None if nothing was answered)."""
    outcome = exchange.outcome
    if outcome is not None:
        ctx = outcome.context
        status = ctx.response.status if ctx.response is not None else 0
        route = (ctx.request.route if ctx.request is not None else None) or {}
        route_name = str(route.get("name") or route.get("id") or "")
    elif exchange.timed_out or exchange.plain:
        # A plugin never returned (Kong's 500 went out), or a route without
        # plugins streamed the service's response: the route as matched, the
        # status as sent (what the Kong context would have said).
        if exchange.timed_out:
            status = 500
        else:
            status = exchange.streamed_status or 0
        matched = exchange.match.route if exchange.match is not None else None
        route_name = str(matched.name or matched.id or "") if matched is not None else ""
    else:
        return None
    return status, route_name


def _quoted(text: str) -> str:
    """nginx escapes ``"``, ``\\`` and control bytes as ``\\xHH`` in log lines."""
    return "".join(f"\\x{ord(c):02X}" if c in '"\\' or ord(c) < 0x20 or ord(c) == 0x7F else c for c in text)


def combined_line(r: RequestRecord) -> str:
    """nginx's ``combined`` format, then TLS version, client_verify and $request_time."""
    when = time.strftime("%d/%b/%Y:%H:%M:%S %z", time.localtime(r.started))
    request = _quoted(f"{r.method} {r.target} HTTP/{r.http_version}")
    return (f'{r.client_ip} - - [{when}] "{request}" {r.status} {r.body_bytes} '
            f'"{_quoted(r.referer)}" "{_quoted(r.user_agent)}" {r.tls_version or "-"} '
            f"client_verify={r.client_verify} {r.duration:.3f}")


class RequestLog:
    """The stderr line, the ``--access-log`` file and the metrics, per request."""

    def __init__(self, path: Path | None, file_format: str = "json", metrics: "Metrics | None" = None) -> None:
        self._fd: int | None = None
        if path is not None:
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.file_format = file_format
        self.metrics = metrics

    @property
    def serializes(self) -> bool:
        """Does the file get ``kong.log.serialize()`` (which reads the Kong context)?"""
        return self._fd is not None and self.file_format == "json"

    def write(self, exchange: "Exchange", sent: "Sent") -> None:
        to_file = self._fd is not None and self.file_format == "combined"
        if to_file or _access.isEnabledFor(logging.INFO):
            record = record_of(exchange, sent)
            if record is None:
                return
            if self.metrics is not None:
                self.metrics.observe_request(record)
            line = combined_line(record)
            _access.info("%s", line)
            if to_file:
                self._append(line + "\n")
        else:
            # Nobody reads the line: the metrics take the three fields they
            # count, without a whole record built per request.
            answered = _status_and_route(exchange)
            if answered is None:
                return
            if self.metrics is not None:
                self.metrics.observe(answered[1], answered[0], max(0.0, time.time() - exchange.started))
        if self.serializes and exchange.outcome is not None:  # a timed-out request has no serializable context
            self._append_serialized(exchange.outcome)

    def _append_serialized(self, outcome: "Outcome") -> None:
        try:
            entry: Any = outcome.context.serialize()
        except Exception:
            _log.exception("cannot serialize the request for the access log")
            return
        self._append(json.dumps(entry, separators=(",", ":"), ensure_ascii=False, default=str) + "\n")

    def _append(self, line: str) -> None:
        if self._fd is None:
            return
        try:
            os.write(self._fd, line.encode())  # one write: lines from workers never interleave
        except OSError as exc:
            _log.error("access log write failed: %s", exc)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
