"""Rebuild or repair the projection from Temporal, the source of truth.

Every run of every document workflow is asked (``snapshot`` query) for its document and
the history it keeps; each entry becomes a projection write, applied through the same
version fence as always: rebuilding is idempotent and never moves a document backwards,
so it also repairs a table that has drifted. Queries are answered by workers, so a
worker for the pipelines must be running. Attempts that failed before their transition
succeeded are recorded only by the activities, not in the workflow's history: a rebuilt
table has every status change and outcome, not every failed attempt.
"""

from __future__ import annotations

from pydantic import BaseModel
from temporalio.client import Client as TemporalClient
from temporalio.client import WorkflowExecution, WorkflowQueryFailedError
from temporalio.service import RPCError

from docstate.projection.records import ProjectionWrite
from docstate.projection.writer import ProjectionWriter
from docstate.protocol import SNAPSHOT_QUERY, WORKFLOW_NAME, Snapshot


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
    return [
        ProjectionWrite(
            document_id=snapshot.id,
            type=snapshot.type,
            version=entry.version,
            state=entry.state,
            status=entry.status,
            transition=entry.transition,
            from_state=entry.from_state,
            attempt=entry.attempt,
            error=entry.error,
            parent_id=doc.parent_id,
            root_id=doc.root_id,
            workflow_id=execution.id,
            run_id=execution.run_id,
            content_ref=doc.content_ref,
            metadata=doc.metadata,
            at=entry.at,
        )
        for entry in snapshot.history
    ]


async def rebuild(
    temporal: TemporalClient, writer: ProjectionWriter, *, query: str | None = None
) -> RebuildReport:
    """Write every document workflow's state into the projection (see the module doc)."""
    report = RebuildReport()
    seen: set[str] = set()
    listing = query or f'WorkflowType = "{WORKFLOW_NAME}"'
    async for execution in temporal.list_workflows(listing):
        handle = temporal.get_workflow_handle(execution.id, run_id=execution.run_id)
        try:
            snapshot = await handle.query(SNAPSHOT_QUERY, result_type=Snapshot)
        except (RPCError, WorkflowQueryFailedError):
            report.unanswered.append(execution.id)  # e.g. no worker for its task queue
            continue
        writes = snapshot_writes(snapshot, execution)
        await writer.apply(writes)
        report.runs += 1
        report.events += len(writes)
        seen.add(snapshot.id)
    report.documents = len(seen)
    return report
