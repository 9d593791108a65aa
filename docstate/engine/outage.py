"""Logging a projection outage: one line per document, not a stack per retry.

While the database is down every transition and status write is retried (the record
activity until it answers). Logged as the SDK does, each attempt would print a stack
trace: tens of thousands of lines in a minute. Instead the first failure of each
document says what failed, and the first success after the outage says it is over.
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory
from temporalio.runtime import (
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)

log = logging.getLogger("docstate.projection")

PROJECTION_DOWN = "ProjectionUnavailable"
"""The error type of a projection write that failed (retried; never a failed step)."""

_REMEMBERED = 10_000  # documents tracked at most; beyond, a repeat line is harmless


class OutageLog:
    """Which documents' writes are failing now, so each is reported once per outage."""

    def __init__(self) -> None:
        self._failing: set[str] = set()

    def failed(self, document_id: str, err: BaseException) -> str:
        """Note a failed write; log it when it is this document's first. Returns the
        error as one line."""
        line = " ".join(f"{type(err).__name__}: {err}".split())[:300]
        if document_id not in self._failing and len(self._failing) < _REMEMBERED:
            self._failing.add(document_id)
            log.warning(
                "projection write for %s failed; retrying until the database answers: %s",
                document_id,
                line,
            )
        return line

    def succeeded(self, document_id: str) -> None:
        """Note a write that landed; the outage is over when no document is failing."""
        if document_id in self._failing:
            self._failing.discard(document_id)
            if not self._failing:
                log.warning("projection writes succeed again; the outage is over")


outages = OutageLog()
"""The worker process's one record of failing writes (activities share it)."""


DATABASE_ERRORS = (SQLAlchemyError, OSError)


def retried_quietly(document_id: str, err: BaseException) -> ApplicationError:
    """The error a write activity raises for a database failure: retried by Temporal,
    logged by the SDK at DEBUG only (BENIGN), after one line of ours per outage."""
    line = outages.failed(document_id, err)
    return ApplicationError(
        f"projection write failed: {line}",
        type=PROJECTION_DOWN,
        category=ApplicationErrorCategory.BENIGN,
    )


def quiet_runtime(metrics: PrometheusConfig | None = None) -> Runtime:
    """temporalio's runtime with its usual log levels, except one warning (and, given
    ``metrics``, exporting Prometheus metrics).

    While a status write's local activity is retried inside a workflow task, the SDK core
    warns every few seconds, for every such workflow, that the task is taking long
    (TMPRL1104): through an outage, more lines than the outage log itself. DocState's
    workflow code never blocks (its only long tasks are those retries), so that warning
    is raised to ERROR level; everything else keeps temporalio's defaults.
    """
    levels = TelemetryFilter(core_level="WARN", other_level="ERROR").formatted()
    quieter = f"{levels},temporalio_sdk_core::worker::workflow::managed_run=ERROR"
    logging = LoggingConfig(filter=quieter)
    return Runtime(telemetry=TelemetryConfig(logging=logging, metrics=metrics))
