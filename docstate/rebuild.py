"""Rebuild or repair the projection from Temporal, the source of truth.

Every run of every document workflow is asked (``snapshot`` query) for its document and
the history it keeps; each entry becomes a projection write, applied through the same
version fence as always: rebuilding is idempotent and never moves a document backwards,
so it also repairs a table that has drifted behind. ``force`` writes Temporal's truth
over rows that are *ahead* of it too (see :mod:`docstate.repair`). Queries are answered
by workers, so a worker for the pipelines must be running: they run a bounded number at
a time, each with a timeout, and when none of the first ones is answered the rebuild
stops and says so. Attempts that failed before their transition succeeded are recorded
only by the activities, not in the workflow's history: a rebuilt table has every status
change and outcome, not every failed attempt.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

from pydantic import BaseModel
from temporalio.client import Client as TemporalClient
from temporalio.client import (
    WorkflowExecution,
    WorkflowExecutionStatus,
    WorkflowQueryFailedError,
)
from temporalio.service import RPCError

from docstate.errors import NoWorker
from docstate.projection.records import ProjectionWrite
from docstate.projection.writer import Writer
from docstate.protocol import SNAPSHOT_QUERY, WORKFLOW_NAME, Snapshot

QUERY_TIMEOUT = 10.0
"""Seconds a snapshot query may take (a worker answers in milliseconds)."""
CONCURRENCY = 16
"""Snapshot queries in flight at once."""


class RebuildReport(BaseModel):
    runs: int = 0
    documents: int = 0
    events: int = 0
    unanswered: list[str] = []


def snapshot_writes(snapshot: Snapshot, execution: WorkflowExecution) -> list[ProjectionWrite]:
    """The projection writes a run's snapshot stands for."""
    doc = snapshot.document
    if doc is None:
        return []
    # Read from a closed run, a closed status is Temporal's own: no longer provisional.
    closed = execution.status not in (None, WorkflowExecutionStatus.RUNNING)
    return [
        ProjectionWrite.of(
            doc, event, workflow_id=execution.id, run_id=execution.run_id
        ).model_copy(update={"confirmed": closed})
        for event in snapshot.history
    ]


@dataclass
class Truth:
    """What Temporal's workflows say, per document: every write their runs stand for."""

    runs: int = 0
    writes: dict[str, list[ProjectionWrite]] = field(default_factory=dict)
    unanswered: list[str] = field(default_factory=list)

    def newest(self, document_id: str) -> ProjectionWrite | None:
        writes = self.writes.get(document_id)
        return max(writes, key=lambda w: w.version) if writes else None


async def _executions(
    temporal: TemporalClient, query: str | None
) -> AsyncIterator[WorkflowExecution]:
    async for execution in temporal.list_workflows(query or f'WorkflowType = "{WORKFLOW_NAME}"'):
        yield execution


async def _ask(
    temporal: TemporalClient, execution: WorkflowExecution, timeout: float
) -> Snapshot | None:
    handle = temporal.get_workflow_handle(execution.id, run_id=execution.run_id)
    try:
        snapshot: Snapshot = await handle.query(
            SNAPSHOT_QUERY, result_type=Snapshot, rpc_timeout=timedelta(seconds=timeout)
        )
    except (RPCError, WorkflowQueryFailedError):
        return None  # no worker for its task queue, or it did not answer in time
    return snapshot


async def collect(
    temporal: TemporalClient,
    *,
    query: str | None = None,
    concurrency: int = CONCURRENCY,
    timeout: float = QUERY_TIMEOUT,
) -> Truth:
    """Ask every matching document workflow run for its snapshot, ``concurrency`` at a time.

    Raises:
        NoWorker: when not one of the first ``concurrency`` runs answers.
    """
    truth = Truth()
    wave: list[WorkflowExecution] = []
    first = True

    async def ask_wave() -> None:
        nonlocal first
        answers = await asyncio.gather(*(_ask(temporal, e, timeout) for e in wave))
        if first and wave and all(a is None for a in answers):
            raise NoWorker(
                f"no worker answered the snapshot query of {len(wave)} document workflows "
                f"within {timeout:g}s: start one for their task queue (`docstate worker`), "
                "then run this again"
            )
        first = False
        for execution, snapshot in zip(wave, answers, strict=True):
            if snapshot is None:
                truth.unanswered.append(execution.id)
                continue
            truth.runs += 1
            truth.writes.setdefault(snapshot.id, []).extend(snapshot_writes(snapshot, execution))
        wave.clear()

    async for execution in _executions(temporal, query):
        wave.append(execution)
        if len(wave) >= concurrency:
            await ask_wave()
    await ask_wave()
    return truth


async def rebuild(
    temporal: TemporalClient,
    writer: Writer,
    *,
    query: str | None = None,
    concurrency: int = CONCURRENCY,
    timeout: float = QUERY_TIMEOUT,
) -> RebuildReport:
    """Write every document workflow's state into the projection (see the module doc).

    Pass a :class:`docstate.repair.ForcingWriter` as ``writer`` to overwrite rows that
    are ahead of Temporal as well.
    """
    truth = await collect(temporal, query=query, concurrency=concurrency, timeout=timeout)
    report = RebuildReport(runs=truth.runs, unanswered=truth.unanswered)
    for writes in truth.writes.values():
        await writer.apply(writes)
        report.events += len(writes)
    report.documents = len(truth.writes)
    return report
