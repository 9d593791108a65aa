"""The watcher arm: many progress streams open at once while their documents run."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import sqlalchemy as sa

from bench import pipelines
from bench.arms import Bench, _bounded, _warm_up
from bench.measure import LagWriter, Sample, percentile
from docstate import Client, Registry, Settings
from docstate.blobs import LocalBlobStore
from docstate.engine import build_worker
from docstate.projection import ProjectionQueries, create_engine, upgrade
from docstate.projection.schema import document_events


async def watchers(
    bench: Bench, url: str, docs: int = 1000, in_flight: int = 200
) -> dict[str, Any]:
    """``docs`` progress streams, one per document, all open before the documents are
    submitted (``in_flight`` at a time). The client has an engine of its own, so every
    statement counted on it (SQLAlchemy ``before_cursor_execute``) is the watcher's.
    Delivery lag: from a row's commit (noted by the worker's writer) to its event reaching
    its stream.
    """
    queue = bench.queue()
    await upgrade(url)
    engine = create_engine(url)
    writer = LagWriter(engine)
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

    async with build_worker(
        bench.temporal,
        task_queue=queue,
        registry=Registry(pipelines.ALL),
        writer=writer,
        blobs=blobs,
    ):
        await _warm_up(bench, client, queue)
        streams = [asyncio.create_task(follow(i)) for i in ids]
        while client.watcher.watched < docs:  # noqa: ASYNC110 - a counter, not an event
            await asyncio.sleep(0.01)
        writer.reset()
        counted = len(statements)
        sample = Sample(docs, 3, bench.server_pid)

        async def submit(i: int) -> None:
            await client.submit(None, type="bench_noop", id=ids[i])

        started = time.perf_counter()
        await _bounded(docs, in_flight, submit)
        await asyncio.gather(*streams)
        seconds = time.perf_counter() - started
        queries = len(statements) - counted
        lags = [
            at - writer.committed[doc, seq]
            for doc, events in received.items()
            for seq, at in events
            if (doc, seq) in writer.committed
        ]
        result = sample.finish(
            streams=docs,
            watcher_queries=queries,
            watcher_queries_per_s=round(queries / seconds, 1),
            watcher_reads=client.watcher.reads,
            pushed=client.watcher.listener is not None,
            delivery_lag_p50_s=round(percentile(lags, 0.5) or 0, 4),
            delivery_lag_p99_s=round(percentile(lags, 0.99) or 0, 4),
            delivery_lag_max_s=round(max(lags, default=0), 4),
            events_delivered=sum(len(e) for e in received.values()),
        )
    result["check"] = await _check(engine, received)
    await client.close()
    await writer.close()
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
