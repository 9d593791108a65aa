"""The watcher arms: many progress streams open at once while their documents run.

The worker runs in the streams' own process (one event loop for both, as in a script
that submits and follows its documents), or ``apart``, in a process of its own, as a
deployment runs its API (whose streams these are) beside its workers.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.arms import Bench, _bounded, _warm_up
from bench.measure import Sample, percentile
from bench.worker_process import lag_worker
from docstate import Client, Settings
from docstate.blobs import LocalBlobStore
from docstate.projection import ProjectionQueries, create_engine, upgrade
from docstate.projection.schema import document_events

READY_WITHIN = 60.0  # seconds for the worker process to connect and poll
DRAIN_WITHIN = 60.0  # seconds for it to stop once told to (its writer drains first)

Commits = dict[tuple[str, int], float]
"""When each (document id, version) was committed (``time.time()``)."""


@asynccontextmanager
async def _worker_here(
    bench: Bench, queue: str, url: str, blobs: LocalBlobStore
) -> AsyncIterator[Commits]:
    """A worker on this process's event loop; its commits as they happen."""
    async with lag_worker(bench.temporal, queue, url, blobs) as writer:
        yield writer.committed


async def _cancel_when_ended(process: asyncio.subprocess.Process, arm: asyncio.Task[Any]) -> None:
    await process.wait()
    arm.cancel()


@asynccontextmanager
async def _worker_apart(
    bench: Bench, queue: str, url: str, blob_dir: Path
) -> AsyncIterator[Commits]:
    """A worker in a process of its own (:mod:`bench.worker_process`); its commits once
    it has stopped. Should it end before it is told to, the arm stops with its exit code
    instead of its streams waiting for documents nobody runs."""
    out = bench.workdir / f"{queue}-commits.json"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.worker_process",
        *(bench.address, queue, url, str(blob_dir), str(out)),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdin is not None and process.stdout is not None
    arm = asyncio.current_task()
    assert arm is not None
    watchdog = asyncio.create_task(_cancel_when_ended(process, arm))
    commits: Commits = {}
    try:
        async with asyncio.timeout(READY_WITHIN):
            ready = await process.stdout.readline()
        if ready.strip() != b"ready":
            raise RuntimeError(f"the benchmark's worker process ended ({await process.wait()})")
        yield commits
    except BaseException as err:  # the arm failed, or the process ended: no drain
        watchdog.cancel()
        ended = process.returncode
        if ended is None:
            process.kill()
        await process.wait()
        if ended is not None and isinstance(err, asyncio.CancelledError):
            raise RuntimeError(f"the benchmark's worker process ended early ({ended})") from None
        raise
    watchdog.cancel()  # from here on it is told to end
    process.stdin.write(b"stop\n")
    await process.stdin.drain()
    try:
        async with asyncio.timeout(DRAIN_WITHIN):
            await process.wait()
    except TimeoutError:  # draining forever (its database went away): its results are lost
        process.kill()
        await process.wait()
        raise RuntimeError(
            f"the benchmark's worker process did not stop within {DRAIN_WITHIN:.0f} s"
        ) from None
    if process.returncode != 0:
        raise RuntimeError(f"the benchmark's worker process failed ({process.returncode})")
    commits.update({(doc, version): at for doc, version, at in json.loads(out.read_text())})


async def watchers(
    bench: Bench, url: str, docs: int = 1000, in_flight: int = 200, *, apart: bool = False
) -> dict[str, Any]:
    """``docs`` progress streams, one per document, all open before the documents are
    submitted (``in_flight`` at a time). The client has an engine of its own, so every
    statement counted on it (SQLAlchemy ``before_cursor_execute``) is the watcher's.
    Delivery lag: from a row's commit (noted by the worker's writer) to its event reaching
    its stream. With ``apart`` the worker runs in a process of its own.
    """
    queue = bench.queue()
    await upgrade(url)
    engine = create_engine(url)
    client_engine = create_engine(url)
    statements: list[float] = []

    @sa.event.listens_for(client_engine.sync_engine, "before_cursor_execute")
    def _count(*_: Any) -> None:
        statements.append(time.perf_counter())

    settings = Settings(task_queue=queue, database_url=url, blob_dir=bench.workdir / "blobs")
    blobs = LocalBlobStore(settings.blob_dir)
    client = Client(bench.temporal, settings, ProjectionQueries(client_engine), blobs)
    ids = [f"{queue}-{i}" for i in range(docs)]
    received: dict[str, list[tuple[int, float]]] = {i: [] for i in ids}

    async def follow(doc_id: str) -> None:
        async for event in client.progress(doc_id, timeout=900):
            received[doc_id].append((event.seq, time.time()))

    worker = (
        _worker_apart(bench, queue, url, settings.blob_dir)
        if apart
        else _worker_here(bench, queue, url, blobs)
    )
    async with worker as committed:
        await _warm_up(bench, client, queue)
        streams = [asyncio.create_task(follow(i)) for i in ids]
        while client.watcher.watched < docs:  # noqa: ASYNC110 - a counter, not an event
            await asyncio.sleep(0.01)
        counted = len(statements)
        sample = Sample(docs, 3, bench.server_pid)

        async def submit(i: int) -> None:
            await client.submit(None, type="bench_noop", id=ids[i])

        started = time.perf_counter()
        await _bounded(docs, in_flight, submit)
        await asyncio.gather(*streams)
        seconds = time.perf_counter() - started
        queries = len(statements) - counted
        result = sample.finish(
            streams=docs,
            watcher_queries=queries,
            watcher_queries_per_s=round(queries / seconds, 1),
            watcher_reads=client.watcher.reads,
            pushed=client.watcher.listener is not None,
            worker="apart" if apart else "in this process",
        )
    if apart:  # this process ran the client alone
        result["client_cpu_s_per_doc"] = result.pop("worker_cpu_s_per_doc")
    # known once an apart worker has stopped
    lags = [
        at - committed[doc, seq]
        for doc, events in received.items()
        for seq, at in events
        if (doc, seq) in committed
    ]
    result.update(
        delivery_lag_p50_s=round(percentile(lags, 0.5) or 0, 4),
        delivery_lag_p99_s=round(percentile(lags, 0.99) or 0, 4),
        delivery_lag_max_s=round(max(lags, default=0), 4),
        events_delivered=sum(len(e) for e in received.values()),
        lags_measured=len(lags),
    )
    result["check"] = await _check(engine, received)
    await client.close()
    await engine.dispose()
    return result


async def _check(engine: Any, received: dict[str, list[tuple[int, float]]]) -> str:
    """Each stream got its document's whole history, once, in order."""
    query = sa.select(document_events.c.document_id, document_events.c.seq).where(
        document_events.c.document_id.in_(list(received))
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query.order_by(document_events.c.seq))).all()
    history: dict[str, list[int]] = {}
    for doc, seq in rows:
        history.setdefault(doc, []).append(seq)
    wrong = [d for d, events in received.items() if [s for s, _ in events] != history.get(d)]
    return "ok" if not wrong else f"{len(wrong)} streams differ from their history"
