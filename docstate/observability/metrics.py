"""Prometheus metrics: the Temporal SDK's own, and DocState's, on one endpoint.

With ``DOCSTATE_METRICS_PORT`` set, a worker serves ``/metrics`` through the SDK's
Prometheus exporter (its runtime metrics: task slots, poll latencies, schedule-to-start
...), and DocState records its own through the same runtime's meter:

- ``docstate_transition_duration_seconds`` (histogram), ``docstate_transition_attempts``
  and ``docstate_transition_failures`` (with ``error_type``), by ``doc_type`` and
  ``transition``;
- ``docstate_projection_write_lag_seconds`` (histogram): a write's event to its commit;
- ``docstate_documents`` by ``doc_type`` and ``status``, and
  ``docstate_oldest_waiting_seconds``: read from the projection every interval;
- ``docstate_webhook_deliveries`` by ``outcome`` (see :mod:`docstate.webhooks`).

The HTTP API's own ``/metrics`` is :mod:`docstate.observability.apimetrics`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import sqlalchemy as sa
from temporalio import activity
from temporalio.common import MetricMeter
from temporalio.exceptions import ApplicationError
from temporalio.runtime import PrometheusConfig
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from docstate.config import Settings
from docstate.document import Status
from docstate.observability.attempts import observed, observing
from docstate.projection.queries import ProjectionQueries
from docstate.projection.records import ProjectionWrite
from docstate.projection.schema import documents
from docstate.projection.writer import Writer


def prometheus_config(settings: Settings) -> PrometheusConfig | None:
    """Where the worker's runtime exports Prometheus metrics (``metrics_host:metrics_port``),
    or None when metrics are off (no port set)."""
    if settings.metrics_port is None:
        return None
    return PrometheusConfig(
        bind_address=f"{settings.metrics_host}:{settings.metrics_port}",
        durations_as_seconds=True,
    )


def _error_type(err: BaseException) -> str:
    if isinstance(err, ApplicationError) and err.type:
        return err.type
    return type(err).__name__


class TransitionMetrics(Interceptor):
    """Times and counts every transition activity (not the engine's own activities)."""

    def __init__(self, meter: MetricMeter) -> None:
        self.duration = meter.create_histogram_float(
            "docstate_transition_duration_seconds", "time of one transition attempt", "s"
        )
        self.attempts = meter.create_counter(
            "docstate_transition_attempts", "transition attempts, by outcome"
        )
        self.failures = meter.create_counter(
            "docstate_transition_failures", "failed transition attempts, by error type"
        )

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _TimedTransitions(next, self)

    def record(
        self, doc_type: str, transition: str, seconds: float, error: BaseException | None
    ) -> None:
        """One transition attempt (an :data:`~docstate.observability.attempts.AttemptObserver`)."""
        labels = {"doc_type": doc_type, "transition": transition}
        if error is not None:
            self.failures.add(1, {**labels, "error_type": _error_type(error)})
        self.duration.record(seconds, labels)
        self.attempts.add(1, {**labels, "outcome": "ok" if error is None else "error"})


class _TimedTransitions(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, metrics: TransitionMetrics) -> None:
        super().__init__(next)
        self.metrics = metrics

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        doc_type, dot, transition = activity.info().activity_type.partition(".")
        # The engine's own activities (begin, record, ...) are not attempts; a local run
        # (docstate.run) reports each attempt it takes to the observer set here.
        with observing(self.metrics.record):
            if not dot or doc_type == "docstate":
                return await super().execute_activity(input)
            with observed(doc_type, transition):
                return await super().execute_activity(input)


class MeteredWriter:
    """A projection writer that records how long each write took to become visible."""

    def __init__(self, writer: Writer, meter: MetricMeter) -> None:
        self.writer = writer
        self.lag = meter.create_histogram_float(
            "docstate_projection_write_lag_seconds",
            "from an event (a transition's end, a status change) to its row committed",
            "s",
        )

    async def apply(self, writes: Sequence[ProjectionWrite]) -> None:
        await self.writer.apply(writes)
        now = datetime.now(UTC)
        for write in writes:
            self.lag.record(max(0.0, (now - write.at).total_seconds()))

    async def close(self) -> None:
        await self.writer.close()


class GaugeSink(Protocol):
    """Where :class:`ProjectionGauges` puts what it reads (a meter, a Prometheus registry)."""

    def documents(self, n: int, doc_type: str, status: str) -> None:
        """Set the count of ``doc_type`` documents in ``status``."""

    def oldest_waiting(self, seconds: float) -> None:
        """Set the age of the oldest waiting document."""


class MeterGauges:
    """The projection gauges on a Temporal runtime's meter (the worker's metrics)."""

    def __init__(self, meter: MetricMeter) -> None:
        self._documents = meter.create_gauge("docstate_documents", "documents by type and status")
        self._oldest_waiting = meter.create_gauge_float(
            "docstate_oldest_waiting_seconds", "age of the oldest waiting document", "s"
        )

    def documents(self, n: int, doc_type: str, status: str) -> None:
        self._documents.set(n, {"doc_type": doc_type, "status": status})

    def oldest_waiting(self, seconds: float) -> None:
        self._oldest_waiting.set(seconds)


class ProjectionGauges:
    """Documents by type and status, and the oldest waiting one, read from the projection.

    Two grouped queries per ``interval``, whatever the number of documents watched.

    Args:
        queries: The projection.
        sink: Where the values go.
        interval: Seconds between reads (of the loop, and of :meth:`refresh_if_older`).
    """

    def __init__(self, queries: ProjectionQueries, sink: GaugeSink, interval: float = 15.0) -> None:
        self.queries = queries
        self.interval = interval
        self.sink = sink
        self._seen: set[tuple[str, str]] = set()
        self._task: asyncio.Task[None] | None = None
        self._refreshed = -float("inf")

    async def refresh(self) -> None:
        """Read the counts now and set the gauges (a pair that went away is set to 0)."""
        counts: dict[tuple[str, str], int] = dict.fromkeys(self._seen, 0)
        for (doc_type, _state, status), n in (await self.queries.status_counts()).items():
            key = (doc_type, status.value)
            counts[key] = counts.get(key, 0) + n
        query = sa.select(sa.func.min(documents.c.updated_at)).where(
            documents.c.status == Status.WAITING.value
        )
        async with self.queries.engine.connect() as conn:
            oldest = (await conn.execute(query)).scalar()
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=UTC)  # SQLite hands back naive UTC
        age = (datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0
        # Both read, then both set: a scrape between the two reads would otherwise see a
        # waiting document counted and no age for it.
        for (doc_type, status_name), n in counts.items():
            self.sink.documents(n, doc_type, status_name)
        self._seen = set(counts)
        self.sink.oldest_waiting(age)
        self._refreshed = time.monotonic()

    async def refresh_if_older(self) -> None:
        """:meth:`refresh`, unless it ran less than ``interval`` ago (at a scrape: the
        queries run only as often as the interval allows, and only when scraped)."""
        if time.monotonic() - self._refreshed >= self.interval:
            await self.refresh()

    async def __aenter__(self) -> ProjectionGauges:
        self._task = asyncio.create_task(self._loop())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            # A database outage must not stop the metrics: the next tick tries again.
            with contextlib.suppress(Exception):
                await self.refresh()
            await asyncio.sleep(self.interval)
