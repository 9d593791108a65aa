"""Confirming closed statuses: one visibility query per 50 documents, a describe only
for a run the query does not return, never a confirmation before Temporal has closed."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from temporalio.client import Client as TemporalClient
from temporalio.service import RPCError, RPCStatusCode

from docstate import Status
from docstate.engine.closing import ClosingConfirmer
from docstate.projection.records import ProjectionWrite
from tests import pipelines as p
from tests.conftest import Harness
from tests.test_engine import new_id


class CountingTemporal:
    """The Temporal client, counting the confirmer's questions; with ``refused``, its
    visibility refuses list queries as a server without advanced visibility does."""

    def __init__(self, temporal: TemporalClient, *, refused: bool = False) -> None:
        self.temporal = temporal
        self.refused = refused
        self.queries: list[str] = []
        self.describes = 0

    def list_workflows(self, query: str) -> Any:
        self.queries.append(query)
        if self.refused:
            raise RPCError("operation ListWorkflowExecutions is not supported", INVALID, b"")
        return self.temporal.list_workflows(query)

    def get_workflow_handle(self, *args: Any, **kwargs: Any) -> Any:
        self.describes += 1
        return self.temporal.get_workflow_handle(*args, **kwargs)


INVALID = RPCStatusCode.INVALID_ARGUMENT


class Applied:
    """A writer that keeps what it is given."""

    def __init__(self) -> None:
        self.writes: list[ProjectionWrite] = []

    async def apply(self, writes: Sequence[ProjectionWrite]) -> None:
        self.writes.extend(writes)

    async def close(self) -> None:
        pass


def closed(doc_id: str, run_id: str) -> ProjectionWrite:
    """A provisional ``completed`` for ``doc_id``'s run ``run_id``."""
    return ProjectionWrite(
        document_id=doc_id,
        type="basic",
        version=9000,
        state="done",
        status=Status.COMPLETED,
        workflow_id=f"doc:{doc_id}",
        run_id=run_id,
        at=datetime.now(UTC),
    )


async def test_closed_statuses_are_confirmed_by_visibility_queries(harness: Harness) -> None:
    done = [new_id() for _ in range(60)]
    held = new_id()
    async with harness.worker(*p.ALL):
        for doc_id in done:
            await harness.client.submit(b"x", type="basic", id=doc_id)
        await harness.client.submit(b"x", type="basic", id=held, hold=True)
        runs = {}
        for doc_id in [*done, held]:
            record = await harness.client.wait(doc_id, timeout=60)  # the held one: paused
            assert record.run_id is not None
            runs[doc_id] = record.run_id
        temporal = CountingTemporal(harness.temporal)
        writer = Applied()
        confirmer = ClosingConfirmer(temporal, writer, interval=0)  # type: ignore[arg-type]
        gone = closed(done[0], str(uuid.uuid4()))  # a run Temporal never had
        confirmer.track([closed(d, runs[d]) for d in [*done[1:], held]] + [gone])

        assert await confirmer.confirm() == 59
        assert len(temporal.queries) == 2  # 61 runs: 50 + 11 ids
        assert temporal.describes == 1  # the unknown run alone, asked of itself
        assert {w.document_id for w in writer.writes} == set(done[1:])
        assert all(w.confirmed for w in writer.writes)
        assert confirmer.pending == 1  # the held document: still running, asked again later
        await harness.client.cancel(held)


async def test_without_advanced_visibility_each_run_is_described(
    harness: Harness, caplog: Any
) -> None:
    done = [new_id() for _ in range(3)]
    async with harness.worker(*p.ALL):
        for doc_id in done:
            await harness.client.submit(b"x", type="basic", id=doc_id)
        runs = {d: (await harness.client.wait(d, timeout=60)).run_id for d in done}
    temporal = CountingTemporal(harness.temporal, refused=True)
    writer = Applied()
    confirmer = ClosingConfirmer(temporal, writer, interval=0)  # type: ignore[arg-type]
    confirmer.track([closed(d, str(runs[d])) for d in done])
    assert await confirmer.confirm() == 3
    assert (len(temporal.queries), temporal.describes) == (1, 3)
    confirmer.track([closed(d, str(runs[d])) for d in done])
    assert await confirmer.confirm() == 3
    assert (len(temporal.queries), temporal.describes) == (1, 6)  # not asked again
    warnings = [r.getMessage() for r in caplog.records if "cannot list" in r.getMessage()]
    assert len(warnings) == 1 and "one describe per document" in warnings[0]
