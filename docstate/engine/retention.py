"""Retention: settled documents older than ``DOCSTATE_RETENTION`` are deleted, by a
Temporal Schedule each worker creates (once: creating it again is a no-op).

Every ``retention_interval`` the schedule starts the ``docstate.retention`` workflow,
whose one activity deletes, a batch at a time, the ended documents (completed, failed,
cancelled) last updated before the cutoff: their rows, their events, and the blobs no
remaining document refers to (content is stored once per hash, so a blob a live document
shares is kept).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity, workflow
from temporalio.client import (
    Client as TemporalClient,
)
from temporalio.client import (
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)
from temporalio.common import RetryPolicy

from docstate.blobs import BlobStore
from docstate.document import Status
from docstate.projection.deletion import delete_documents
from docstate.projection.schema import documents

RETENTION_WORKFLOW = "docstate.retention"
SWEEP_ACTIVITY = "docstate.retention.sweep"
BATCH = 500
_ENDED = [Status.COMPLETED.value, Status.FAILED.value, Status.CANCELLED.value]


class Sweep(BaseModel):
    """Delete ended documents not updated for ``older_than``."""

    older_than: timedelta


class Swept(BaseModel):
    documents: int
    blobs: int


def schedule_id(task_queue: str) -> str:
    return f"docstate-retention-{task_queue}"


class RetentionSweeper:
    """The sweep activity: the projection at ``engine``, the blobs in ``blobs``."""

    def __init__(self, engine: AsyncEngine, blobs: BlobStore) -> None:
        self.engine = engine
        self.blobs = blobs

    @activity.defn(name=SWEEP_ACTIVITY)
    async def sweep(self, request: Sweep) -> Swept:
        cutoff = datetime.now(UTC) - request.older_than
        query = (
            sa.select(documents.c.id)
            .where(documents.c.status.in_(_ENDED), documents.c.updated_at < cutoff)
            .limit(BATCH)
        )
        total = Swept(documents=0, blobs=0)
        while True:
            async with self.engine.connect() as conn:
                ids = list((await conn.execute(query)).scalars())
            if not ids:
                return total
            unused = await delete_documents(self.engine, ids)
            for sha256 in unused:
                await self.blobs.delete(sha256)
            total = Swept(documents=total.documents + len(ids), blobs=total.blobs + len(unused))
            activity.heartbeat(total.documents)


@workflow.defn(name=RETENTION_WORKFLOW, sandboxed=False)
class RetentionWorkflow:
    """One sweep, started by the retention schedule."""

    @workflow.run
    async def run(self, request: Sweep) -> Swept:
        swept: Swept = await workflow.execute_activity(
            SWEEP_ACTIVITY,
            request,
            result_type=Swept,
            start_to_close_timeout=timedelta(hours=1),
            heartbeat_timeout=timedelta(minutes=5),
            retry_policy=RetryPolicy(maximum_attempts=3),
        )
        return swept


async def ensure_retention_schedule(
    client: TemporalClient, task_queue: str, retention: timedelta, every: timedelta
) -> bool:
    """Create the retention schedule of ``task_queue`` unless it exists; whether it did."""
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            RETENTION_WORKFLOW,
            Sweep(older_than=retention),
            id=f"{schedule_id(task_queue)}-run",
            task_queue=task_queue,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        # one sweep at a time; a late one is skipped, the next interval sweeps anyway
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )
    try:
        await client.create_schedule(schedule_id(task_queue), schedule)
    except ScheduleAlreadyRunningError:
        return False
    return True
