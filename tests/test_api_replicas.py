"""Two `docstate api` processes on one stack: any replica answers for any job."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from httpx_sse import aconnect_sse

from docstate.devserver import free_port
from docstate.projection.catalog import publish_types
from tests.api_support import API_TYPES
from tests.conftest import Harness


@asynccontextmanager
async def api_process(harness: Harness) -> AsyncIterator[str]:
    """`docstate api` in a process of its own, on a free loopback port."""
    port = free_port()
    s = harness.settings
    env = {
        **os.environ,
        "DOCSTATE_TEMPORAL_ADDRESS": harness.temporal.service_client.config.target_host,
        "DOCSTATE_TASK_QUEUE": s.task_queue,
        "DOCSTATE_DATABASE_URL": s.database_url,
        "DOCSTATE_BLOB_DIR": str(s.blob_dir),
        "DOCSTATE_API_KEEPALIVE": "0.5",
    }
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "docstate"),
        "api",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(600):
                if proc.returncode is not None:
                    err = await proc.stderr.read() if proc.stderr else b""
                    raise AssertionError(f"docstate api exited: {err.decode()}")
                try:
                    if (await http.get(f"{url}/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
        yield url
    finally:
        if proc.returncode is None:
            proc.terminate()
        await proc.wait()


async def test_a_job_submitted_to_one_replica_is_followed_and_cancelled_through_another(
    harness: Harness,
) -> None:
    await publish_types(harness.engine, API_TYPES)
    async with (
        harness.worker(*API_TYPES),
        api_process(harness) as a,
        api_process(harness) as b,
        httpx.AsyncClient(timeout=60) as http,
    ):
        submitted = await http.post(
            f"{a}/submit",
            files={"files": ("a.txt", b"zz")},
            data={"type": "sleeper", "metadata": '{"sleep": 60}'},
        )
        job_id = submitted.json()["job_id"]
        state = (await http.get(f"{b}/jobs/{job_id}", params={"wait": 1})).json()
        assert state["job_id"] == job_id and state["status"] in ("pending", "processing")
        doc_id = f"{job_id}/1"
        await harness.client.progress(doc_id).__anext__()  # the file has started
        events = []
        async with aconnect_sse(http, "GET", f"{b}/api/v1/progress/{job_id}/stream") as source:
            async for sse in source.aiter_sse():
                events.append(sse)
                if len(events) == 1:
                    cancel = await http.post(f"{b}/api/v1/objects/{job_id}/cancel")
                    assert cancel.status_code == 200, cancel.text
        assert events[-1].event == "end" and events[-1].json()["status"] == "cancelled"
        final = (await http.get(f"{a}/jobs/{job_id}", params={"wait": 30})).json()
        assert final["status"] == "failed"
        assert (await http.get(f"{a}/api/v1/objects/{doc_id}")).json()["status"] == "cancelled"
