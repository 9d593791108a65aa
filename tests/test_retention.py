"""Retention: a Temporal Schedule, created once at worker start, deletes ended documents
older than DOCSTATE_RETENTION and the blobs nobody else uses."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from docstate import Status
from docstate.engine import run_worker
from docstate.engine.retention import ensure_retention_schedule, schedule_id
from tests.conftest import Harness


async def test_the_schedule_sweeps_old_ended_documents_and_unused_blobs(harness: Harness) -> None:
    settings = harness.settings.model_copy(
        update={
            "temporal_address": harness.temporal.service_client.config.target_host,
            "pipelines": ["tests.pipelines"],
            "retention": timedelta(seconds=1),
            "shutdown_grace": timedelta(seconds=1),
        }
    )
    client = harness.client
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(settings, stop))
    handle = harness.temporal.get_schedule_handle(schedule_id(settings.task_queue))
    try:
        for _ in range(200):  # created at worker start
            try:
                await handle.describe()
                break
            except Exception:
                await asyncio.sleep(0.1)
        again = await ensure_retention_schedule(
            harness.temporal, settings.task_queue, timedelta(seconds=1), timedelta(hours=1)
        )
        assert again is False  # idempotent: it was there already

        await client.submit(b"shared bytes", type="sleeper", id="gone", metadata={"sleep": 0})
        await client.submit(b"only mine", type="sleeper", id="solo", metadata={"sleep": 0})
        await client.submit(b"shared bytes", type="sleeper", id="keep", metadata={"sleep": 60})
        gone = await client.wait("gone", timeout=60)
        solo = await client.wait("solo", timeout=60)
        assert gone.status.value == solo.status.value == "completed"
        shared, mine = gone.content_ref, solo.content_ref
        assert shared is not None and mine is not None
        await asyncio.sleep(1.2)  # older than the retention

        await handle.trigger()
        for _ in range(300):
            if not await client.list(status=Status.COMPLETED):
                break
            await asyncio.sleep(0.1)
        remaining = {r.id for r in await client.list()}
        assert remaining == {"keep"}  # running: kept whatever its age
        assert await client.queries.history("gone") == []
        blobs = harness.blobs
        assert blobs.path(shared.sha256).exists()  # type: ignore[attr-defined]
        assert not blobs.path(mine.sha256).exists()  # type: ignore[attr-defined]
        await client.cancel("keep")
    finally:
        await handle.delete()
        stop.set()
        await worker
