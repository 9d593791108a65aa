"""The API arm: jobs submitted over HTTP to a real uvicorn, beside the embedded client.

Each job carries one file of the ``bench_noop`` pipeline (the ``docstate-pg`` arm's
work); it is followed with ``GET /jobs/{id}?wait``. While they run, a reader polls
``GET /jobs/{id}`` (no wait) in a loop: the latency an operator's dashboard would see.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import uvicorn

from bench import pipelines
from bench.arms import Bench, Deployment, _bounded
from bench.measure import Sample, percentile
from docstate import Client, Registry, Settings
from docstate.api import create_app
from docstate.api.server import KEEP_ALIVE
from docstate.devserver import free_port
from docstate.jobs import JOB
from docstate.projection.catalog import publish_types

# At most 64 requests open at once, as a real client pool would: 300 concurrent uploads
# to one in-process uvicorn on a loaded 2-core machine were reset (httpx.ReadError) in a
# full run. Every job is still submitted at once from the arm's point of view: they
# queue in the pool, and the pipeline holds all of them in flight.
LIMITS = httpx.Limits(max_connections=64)


@asynccontextmanager
async def serving(settings: Settings, client: Client) -> AsyncIterator[str]:
    port = free_port()
    config = uvicorn.Config(
        create_app(settings, client),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        timeout_keep_alive=KEEP_ALIVE,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            await task
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def api(bench: Bench, url: str, docs: int) -> dict[str, Any]:
    """``docs`` one-file jobs over HTTP, all in flight at once, each waited on."""
    deployment = await Deployment.on(bench, url)
    client, settings = deployment.client, deployment.settings
    registry = Registry([*pipelines.ALL, JOB])
    await publish_types(deployment.engine, registry)
    polls: list[float] = []
    async with (
        deployment.worker(registry),
        serving(settings, client) as base,
        httpx.AsyncClient(base_url=base, timeout=120, limits=LIMITS) as http,
        # The dashboard is another client: in the submitters' pool its reads queued
        # behind their ``?wait`` requests, each holding a connection up to a minute.
        httpx.AsyncClient(base_url=base, timeout=120) as dashboard,
    ):
        statuses: list[str] = []

        async def submit_and_wait() -> str:
            files = {"files": ("f.bin", b"x")}
            job = (await http.post("/submit", files=files, data={"type": "bench_noop"})).json()
            job_id = str(job["job_id"])
            while True:
                state = (await http.get(f"/jobs/{job_id}", params={"wait": 60})).json()
                if state["status"] in ("completed", "failed"):
                    statuses.append(state["status"])
                    return job_id

        await submit_and_wait()  # warm-up, outside the measurement
        statuses.clear()
        sample = Sample(docs, 3, bench.server_pid)
        submitted: list[str] = []
        running = True

        async def one(i: int) -> None:
            start = time.perf_counter()
            submitted.append(await submit_and_wait())
            sample.latencies.append(time.perf_counter() - start)

        async def reader() -> None:
            n = 0
            # at least one read: a small run may end before the reader's first turn
            while running or not polls:
                if submitted:
                    started = time.perf_counter()
                    await dashboard.get(f"/jobs/{submitted[n % len(submitted)]}")
                    polls.append(time.perf_counter() - started)
                    n += 1
                else:
                    await asyncio.sleep(0.01)

        poller = asyncio.create_task(reader())
        await _bounded(docs, docs, one)
        running = False
        await poller
        result = sample.finish(
            status_get_p50_s=round(percentile(polls, 0.5) or 0, 4),
            status_get_p99_s=round(percentile(polls, 0.99) or 0, 4),
            status_gets=len(polls),
            check="ok" if statuses.count("completed") == docs else f"statuses {statuses}",
        )
    await deployment.close()
    return result
