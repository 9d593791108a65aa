"""The HTTP API's Prometheus metrics, served at its own ``GET /metrics``.

- ``docstate_http_requests_total`` by ``method``, ``route`` (the route's template, such
  as ``/jobs/{job_id}``; ``unmatched`` for a path no route has) and ``status``;
- ``docstate_http_request_duration_seconds`` (histogram) by ``method`` and ``route``
  (a Server-Sent Events stream counts until it ends);
- ``docstate_watcher_reads_total`` by ``watcher``: the queries of the client's watcher
  (``documents``), which serves every wait and progress stream of the process, and of
  the one behind ``GET /jobs/{id}?wait`` (``jobs``);
- ``docstate_watcher_lag_seconds`` (histogram): a document's change (its row's
  ``updated_at``, so the projection write lag is part of it) to the watcher handing it
  to the waits and streams watching it;
- ``docstate_documents`` and ``docstate_oldest_waiting_seconds``, as the worker exports
  them, read from the projection when scraped, at most once per ``metrics_interval``.

Each app has a registry of its own, so several apps in one process do not collide.
"""

from __future__ import annotations

import contextlib

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from docstate.observability.metrics import ProjectionGauges
from docstate.projection.queries import ProjectionQueries

LAG_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class _PrometheusGauges:
    """The projection gauges (see :class:`ProjectionGauges`) in a Prometheus registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._documents = Gauge(
            "docstate_documents",
            "documents by type and status",
            ["doc_type", "status"],
            registry=registry,
        )
        self._oldest_waiting = Gauge(
            "docstate_oldest_waiting_seconds",
            "age of the oldest waiting document",
            registry=registry,
        )

    def documents(self, n: int, doc_type: str, status: str) -> None:
        self._documents.labels(doc_type=doc_type, status=status).set(n)

    def oldest_waiting(self, seconds: float) -> None:
        self._oldest_waiting.set(seconds)


class ApiMetrics:
    """One API process's metrics; also the :class:`~docstate.client.watcher.WatchObserver`
    of its client's watcher.

    Args:
        interval: Least seconds between two reads of the projection gauges.
    """

    def __init__(self, interval: float) -> None:
        self.registry = CollectorRegistry()
        self.interval = interval
        self.requests = Counter(
            "docstate_http_requests",
            "HTTP requests, by route template and status code",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "docstate_http_request_duration_seconds",
            "time from an HTTP request to the end of its response",
            ["method", "route"],
            registry=self.registry,
        )
        self.watcher_reads = Counter(
            "docstate_watcher_reads",
            "queries of the watchers serving waits and progress streams",
            ["watcher"],
            registry=self.registry,
        )
        self.watcher_lag = Histogram(
            "docstate_watcher_lag_seconds",
            "from a watched document's change to its delivery to waits and streams",
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        self._sink = _PrometheusGauges(self.registry)
        self.gauges: ProjectionGauges | None = None

    def watch(self, queries: ProjectionQueries) -> None:
        """Read the projection gauges from ``queries`` (once the app has its client)."""
        self.gauges = ProjectionGauges(queries, self._sink, self.interval)

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count and time one HTTP request."""
        self.requests.labels(method=method, route=route, status=str(status)).inc()
        self.duration.labels(method=method, route=route).observe(seconds)

    def read(self) -> None:
        self.watcher_reads.labels(watcher="documents").inc()

    def job_read(self) -> None:
        """The job watcher (``?wait``) queried once."""
        self.watcher_reads.labels(watcher="jobs").inc()

    def delivered(self, lag: float) -> None:
        self.watcher_lag.observe(lag)

    async def exposition(self) -> bytes:
        """The metrics in Prometheus' text format (the gauges refreshed if stale)."""
        if self.gauges is not None:
            # a database outage must not hide the other metrics: the gauges keep their
            # last values, and the next scrape tries again
            with contextlib.suppress(Exception):
                await self.gauges.refresh_if_older()
        return generate_latest(self.registry)
