"""Document lives whose workflow histories the replay tests check.

``python -m tests.scenarios`` records them into ``tests/histories/`` (run it when a
workflow change is meant to be compatible, and commit the files it writes): CI then
replays every recorded history against the current workflow code, so a change that
would break documents already running fails the build.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from docstate import Settings, Status
from docstate.devserver import temporal_binary
from docstate.projection import upgrade
from docstate.protocol import SEARCH_ATTRIBUTES, workflow_id
from tests import pipelines as p
from tests.conftest import Harness

HISTORIES = Path(__file__).parent / "histories"
GENERATION = "3-one-begin-activity"
"""Where ``record()`` writes: one folder per engine generation. Older folders stay, so
documents started under an earlier engine (task-queue transitions, before short ones
ran locally) keep replaying."""


async def _settled(h: Harness, doc_id: str, status: Status) -> None:
    for _ in range(600):
        record = await h.queries.get(doc_id)
        if record and record.status is status:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{doc_id} did not reach {status}")


async def completed(h: Harness, doc_id: str) -> None:
    await h.client.submit(b"hello", type="basic", id=doc_id)
    await _settled(h, doc_id, Status.COMPLETED)


async def waited_then_retried(h: Harness, doc_id: str) -> None:
    p.failures_left[doc_id] = 100
    await h.client.submit(b"hello", type="basic", id=doc_id)
    await _settled(h, doc_id, Status.WAITING)
    p.failures_left[doc_id] = 0
    await h.client.retry(doc_id)
    await _settled(h, doc_id, Status.COMPLETED)


async def paused_then_resumed(h: Harness, doc_id: str) -> None:
    await h.client.submit(b"hello", type="slow", id=doc_id, metadata={"sleep": 0.3})
    await h.client.pause(doc_id)
    await _settled(h, doc_id, Status.PAUSED)
    await h.client.resume(doc_id)
    await _settled(h, doc_id, Status.COMPLETED)


async def cancelled(h: Harness, doc_id: str) -> None:
    await h.client.submit(b"hello", type="slow", id=doc_id, metadata={"sleep": 60})
    await h.client.cancel(doc_id)
    await _settled(h, doc_id, Status.CANCELLED)


SCENARIOS: dict[str, Callable[[Harness, str], Awaitable[None]]] = {
    "completed": completed,
    "waited_then_retried": waited_then_retried,
    "paused_then_resumed": paused_then_resumed,
    "cancelled": cancelled,
}


async def play(h: Harness) -> dict[str, WorkflowHistory]:
    """Run every scenario; return each one's workflow history."""
    histories = {}
    async with h.worker(*p.ALL):
        for name, scenario in SCENARIOS.items():
            doc_id = f"{name}-{uuid.uuid4().hex[:8]}"
            await scenario(h, doc_id)
            handle = h.temporal.get_workflow_handle(workflow_id(doc_id))
            histories[name] = await handle.fetch_history()
    return histories


async def record() -> None:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_binary()),
        search_attributes=SEARCH_ATTRIBUTES,
        data_converter=pydantic_data_converter,
    )
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/projection.db"
        await upgrade(url)
        settings = Settings(task_queue="record", database_url=url, blob_dir=Path(tmp) / "blobs")
        harness = Harness(env.client, settings)
        folder = HISTORIES / GENERATION
        folder.mkdir(parents=True, exist_ok=True)
        for name, history in (await play(harness)).items():
            (folder / f"{name}.json").write_text(history.to_json())
            print(f"recorded {name}: {len(history.events)} events", file=sys.stderr)
        await harness.close()
    await env.shutdown()


if __name__ == "__main__":
    asyncio.run(record())
