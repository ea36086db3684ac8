"""One worker's metrics, in Prometheus's text exposition format (``GET /metrics``).

Counters and histograms kept in plain dicts by label values, rendered by
:meth:`Metrics.render` (format 0.0.4: ``# HELP``, ``# TYPE``, then samples).
The label sets stay bounded: routes come from the configuration (requests
that match none count under ``route=""``), statuses are three digits, TLS
versions and ``client_verify`` results are short fixed lists.

With ``--workers N`` each worker keeps its own and publishes a snapshot
every second into its slot of :class:`SharedMetrics` (an anonymous shared
memory map made before the fork, one fixed-size slot per worker, each
written under a sequence counter so a reader never takes a torn one); the
worker answering a scrape adds the others' latest snapshots to its own live
counts, so ``/metrics`` describes the whole server, at most a second late
for the other workers (``purekong_worker_info`` lists every pid).
"""

from __future__ import annotations

import json
import logging
import mmap
import os
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._access_log import RequestRecord

__all__ = ["LATENCY_BUCKETS", "Metrics", "SharedMetrics"]

_log = logging.getLogger("purekong.serve")

#: Request latency buckets, seconds (Kong's prometheus plugin's, in ms: 1 2 5 7 10 ... 60000).
LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass
class _Histogram:
    buckets: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BUCKETS))
    count: int = 0
    total: float = 0.0

    def add(self, other: "_Histogram") -> None:
        self.buckets = [a + b for a, b in zip(self.buckets, other.buckets)]
        self.count += other.count
        self.total += other.total

    def observe(self, value: float) -> None:
        for i, bound in enumerate(LATENCY_BUCKETS):
            if value <= bound:
                self.buckets[i] += 1
        self.count += 1
        self.total += value


def _labels(**labels: str) -> str:
    def escape(v: str) -> str:
        return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')

    return "{" + ",".join(f'{k}="{escape(v)}"' for k, v in labels.items()) + "}"


class Metrics:
    """The counters of one worker."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str], int] = {}  # (route, status) -> count
        self.latency: dict[str, _Histogram] = {}  # route -> histogram
        self.handshakes: dict[tuple[str, str], int] = {}  # (version, outcome) -> count
        self.client_verify: dict[str, int] = {}  # result -> count
        self.connections_open = 0
        self.connections_accepted = 0
        self.config_reloads: dict[str, int] = {}  # "success"/"failure" -> count
        self.pids = [os.getpid()]  # whose counts these are (several, once merged)

    def observe_request(self, r: "RequestRecord") -> None:
        self.observe(r.route, r.status, r.duration)

    def observe(self, route: str, status: int, duration: float) -> None:
        """One finished request: its route's name, status and duration (seconds)."""
        key = (route, str(status))
        self.requests[key] = self.requests.get(key, 0) + 1
        histogram = self.latency.get(route)
        if histogram is None:
            histogram = self.latency[route] = _Histogram()
        histogram.observe(duration)

    def observe_handshake(self, version: str | None, ok: bool, client_verify: str | None = None) -> None:
        key = (version or "unknown", "success" if ok else "failure")
        self.handshakes[key] = self.handshakes.get(key, 0) + 1
        if ok and client_verify is not None:
            result = client_verify.split(":", 1)[0]  # "FAILED:reason" counts as FAILED
            self.client_verify[result] = self.client_verify.get(result, 0) + 1

    def observe_reload(self, ok: bool) -> None:
        key = "success" if ok else "failure"
        self.config_reloads[key] = self.config_reloads.get(key, 0) + 1

    # -- several workers -----------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """The counters as JSON-ready data (for :class:`SharedMetrics`)."""
        return {
            "pid": os.getpid(),
            "requests": [[r, c, n] for (r, c), n in self.requests.items()],
            "latency": [[r, h.buckets, h.count, h.total] for r, h in self.latency.items()],
            "handshakes": [[v, o, n] for (v, o), n in self.handshakes.items()],
            "client_verify": self.client_verify,
            "connections_open": self.connections_open,
            "connections_accepted": self.connections_accepted,
            "config_reloads": self.config_reloads,
        }

    def merged(self, snapshots: list[dict[str, Any]]) -> "Metrics":
        """These counters plus other workers' snapshots."""
        total = Metrics()
        total.pids = [os.getpid()]
        for snap in [self.snapshot(), *snapshots]:
            if snap["pid"] != os.getpid():
                total.pids.append(snap["pid"])
            for r, c, n in snap["requests"]:
                total.requests[(r, c)] = total.requests.get((r, c), 0) + n
            for r, buckets, count, sum_ in snap["latency"]:
                total.latency.setdefault(r, _Histogram()).add(_Histogram(list(buckets), count, sum_))
            for v, o, n in snap["handshakes"]:
                total.handshakes[(v, o)] = total.handshakes.get((v, o), 0) + n
            for table, values in ((total.client_verify, snap["client_verify"]), (total.config_reloads, snap["config_reloads"])):
                for k, n in values.items():
                    table[k] = table.get(k, 0) + n
            total.connections_open += snap["connections_open"]
            total.connections_accepted += snap["connections_accepted"]
        return total

    def render(self) -> str:
        out: list[str] = []

        def family(name: str, kind: str, help_text: str) -> None:
            out.append(f"# HELP {name} {help_text}")
            out.append(f"# TYPE {name} {kind}")

        family("purekong_worker_info", "gauge", "The workers these counts are from.")
        for pid in self.pids:
            out.append(f"purekong_worker_info{_labels(pid=str(pid))} 1")
        family("purekong_http_requests_total", "counter", "HTTP requests by route and status.")
        for (route, status), n in sorted(self.requests.items()):
            out.append(f"purekong_http_requests_total{_labels(route=route, code=status)} {n}")
        family("purekong_request_latency_seconds", "histogram", "Time from a request's start to its last byte sent, by route.")
        for route, h in sorted(self.latency.items()):
            for bound, n in zip(LATENCY_BUCKETS, h.buckets):
                out.append(f"purekong_request_latency_seconds_bucket{_labels(route=route, le=repr(bound))} {n}")
            out.append(f"purekong_request_latency_seconds_bucket{_labels(route=route, le='+Inf')} {h.count}")
            out.append(f"purekong_request_latency_seconds_count{_labels(route=route)} {h.count}")
            out.append(f"purekong_request_latency_seconds_sum{_labels(route=route)} {h.total!r}")
        family("purekong_tls_handshakes_total", "counter", "TLS handshakes by version and outcome.")
        for (version, outcome), n in sorted(self.handshakes.items()):
            out.append(f"purekong_tls_handshakes_total{_labels(version=version, outcome=outcome)} {n}")
        family("purekong_client_verify_total", "counter", "Completed TLS handshakes by $ssl_client_verify result.")
        for result, n in sorted(self.client_verify.items()):
            out.append(f"purekong_client_verify_total{_labels(result=result)} {n}")
        family("purekong_connections_open", "gauge", "Client connections open now.")
        out.append(f"purekong_connections_open {self.connections_open}")
        family("purekong_connections_accepted_total", "counter", "Client connections accepted.")
        out.append(f"purekong_connections_accepted_total {self.connections_accepted}")
        family("purekong_config_reloads_total", "counter", "Configuration reloads (SIGHUP, POST /config) by outcome.")
        for outcome, n in sorted(self.config_reloads.items()):
            out.append(f"purekong_config_reloads_total{_labels(outcome=outcome)} {n}")
        return "\n".join(out) + "\n"


class SharedMetrics:
    """One fixed-size slot per worker in memory shared across the fork.

    A slot is ``sequence (u64) | length (u32) | JSON``; the writer makes the
    sequence odd, writes, makes it even, so a reader that sees the same even
    sequence before and after copying has a whole snapshot.
    """

    SLOT = 1024 * 1024  # a snapshot over it is not published (logged once)
    _HEAD = struct.Struct("<QI")

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._map = mmap.mmap(-1, workers * self.SLOT)
        self.index: int | None = None  # set in each worker after the fork
        self._too_big = False

    def publish(self, metrics: Metrics) -> None:
        assert self.index is not None
        data = json.dumps(metrics.snapshot(), separators=(",", ":")).encode()
        if len(data) > self.SLOT - self._HEAD.size:
            if not self._too_big:
                self._too_big = True
                _log.warning("metrics snapshot of %d bytes does not fit its %d-byte slot: other workers' scrapes miss this one",
                             len(data), self.SLOT)
            return
        base = self.index * self.SLOT
        seq, _ = self._HEAD.unpack_from(self._map, base)
        self._HEAD.pack_into(self._map, base, seq + 1, 0)  # odd: being written
        self._map[base + self._HEAD.size:base + self._HEAD.size + len(data)] = data
        self._HEAD.pack_into(self._map, base, seq + 2, len(data))

    def others(self) -> list[dict[str, Any]]:
        """The other workers' latest snapshots (a slot being written is retried, then skipped)."""
        out = []
        for index in range(self.workers):
            if index == self.index:
                continue
            base = index * self.SLOT
            for _ in range(10):
                seq, length = self._HEAD.unpack_from(self._map, base)
                if seq == 0:
                    break  # nothing published yet
                data = bytes(self._map[base + self._HEAD.size:base + self._HEAD.size + length])
                if seq % 2 == 0 and self._HEAD.unpack_from(self._map, base)[0] == seq:
                    out.append(json.loads(data))
                    break
        return out
