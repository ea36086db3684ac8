"""One worker's metrics, in Prometheus's text exposition format (``GET /metrics``).

Counters and histograms kept in plain dicts by label values, rendered by
:meth:`Metrics.render` (format 0.0.4: ``# HELP``, ``# TYPE``, then samples).
The label sets stay bounded: routes come from the configuration (requests
that match none count under ``route=""``), statuses are three digits, TLS
versions and ``client_verify`` results are short fixed lists.

With ``--workers N`` each worker keeps its own: a scrape gets the worker
that accepted it (the ``pid`` in ``purekong_worker_info`` says which).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._access_log import RequestRecord

__all__ = ["LATENCY_BUCKETS", "Metrics"]

#: Request latency buckets, seconds (Kong's prometheus plugin's, in ms: 1 2 5 7 10 ... 60000).
LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass
class _Histogram:
    buckets: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BUCKETS))
    count: int = 0
    total: float = 0.0

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

    def observe_request(self, r: "RequestRecord") -> None:
        key = (r.route, str(r.status))
        self.requests[key] = self.requests.get(key, 0) + 1
        self.latency.setdefault(r.route, _Histogram()).observe(r.duration)

    def observe_handshake(self, version: str | None, ok: bool, client_verify: str | None = None) -> None:
        key = (version or "unknown", "success" if ok else "failure")
        self.handshakes[key] = self.handshakes.get(key, 0) + 1
        if ok and client_verify is not None:
            result = client_verify.split(":", 1)[0]  # "FAILED:reason" counts as FAILED
            self.client_verify[result] = self.client_verify.get(result, 0) + 1

    def observe_reload(self, ok: bool) -> None:
        key = "success" if ok else "failure"
        self.config_reloads[key] = self.config_reloads.get(key, 0) + 1

    def render(self) -> str:
        out: list[str] = []

        def family(name: str, kind: str, help_text: str) -> None:
            out.append(f"# HELP {name} {help_text}")
            out.append(f"# TYPE {name} {kind}")

        family("purekong_worker_info", "gauge", "The worker that answered this scrape.")
        out.append(f"purekong_worker_info{_labels(pid=str(os.getpid()))} 1")
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
