"""Fairness: one tenant's backlog does not hold another tenant's document behind it."""

from __future__ import annotations

import uuid

from docstate import Document, DocumentType, Registry, State, Status, Transition
from docstate.engine import build_worker
from tests.conftest import Harness

BACKLOG = 150


def touch(doc: Document) -> Document:
    return doc.model_copy(update={"metadata": {**doc.metadata, "touched": True}})


TENANT_WORK = DocumentType(
    name="tenant_work",
    states=[State("new", initial=True), "touched", State("done", final=True)],
    transitions=[
        Transition(name="touch", source="new", target="touched", run=touch),
        Transition(name="finish", source="touched", target="done", run=touch),
    ],
)


async def completed_of_a_when_b_completes(harness: Harness, *, keys: bool) -> int:
    """Queue BACKLOG documents of tenant A, then one of tenant B, before any worker runs;
    then start one and count how many of A's had completed when B's completed. Each run
    has a task queue of its own, as each measurement needs a queue nobody used before."""
    run = uuid.uuid4().hex[:8]
    h = Harness(
        harness.temporal,
        harness.settings.model_copy(update={"task_queue": f"fairness-{run}"}),
    )
    a_key, b_key = ("tenant-a", "tenant-b") if keys else (None, None)
    for i in range(BACKLOG):
        await h.client.submit(b"a", type="tenant_work", id=f"a-{run}-{i}", fairness_key=a_key)
    await h.client.submit(b"b", type="tenant_work", id=f"b-{run}", fairness_key=b_key)
    # A worker with few slots: the backlog waits in the task queue, as it does whenever
    # documents arrive faster than the workers take them.
    worker = build_worker(
        h.temporal,
        task_queue=h.settings.task_queue,
        registry=Registry([TENANT_WORK]),
        writer=h.writer,
        blobs=h.blobs,
        max_concurrent_workflow_tasks=4,
    )
    async with worker:
        record = await h.client.wait(f"b-{run}", timeout=120)
        assert record.status is Status.COMPLETED
        done = sum(
            r.id.startswith(f"a-{run}-")
            for r in await h.client.list(type="tenant_work", status=Status.COMPLETED, limit=1000)
        )
        # let the backlog finish inside the worker, so nothing is left for the next run
        for i in range(BACKLOG):
            await h.client.wait(f"a-{run}-{i}", timeout=120)
    await h.close()
    return done


async def test_a_tenant_backlog_does_not_delay_another_tenant(harness: Harness) -> None:
    without = await completed_of_a_when_b_completes(harness, keys=False)
    with_keys = await completed_of_a_when_b_completes(harness, keys=True)
    # First in, first out without keys: B waits behind most of A's backlog.
    assert without >= BACKLOG // 2, without
    # With keys the queue serves the tenants in turn: B is done while most of A waits.
    assert with_keys <= BACKLOG // 4, with_keys
    record = await harness.client.list(type="tenant_work", limit=1)
    assert record and "fairness_key" in record[0].metadata
