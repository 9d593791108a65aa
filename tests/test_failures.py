"""The failure contract: nothing is lost, nothing moves backwards."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.exc import OperationalError
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.testing import WorkflowEnvironment

from docstate import Status
from docstate.projection import ProjectionWrite, Writer
from tests import pipelines as p
from tests.conftest import Harness, process_env
from tests.test_engine import _closed, new_id, wait_for

ROOT = Path(__file__).parent.parent


class OutageWriter:
    """The real writer, behind a database that is down for the next ``outage`` writes of
    one transition (the transition's own write, then the workflow's retries of it)."""

    def __init__(self, inner: Writer, transition: str, outage: int) -> None:
        self.inner = inner
        self.transition = transition
        self.outage = outage
        self.refused = 0

    async def apply(self, writes: Sequence[ProjectionWrite]) -> None:
        if self.refused < self.outage and any(w.transition == self.transition for w in writes):
            self.refused += 1
            raise OperationalError("INSERT", {}, ConnectionRefusedError("database is down"))
        await self.inner.apply(writes)

    async def close(self) -> None:
        """The inner writer is the harness's: it closes it."""


async def test_database_outage_during_a_transition_loses_nothing_and_reruns_nothing(
    harness: Harness,
) -> None:
    doc_id = new_id()
    writer = OutageWriter(harness.writer, "enrich", outage=3)
    async with harness.worker(*p.ALL, writer=writer):
        await harness.client.submit(b"x", type="basic", id=doc_id)
        record = await wait_for(lambda: _closed(harness, doc_id))
    assert writer.refused == 3  # the activity's write, then two of the workflow's retries
    assert record.status is Status.COMPLETED
    assert p.calls[f"{doc_id}:flaky"] == 1  # the outage did not re-run the transition
    events = await harness.client.history(doc_id)
    assert [e.transition for e in events] == [None, "parse", "enrich", "check"]
    assert record.metadata == {"parsed": True, "enriched": True}


class Deployment:
    """`starter.py` commands and `worker.py` processes of one test's deployment."""

    def __init__(self, temporal_env: WorkflowEnvironment, tmp: Path, **env: str) -> None:
        self.temporal = temporal_env.client
        self.env = {**process_env(temporal_env.client, tmp, "tests.pipelines"), **env}

    async def docstate(self, *args: str) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(
            subprocess.run,
            [sys.executable, str(ROOT / "starter.py"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )

    def start_worker(self, log: Path | None = None) -> subprocess.Popen[bytes]:
        command = [sys.executable, str(ROOT / "worker.py")]
        if log is None:
            quiet = subprocess.DEVNULL
            return subprocess.Popen(command, env=self.env, stdout=quiet, stderr=quiet)
        with log.open("wb") as out:  # the process has its own copy of the file
            return subprocess.Popen(command, env=self.env, stdout=out, stderr=out)

    async def transition_started(self, doc_id: str) -> None:
        async def started() -> bool:
            handle = self.temporal.get_workflow_handle(f"doc:{doc_id}")
            pending = (await handle.describe()).raw_description.pending_activities
            running = PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
            return any(a.state == running for a in pending)

        await wait_for(started, timeout=60)


async def test_a_worker_killed_mid_transition_is_replaced_and_the_document_completes(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """SIGKILL a worker process while a transition runs; a new worker finishes the job."""
    deployment = Deployment(temporal_env, tmp_path)
    docstate, start_worker = deployment.docstate, deployment.start_worker

    assert (await docstate("db", "upgrade")).returncode == 0
    first = start_worker()
    try:
        doc = await docstate(
            "submit", __file__, "--type", "slow", "--id", "killed-1", "--meta", "sleep=3"
        )
        assert doc.returncode == 0, doc.stderr
        await deployment.transition_started("killed-1")
    finally:
        first.send_signal(signal.SIGKILL)  # no drain, no goodbye: the process is gone
        first.wait()
    second = start_worker()
    try:
        done = await docstate("wait", "killed-1", "--timeout", "90")
        assert done.returncode == 0, done.stdout + done.stderr
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(60)
    history = json.loads((await docstate("history", "killed-1", "--json")).stdout)
    succeeded = [e for e in history if e["transition"] == "wait"]
    # the killed attempt never reported; its retry (attempt 2) on the new worker did
    assert [(e["attempt"], e["status"]) for e in succeeded] == [(2, "running")]


async def test_a_worker_whose_transition_ignores_cancellation_still_exits(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """SIGTERM drains for the grace period; a transition that swallows its cancellation
    cannot hold the process past grace + STOP_MARGIN: it exits 1 with one line saying so."""
    deployment = Deployment(temporal_env, tmp_path, DOCSTATE_SHUTDOWN_GRACE="1")
    assert (await deployment.docstate("db", "upgrade")).returncode == 0
    log = tmp_path / "worker.log"
    worker = deployment.start_worker(log)
    try:
        doc = await deployment.docstate("submit", __file__, "--type", "stubborn", "--id", "dig-1")
        assert doc.returncode == 0, doc.stderr
        await deployment.transition_started("dig-1")
        worker.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(worker.wait, 60) == 1
    finally:
        if worker.poll() is None:
            worker.kill()
    assert "worker did not stop within 11s of the signal" in log.read_text()
