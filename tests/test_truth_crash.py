"""Committed truth under crashes: real dev server, worker processes, PostgreSQL.

A worker SIGKILLs itself right after a transition's projection write, before Temporal
records the transition (tests/truthkit/worker.py); another worker process takes over. A
frozen worker (SIGSTOP) resumes after its document ended. The projection must never show
``completed`` while the workflow runs, never reopen a closed status, and keep one
success per step.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from temporalio.client import WorkflowExecutionStatus

from docstate import Status
from docstate.projection.records import DocumentRecord, EventRecord
from docstate.protocol import workflow_id
from tests.conftest import Harness

ROOT = Path(__file__).parent.parent


class Stack:
    """Worker processes for one harness, and what the test watches of the projection."""

    def __init__(self, harness: Harness, tmp: Path) -> None:
        self.harness = harness
        self.dir = tmp / "truth"
        self.dir.mkdir()
        self.seen: list[Status] = []
        self.procs: list[asyncio.subprocess.Process] = []

    def env(self, **extra: str) -> dict[str, str]:
        s = self.harness.settings
        return {
            **os.environ,
            "DOCSTATE_TEMPORAL_ADDRESS": self.harness.temporal.service_client.config.target_host,
            "DOCSTATE_TASK_QUEUE": s.task_queue,
            "DOCSTATE_DATABASE_URL": s.database_url,
            "DOCSTATE_BLOB_DIR": str(s.blob_dir),
            "DOCSTATE_PIPELINES": "tests.truthkit",
            "PYTHONPATH": str(ROOT),
            "TRUTH_DIR": str(self.dir),
            **extra,
        }

    async def start(self, *args: str, **extra: str) -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, *args, env=self.env(**extra), cwd=ROOT
        )
        self.procs.append(proc)
        return proc

    async def watched_worker(self, **extra: str) -> asyncio.subprocess.Process:
        """tests/truthkit/worker.py, once it serves."""
        proc = await self.start("-m", "tests.truthkit.worker", **extra)
        await self.until(lambda: (self.dir / f"ready-{proc.pid}").exists(), "worker ready")
        return proc

    async def docstate_worker(self) -> asyncio.subprocess.Process:
        """`docstate worker`, as a user runs it."""
        return await self.start("-m", "docstate", "worker")

    async def until(self, check: Callable[[], bool], what: str) -> None:
        for _ in range(2400):  # 120 s: a frozen worker's tasks time out first
            if check():
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"never happened: {what}")

    async def row(self, doc_id: str) -> DocumentRecord:
        record = await self.harness.queries.get(doc_id)
        assert record is not None
        return record

    async def run_status(self, doc_id: str) -> WorkflowExecutionStatus | None:
        handle = self.harness.temporal.get_workflow_handle(workflow_id(doc_id))
        return (await handle.describe()).status

    async def until_status(self, doc_id: str, status: Status) -> DocumentRecord:
        for _ in range(2400):  # 120 s: a frozen worker's tasks time out first
            record = await self.harness.queries.get(doc_id)
            if record is not None and record.status is status:
                return record
            await asyncio.sleep(0.05)
        raise AssertionError(f"{doc_id} never {status.value}")

    @asynccontextmanager
    async def watching(self, doc_id: str) -> AsyncIterator[None]:
        """Record every status the row shows; whenever it shows ``completed``, Temporal
        must already have closed the workflow."""

        async def watch() -> None:
            while True:
                record = await self.harness.queries.get(doc_id)
                if record is not None:
                    self.seen.append(record.status)
                    if record.status is Status.COMPLETED:
                        assert await self.run_status(doc_id) == WorkflowExecutionStatus.COMPLETED
                await asyncio.sleep(0.02)

        task = asyncio.create_task(watch())
        try:
            yield
        finally:
            task.cancel()
            with_error = await asyncio.gather(task, return_exceptions=True)
            if isinstance(with_error[0], AssertionError):
                raise with_error[0]

    def no_closed_status_reopened(self) -> None:
        closed = [i for i, s in enumerate(self.seen) if s.closed]
        if closed:
            assert all(s is self.seen[closed[0]] for s in self.seen[closed[0] :]), self.seen

    async def stop(self) -> None:
        for proc in self.procs:
            if proc.returncode is None:
                if proc.pid:
                    os.kill(proc.pid, signal.SIGCONT)
                proc.terminate()
                await proc.wait()


@pytest.fixture
async def stack(harness: Harness, tmp_path: Path) -> AsyncIterator[Stack]:
    s = Stack(harness, tmp_path)
    try:
        yield s
    finally:
        await s.stop()


def one_success_per_step(history: list[EventRecord]) -> None:
    steps = [e.seq // 1000 for e in history if e.succeeded]
    assert len(steps) == len(set(steps)), history


@pytest.mark.parametrize("doc_type", ["truth_local", "truth_queued"])
async def test_killed_after_the_last_write_nothing_is_completed_early(
    stack: Stack, doc_type: str
) -> None:
    doc_id = f"{doc_type}-killed"
    doomed = await stack.watched_worker(TRUTH_KILL_AFTER="finish")
    async with stack.watching(doc_id):
        await stack.harness.client.submit(None, type=doc_type, id=doc_id)
        assert await doomed.wait() == -signal.SIGKILL
        # The transition's outcome is in the projection; Temporal has not recorded it.
        row = await stack.row(doc_id)
        assert (row.state, row.closing) == ("done", Status.COMPLETED)
        assert row.status is Status.RUNNING
        assert await stack.run_status(doc_id) == WorkflowExecutionStatus.RUNNING
        if doc_type == "truth_local":
            # The local transition runs again on the next worker, and fails this time.
            (stack.dir / "fail").touch()
            await stack.docstate_worker()
            row = await stack.until_status(doc_id, Status.WAITING)
            assert (row.state, row.closing) == ("checked", None)
            history = await stack.harness.queries.history(doc_id)
            assert not any(e.succeeded for e in history if e.transition == "finish")
            (stack.dir / "fail").unlink()
            await stack.harness.client.retry(doc_id)
        else:
            # Temporal gives the attempt up and runs attempt 2 on the next worker.
            await stack.docstate_worker()
        row = await stack.until_status(doc_id, Status.COMPLETED)
    assert await stack.run_status(doc_id) == WorkflowExecutionStatus.COMPLETED
    history = await stack.harness.queries.history(doc_id)
    one_success_per_step(history)
    finished = [e for e in history if e.transition == "finish" and e.succeeded]
    assert len(finished) == 1
    assert any(e.superseded for e in history if e.transition == "finish")
    assert Status.RUNNING in stack.seen
    stack.no_closed_status_reopened()


async def test_a_frozen_worker_that_resumes_after_the_end_changes_nothing(stack: Stack) -> None:
    doc_id = "truth-frozen"
    frozen = await stack.watched_worker(TRUTH_FREEZE_AT="finish")
    async with stack.watching(doc_id):
        await stack.harness.client.submit(None, type="truth_queued", id=doc_id)
        await stack.until(lambda: (stack.dir / "started").exists(), "attempt 1 started")
        os.kill(frozen.pid, signal.SIGSTOP)
        # Temporal gives attempt 1 up (timeout) and another worker finishes the document.
        await stack.docstate_worker()
        await stack.until_status(doc_id, Status.COMPLETED)
        before = (await stack.row(doc_id), await stack.harness.queries.history(doc_id))
        # The frozen attempt finishes and writes its success: after the document ended.
        (stack.dir / "go").touch()
        os.kill(frozen.pid, signal.SIGCONT)
        applied = stack.dir / f"applied-{frozen.pid}"

        def late_write_applied() -> bool:
            lines = applied.read_text().splitlines() if applied.exists() else []
            return any(line.startswith(f"{doc_id} ") and "finish True" in line for line in lines)

        await stack.until(late_write_applied, "the frozen attempt's late write")
        after = (await stack.row(doc_id), await stack.harness.queries.history(doc_id))
    assert after == before
    one_success_per_step(after[1])
    assert after[0].metadata["finished_by"] != frozen.pid
    stack.no_closed_status_reopened()


async def test_a_worker_killed_before_confirming_is_taken_over(stack: Stack) -> None:
    doc_id = "truth-unconfirmed"
    doomed = await stack.watched_worker(TRUTH_KILL_BEFORE_CONFIRMING="1")
    await stack.harness.client.submit(None, type="truth_local", id=doc_id)
    assert await doomed.wait() == -signal.SIGKILL
    # Temporal closed the workflow; the worker died before the row said so.
    assert await stack.run_status(doc_id) == WorkflowExecutionStatus.COMPLETED
    row = await stack.row(doc_id)
    assert (row.status, row.closing) == (Status.RUNNING, Status.COMPLETED)
    # The next `docstate worker` confirms what the dead one left provisional.
    await stack.docstate_worker()
    row = await stack.until_status(doc_id, Status.COMPLETED)
    assert (row.state, row.closing) == ("done", None)
