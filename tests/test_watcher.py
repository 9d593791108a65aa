"""One watcher per client: waits and progress streams share one query per read, pushed
by LISTEN/NOTIFY on PostgreSQL, exact (every event once, in order) on both databases."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from docstate import Client, Status, Submission
from docstate.client.watcher import Watcher
from docstate.projection import ProjectionQueries, ProjectionWrite, ProjectionWriter, create_engine
from docstate.projection.changes import read_changes
from docstate.projection.records import EventRecord, version_of
from tests import pipelines as p
from tests.conftest import Harness
from tests.test_engine import new_id

T0 = datetime(2026, 1, 1, tzinfo=UTC)
HOUR = 3600.0  # a tick that never comes within a test: reads happen only when poked


def write(doc: str, step: int, status: Status = Status.RUNNING) -> ProjectionWrite:
    return ProjectionWrite(
        document_id=doc,
        type="note",
        version=version_of(step),
        state=f"s{step}",
        status=status,
        # as Temporal confirms it (committed truth): a closed status shows only then
        confirmed=status.closed,
        at=T0 + timedelta(seconds=step),
    )


def steps(doc: str, first: int, last: int, *, close: bool = False) -> list[ProjectionWrite]:
    return [
        write(doc, s, Status.COMPLETED if close and s == last else Status.RUNNING)
        for s in range(first, last + 1)
    ]


def count_queries(engine: AsyncEngine) -> list[str]:
    """Every statement the engine runs, as an SQLAlchemy event listener sees it."""
    seen: list[str] = []

    @sa.event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    return seen


@asynccontextmanager
async def watching(url: str, **options: Any) -> AsyncIterator[tuple[Watcher, list[str]]]:
    engine = create_engine(url)
    watcher = Watcher(engine, **options)
    try:
        yield watcher, count_queries(engine)
    finally:
        await watcher.close()
        await engine.dispose()


async def collect(stream: AsyncIterator[EventRecord]) -> list[int]:
    return [event.seq async for event in stream]


async def until(check: Callable[[], bool]) -> None:
    async with asyncio.timeout(30):
        while not check():  # noqa: ASYNC110 - the conditions are the watcher's counters
            await asyncio.sleep(0.01)


async def test_500_waits_and_streams_cost_a_bounded_number_of_queries(database_url: str) -> None:
    engine = create_engine(database_url)
    async with (
        ProjectionWriter(engine) as writer,
        watching(database_url, interval=HOUR, push_interval=HOUR) as (w, queries),
    ):
        # documents already done: one read serves all 500
        await writer.apply([x for i in range(50) for x in steps(f"old{i}", 1, 3, close=True)])
        done, followed = await asyncio.gather(
            asyncio.gather(*(w.wait(f"old{i % 50}", timeout=30) for i in range(250))),
            asyncio.gather(*(collect(w.follow(f"old{i % 50}", timeout=30)) for i in range(250))),
        )
        assert all(r.status is Status.COMPLETED for r in done)
        assert all(seqs == [version_of(s) for s in (1, 2, 3)] for seqs in followed)
        await until(lambda: not w.running)  # it stops once nothing is watched
        assert w.reads <= 2 and len(queries) == w.reads

        # documents not yet recorded, followed while they run: a read per batch at most
        # (pushed by NOTIFY on PostgreSQL, poked by hand where SQLite would tick)
        before = w.reads
        waits = [asyncio.create_task(w.wait(f"new{i % 50}", timeout=60)) for i in range(250)]
        streams = [
            asyncio.create_task(collect(w.follow(f"new{i % 50}", timeout=60))) for i in range(250)
        ]
        await until(lambda: w.watched == 500)
        for step in range(1, 5):
            await writer.apply(
                [
                    write(f"new{i}", step, Status.COMPLETED if step == 4 else Status.RUNNING)
                    for i in range(50)
                ]
            )
            if w.listener is None:
                w.poke()
        seqs = await asyncio.gather(*streams)
        assert all(r.status is Status.COMPLETED for r in await asyncio.gather(*waits))
        assert all(s == [version_of(x) for x in range(1, 5)] for s in seqs)
        await until(lambda: not w.running)
        # one read per batch written, plus the one LISTEN's (re)connection asks for
        assert w.reads - before <= 6 and len(queries) == w.reads
    await engine.dispose()


async def test_a_lost_notification_delays_an_event_but_never_loses_it(pg_url: str) -> None:
    engine = create_engine(pg_url)
    # a session in replica mode fires no triggers: its commit sends no NOTIFY
    silent = create_async_engine(
        pg_url, connect_args={"server_settings": {"session_replication_role": "replica"}}
    )
    async with (
        ProjectionWriter(engine) as writer,
        ProjectionWriter(silent) as silent_writer,
        watching(pg_url, interval=HOUR, push_interval=0.5) as (w, _),
    ):
        stream = asyncio.create_task(collect(w.follow("a", timeout=60)))
        await until(lambda: w.listener is not None and w.listener.connected)
        await writer.apply([write("a", 1)])
        assert w.listener is not None
        await until(lambda: w.listener is not None and w.listener.notifications == 1)
        await silent_writer.apply([write("a", 2)])  # its notification is lost
        await silent_writer.apply([write("a", 3, Status.COMPLETED)])
        assert await stream == [version_of(s) for s in (1, 2, 3)]
        assert w.listener.notifications == 1  # delivered by the tick, not by a push
    await silent.dispose()
    await engine.dispose()


async def test_a_notification_reads_only_the_documents_it_names(
    pg_url: str, monkeypatch: Any
) -> None:
    import docstate.client.watcher as watcher_module

    asked: list[int] = []  # marks per read: how many documents each query asked about

    async def counted(engine: AsyncEngine, marks: list[Any]) -> Any:
        asked.append(len(marks))
        return await read_changes(engine, marks)

    monkeypatch.setattr(watcher_module, "read_changes", counted)
    engine = create_engine(pg_url)
    long_ids = [f"{i:03d}".ljust(190, "x") for i in range(50)]  # 50 x 190 bytes: no payload
    watched = [f"w{i}" for i in range(100)] + long_ids
    async with (
        ProjectionWriter(engine) as writer,
        watching(pg_url, interval=HOUR, push_interval=HOUR) as (w, _),
    ):
        await writer.apply([write(doc, 1) for doc in watched])
        streams = {doc: asyncio.create_task(collect(w.follow(doc, timeout=60))) for doc in watched}
        await until(lambda: w.watched == 150 and w.listener is not None and w.listener.connected)
        await until(lambda: w.reads >= 1 and not w._poke.is_set())
        asked.clear()
        await writer.apply([write("w1", 2), write("w2", 2)])  # one statement, two ids
        await until(lambda: bool(asked))
        assert asked == [2]
        await writer.apply([write("nobody-watches-this", 1)])  # named, but not watched
        await writer.apply([write("w3", 2)])
        await until(lambda: len(asked) == 2)
        assert asked == [2, 1]
        # too many bytes of ids for one notification: it names none, so all are read
        await writer.apply([write(doc, 2, Status.COMPLETED) for doc in long_ids])
        await until(lambda: len(asked) == 3)
        assert asked[2] == 150
        await writer.apply([write(doc, 3, Status.COMPLETED) for doc in watched[:100]])
        for doc, stream in streams.items():
            seen = (1, 2) if doc in long_ids else (1, 2, 3) if doc in ("w1", "w2", "w3") else (1, 3)
            assert await stream == [version_of(s) for s in seen], doc
    await engine.dispose()


async def test_a_dropped_listen_connection_still_delivers_every_event(pg_url: str) -> None:
    engine = create_engine(pg_url)
    async with (
        ProjectionWriter(engine) as writer,
        watching(pg_url, interval=0.2, push_interval=HOUR) as (w, _),
    ):
        listener = w.listener
        assert listener is not None
        stream = asyncio.create_task(collect(w.follow("a", timeout=60)))
        await until(lambda: listener.connected)
        first = listener.server_pid
        async with engine.connect() as conn:
            await conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        await until(lambda: not listener.connected)
        # committed while nothing listens: the tick (and the reconnection) bring it
        await writer.apply([write("a", 1)])
        await until(lambda: listener.connections == 2)
        assert listener.server_pid != first
        await writer.apply([write("a", 2), write("a", 3, Status.COMPLETED)])
        assert await stream == [version_of(s) for s in (1, 2, 3)]
    await engine.dispose()


async def test_a_stream_that_falls_behind_catches_up_from_the_table(database_url: str) -> None:
    engine = create_engine(database_url)
    async with (
        ProjectionWriter(engine) as writer,
        watching(database_url, interval=0.05, buffer_limit=3) as (w, _),
    ):
        await writer.apply(steps("a", 1, 10))
        stream = w.follow("a", timeout=60)
        seen = [(await anext(stream)).seq]  # then it stops consuming for a while
        await writer.apply(steps("a", 11, 20, close=True))
        for _ in range(5):
            await asyncio.sleep(0.05)  # reads come and find its buffer full
        seen += [event.seq async for event in stream]
        assert seen == [version_of(s) for s in range(1, 21)]
    await engine.dispose()


async def test_a_stream_opened_mid_run_gets_every_event_once_in_order(any_harness: Harness) -> None:
    client = any_harness.client
    doc_id = new_id()
    async with any_harness.worker(*p.ALL):
        from_start = asyncio.create_task(collect(client.progress(doc_id, timeout=60)))
        await client.submit(b"x", type="basic", id=doc_id, hold=True)
        await client.step(doc_id)  # one transition, then it holds again
        await until_recorded(client, doc_id, transitions=1)
        mid_run = client.progress(doc_id, timeout=60)
        first = await anext(mid_run)  # what already exists comes first
        await client.resume(doc_id)
        rest = [first.seq] + [event.seq async for event in mid_run]
        history = [event.seq for event in await client.history(doc_id)]
        assert len(history) > 3 and (await client.get(doc_id)).status is Status.COMPLETED
        assert rest == history == sorted(set(history))
        assert await from_start == history


async def until_recorded(client: Any, doc_id: str, *, transitions: int) -> None:
    async with asyncio.timeout(30):
        # the client's history, a plain query, is what this test checks the stream against
        while True:
            if sum(e.transition is not None for e in await client.history(doc_id)) >= transitions:
                return
            await asyncio.sleep(0.05)


async def test_a_batch_waits_on_one_shared_watcher(harness: Harness) -> None:
    """submit_many(wait=True) and a progress stream per document: every read the client
    makes is the watcher's single query, and there are fewer of them than documents."""
    engine = create_engine(harness.settings.database_url)
    queries = count_queries(engine)
    client = Client(harness.temporal, harness.settings, ProjectionQueries(engine), harness.blobs)
    docs = [Submission(content=b"x", id=new_id()) for _ in range(60)]
    async with harness.worker(*p.ALL):
        streams = [asyncio.create_task(collect(client.progress(d.id or ""))) for d in docs]
        results = await client.submit_many(docs, type="basic", concurrency=60, wait=True)
        seqs = await asyncio.gather(*streams)
    assert all(r.ok and r.status is Status.COMPLETED for r in results)
    assert all(len(s) > 3 and s == sorted(set(s)) for s in seqs)
    reads = [q for q in queries if "unnest" in q]
    await until(lambda: not client.watcher.running)
    assert len(queries) == len(reads) == client.watcher.reads < len(docs)
    await client.close()
