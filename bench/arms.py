"""The benchmark's arms, each against the same dev server."""

from __future__ import annotations

import asyncio
import gc
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client as TemporalClient
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from bench import pipelines
from bench.measure import LagWriter, Sample, current_rss_mib, percentile
from bench.raw import RawIOPipeline, RawLocalPipeline, RawPipeline, io_wait, noop
from docstate import BatchEvent, Client, EventKind, Registry, Settings, Status, Submission
from docstate.blobs import LocalBlobStore
from docstate.engine import build_worker
from docstate.engine.worker import DocumentWorker
from docstate.projection import (
    CoalescingWriter,
    ProjectionQueries,
    ProjectionWriter,
    create_engine,
    upgrade,
)
from docstate.projection.schema import document_events, documents
from docstate.protocol import workflow_id


@dataclass
class Bench:
    temporal: TemporalClient
    address: str
    server_pid: int
    workdir: Path

    def queue(self) -> str:
        return f"bench-{uuid.uuid4().hex[:8]}"


def product_writer(engine: AsyncEngine) -> CoalescingWriter:
    """The writer a worker gets from ``docstate worker``."""
    return CoalescingWriter(ProjectionWriter(engine))


@dataclass
class Deployment:
    """A DocState deployment of one arm: its own task queue, projection writer, blobs and
    client, on the benchmark's server and database."""

    temporal: TemporalClient
    queue: str
    settings: Settings
    engine: AsyncEngine
    writer: CoalescingWriter
    blobs: LocalBlobStore
    client: Client

    @classmethod
    async def on(
        cls,
        bench: Bench,
        url: str,
        writer: Callable[[AsyncEngine], CoalescingWriter] = product_writer,
    ) -> Deployment:
        """A fresh deployment on the migrated projection at ``url``, writing through
        ``writer`` (the product's, unless an arm notes lags)."""
        queue = bench.queue()
        await upgrade(url)
        engine = create_engine(url)
        settings = Settings(task_queue=queue, database_url=url, blob_dir=bench.workdir / "blobs")
        blobs = LocalBlobStore(settings.blob_dir)
        client = Client(bench.temporal, settings, ProjectionQueries(engine), blobs)
        return cls(bench.temporal, queue, settings, engine, writer(engine), blobs, client)

    def worker(self, registry: Registry) -> DocumentWorker:
        """A worker of ``registry``'s pipelines for this deployment (default settings)."""
        return build_worker(
            self.temporal,
            task_queue=self.queue,
            registry=registry,
            writer=self.writer,
            blobs=self.blobs,
        )

    async def close(self) -> None:
        """The writer's connection, then the client (which disposes the engine)."""
        await self.writer.close()
        await self.client.close()


async def _bounded(count: int, concurrency: int, one: Callable[[int], Awaitable[None]]) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def run(i: int) -> None:
        async with gate:
            await one(i)

    await asyncio.gather(*(run(i) for i in range(count)))


async def raw(
    bench: Bench,
    docs: int,
    steps: int = 3,
    *,
    io: bool = False,
    local: bool = False,
    concurrency: int | None = None,
) -> dict[str, Any]:
    """N workflows x K no-op activities on the plain SDK, default worker settings but for
    the sandbox, off as for DocState's workflow; each started eagerly, as DocState's
    client starts a document (the worker runs in this process, on the same client).

    With ``steps=0`` the workflows do nothing: the most documents per second any
    Temporal workflow can reach on this machine and server. With ``local`` the steps are
    local activities (what DocState runs short transitions as). With ``io`` each step is
    a local activity awaiting 100 ms, the hand-written counterpart of the I/O-bound arms.
    """
    queue = bench.queue()
    pipeline = RawIOPipeline.run if io else RawLocalPipeline.run if local else RawPipeline.run
    async with Worker(
        bench.temporal,
        task_queue=queue,
        workflows=[RawPipeline, RawLocalPipeline, RawIOPipeline],
        activities=[noop, io_wait],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        # warm-up: the new worker's pollers and task queue, outside the measurement
        await bench.temporal.execute_workflow(
            pipeline, steps, id=f"raw-{queue}-warm-up", task_queue=queue
        )
        sample = Sample(docs, steps, bench.server_pid)

        async def one(i: int) -> None:
            start = time.perf_counter()
            # Eager start, as DocState's client asks for it: the worker in this process
            # takes the first workflow task from the start call's answer.
            await bench.temporal.execute_workflow(
                pipeline,
                steps,
                id=f"raw-{queue}-{i}",
                task_queue=queue,
                request_eager_start=True,
            )
            sample.latencies.append(time.perf_counter() - start)

        await _bounded(docs, concurrency or docs, one)
        result = sample.finish()
    result["history_events_per_doc"] = await _events(bench, [f"raw-{queue}-{i}" for i in (0, 1)])
    return result


async def docstate(
    bench: Bench,
    url: str,
    docs: int,
    *,
    type_name: str = "bench_noop",
    steps: int = 3,
    concurrency: int | None = None,
    metadata: dict[str, Any] | None = None,
    expected_rows: int | None = None,
    wait: bool = False,
) -> dict[str, Any]:
    """The same shape as a DocState pipeline, projection on, default worker settings.

    Each document's end is awaited on Temporal (its workflow's result), or with ``wait``
    as a user writes it: ``submit_many(..., wait=True)``, served by the client's watcher.
    """
    deployment = await Deployment.on(bench, url, writer=LagWriter)
    queue, client, writer = deployment.queue, deployment.client, deployment.writer
    assert isinstance(writer, LagWriter)
    ids = [f"{queue}-{i}" for i in range(docs)]
    async with deployment.worker(Registry(pipelines.ALL)):
        await _warm_up(bench, client, queue)
        writer.reset()
        sample = Sample(docs, steps, bench.server_pid)

        async def one(i: int) -> None:
            start = time.perf_counter()
            await client.submit(None, type=type_name, id=ids[i], metadata=metadata)
            await bench.temporal.get_workflow_handle(workflow_id(ids[i])).result()
            sample.latencies.append(time.perf_counter() - start)

        if wait:
            await _submit_and_wait(client, sample, ids, type_name, concurrency or docs)
        else:
            await _bounded(docs, concurrency or docs, one)
        result = sample.finish(
            watcher_reads=client.watcher.reads,
            projection_lag_p50_s=round(percentile(writer.lags, 0.5) or 0, 4),
            projection_lag_p99_s=round(percentile(writer.lags, 0.99) or 0, 4),
            status_lag_p50_s=round(percentile(writer.status_lags, 0.5) or 0, 4),
            status_lag_p99_s=round(percentile(writer.status_lags, 0.99) or 0, 4),
            closed_lag_p50_s=round(percentile(writer.closed_lags, 0.5) or 0, 4),
            closed_lag_p99_s=round(percentile(writer.closed_lags, 0.99) or 0, 4),
            commits=writer.transactions,
            writes=len(writer.lags) + len(writer.status_lags),
        )
    result["history_events_per_doc"] = await _events(bench, [workflow_id(i) for i in ids[:2]])
    result["check"] = await _check(deployment.engine, ids, expected_rows or docs)
    await deployment.close()
    return result


async def _submit_and_wait(
    client: Client, sample: Sample, ids: list[str], type_name: str, concurrency: int
) -> None:
    start = time.perf_counter()

    def done(event: BatchEvent) -> None:
        if event.kind is EventKind.DOCUMENT_COMPLETED:
            sample.latencies.append(time.perf_counter() - start)

    results = await client.submit_many(
        [Submission(id=i) for i in ids],
        type=type_name,
        concurrency=concurrency,
        wait=True,
        on_event=done,
    )
    failed = [r for r in results if not r.ok]
    if failed:
        raise RuntimeError(f"{len(failed)} documents did not complete: {failed[0]}")


async def _warm_up(bench: Bench, client: Client, queue: str) -> None:
    """One small document through a new worker: its pollers, task queue and connection
    pool start outside the measurement (the same for every arm, raw included)."""
    doc_id = f"{queue}-warm-up"
    await client.submit(None, type=pipelines.LEAF.name, id=doc_id)
    await bench.temporal.get_workflow_handle(workflow_id(doc_id)).result()


async def fan_out(bench: Bench, url: str, children: int) -> dict[str, Any]:
    """One document deriving ``children`` documents, each its own child workflow."""
    result = await docstate(
        bench,
        url,
        1,
        type_name="bench_fan",
        steps=1,
        metadata={"children": children},
        expected_rows=children + 1,
    )
    # per derived document, not per submitted one
    docs = children + 1
    seconds = result["seconds"]
    result.update(
        docs=docs,
        docs_per_s=round(docs / seconds, 2),
        activities_per_s=round(docs / seconds, 1),
        worker_cpu_s_per_doc=round(result["worker_cpu_s_per_doc"] / docs, 4),
        server_cpu_s_per_doc=round(result["server_cpu_s_per_doc"] / docs, 4),
        # the parent's latest run (it continues as new mid fan-out), not a per-document mean
        parent_history_events=result.pop("history_events_per_doc"),
    )
    return result


async def _events(bench: Bench, workflow_ids: list[str]) -> float:
    counts = []
    for wid in workflow_ids:
        history = await bench.temporal.get_workflow_handle(wid).fetch_history()
        counts.append(len(history.events))
    return sum(counts) / len(counts)


async def _check(engine: Any, ids: list[str], expected_rows: int) -> str:
    """Every row completed at its final version, no duplicate events, exact lineage."""
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(
                    documents.c.id, documents.c.status, documents.c.version, documents.c.root_id
                ).where(documents.c.root_id.in_(ids))
            )
        ).all()
        events = await conn.scalar(
            sa.select(sa.func.count())
            .select_from(document_events)
            .where(document_events.c.document_id.in_([r.id for r in rows]))
        )
        newest = await conn.scalar(
            sa.select(sa.func.count())
            .select_from(documents)
            .where(
                documents.c.root_id.in_(ids),
                documents.c.version
                == sa.select(sa.func.max(document_events.c.seq))
                .where(document_events.c.document_id == documents.c.id)
                .scalar_subquery(),
            )
        )
    problems = []
    incomplete = [r.id for r in rows if r.status != Status.COMPLETED.value]
    if incomplete:
        problems.append(f"{len(incomplete)} not completed")
    if newest != len(rows):
        problems.append(f"{len(rows) - (newest or 0)} rows not at their newest version")
    if len(rows) != expected_rows:
        problems.append(f"{len(rows)} rows, expected {expected_rows}")
    return "ok" if not problems else "; ".join(problems) + f" ({events} events)"


async def soak(bench: Bench, url: str, docs: int, every: int = 1000) -> dict[str, Any]:
    """``docs`` documents through DocState in waves of ``every``: after each, the worker's
    RSS and its count of live Python objects (which tells a leak in Python code from the
    allocator's and the Rust core's own ups and downs)."""
    # the product's writer: the benchmark's lag-noting one keeps every lag it saw
    deployment = await Deployment.on(bench, url)
    queue, client = deployment.queue, deployment.client
    rss: list[float] = []
    objects: list[int] = []
    started = time.perf_counter()
    async with deployment.worker(Registry(pipelines.ALL)):
        for wave in range(0, docs, every):

            async def one(i: int, wave: int = wave) -> None:
                doc_id = f"{queue}-{wave + i}"
                await client.submit(None, type="bench_noop", id=doc_id)
                await bench.temporal.get_workflow_handle(workflow_id(doc_id)).result()

            await _bounded(min(every, docs - wave), 200, one)
            rss.append(round(current_rss_mib(), 1))
            gc.collect()
            objects.append(len(gc.get_objects()))
    await deployment.close()
    seconds = time.perf_counter() - started
    return {
        "docs": docs,
        "seconds": round(seconds, 1),
        "docs_per_s": round(docs / seconds, 2),
        "rss_mib_after_each_wave": rss,
        "rss_growth_mib": round(rss[-1] - rss[0], 1),
        "python_objects_after_each_wave": objects,
    }
