"""Batches, progress streams and the blocking client, against the real dev server."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

from temporalio.api.enums.v1 import EventType

from docstate import BatchEvent, EventKind, Status, Submission
from docstate.protocol import workflow_id
from tests import pipelines as p
from tests.conftest import Harness
from tests.test_engine import new_id


async def _temporal_side(harness: Harness, document_id: str) -> str:
    """The workflow's status and its last history events, for a failure message."""
    handle = harness.temporal.get_workflow_handle(workflow_id(document_id))
    description = await handle.describe()
    history = await handle.fetch_history()
    last = [EventType.Name(e.event_type) for e in history.events[-8:]]
    return f"{description.status}, {len(history.events)} events, last: {last}"


async def test_submit_many_keeps_going_past_bad_documents(harness: Harness) -> None:
    prefix = new_id("batch")
    bad = {7: "missing", 123: "duplicate", 250: "waits", 499: "waits"}

    async def source() -> AsyncIterator[Submission]:  # an async iterable, read as needed
        for i in range(500):
            kind = bad.get(i)
            if kind == "missing":
                yield Submission(content=Path("/nonexistent/file.pdf"), id=f"{prefix}-{i}")
            elif kind == "duplicate":
                yield Submission(content=b"x", id=f"{prefix}-0")
            else:
                yield Submission(
                    content=f"doc {i}", id=f"{prefix}-{i}", metadata={"bad": kind == "waits"}
                )

    events: list[BatchEvent] = []
    async with harness.worker(*p.ALL):
        results = await harness.client.submit_many(
            source(),
            type="basic",
            concurrency=20,
            wait=True,
            timeout=120,
            on_event=events.append,
        )
    assert len(results) == 500 and [r.index for r in results] == list(range(500))
    failed = {r.index: r for r in results if not r.ok}
    if set(failed) != set(bad):  # name what Temporal holds for each unexpected failure
        unexpected = {i: failed[i] for i in set(failed) - set(bad)}
        raise AssertionError(
            {
                "should have failed": sorted(set(bad) - set(failed)),
                **{
                    str(i): (r.status, r.error, await _temporal_side(harness, f"{prefix}-{i}"))
                    for i, r in unexpected.items()
                },
            }
        )
    assert failed[7].status is None and "cannot read /nonexistent/file.pdf" in (
        failed[7].error or ""
    )
    assert failed[123].status is None and "already exists" in (failed[123].error or "")
    assert failed[250].status is Status.WAITING
    assert failed[250].error == f"PermanentError: document {prefix}-250 is marked bad"
    assert {r.status for r in results if r.ok} == {Status.COMPLETED}

    assert events[0].kind is EventKind.BATCH_STARTED
    assert events[-1].kind is EventKind.BATCH_COMPLETED
    assert (events[-1].done, events[-1].failed) == (500, 4)
    ends = [
        e for e in events if e.kind in (EventKind.DOCUMENT_COMPLETED, EventKind.DOCUMENT_FAILED)
    ]
    assert sorted(e.index or 0 for e in ends) == list(range(500))  # each document ends once
    assert all(e.index is not None for e in ends)
    assert [e.done for e in ends] == list(range(1, 501))  # running totals, in order
    started = {e.index: n for n, e in enumerate(events) if e.kind is EventKind.DOCUMENT_STARTED}
    ended = {e.index: n for n, e in enumerate(events) if e in ends}
    assert set(started) == set(range(500)) - {7, 123}
    assert all(started[i] < ended[i] for i in started)  # started before it ended
    assert None not in started and None not in ended


async def test_progress_sees_every_state_in_order(harness: Harness) -> None:
    doc_id = new_id()
    p.failures_left[doc_id] = 1
    async with harness.worker(*p.ALL):
        await harness.client.submit(b"x", type="basic", id=doc_id)
        seen = [e async for e in harness.client.progress(doc_id, timeout=60)]
    assert [(e.transition, e.to_state, e.status, e.attempt) for e in seen] == [
        (None, "s0", Status.RUNNING, 0),
        ("parse", "s1", Status.RUNNING, 1),
        ("enrich", "s1", Status.RUNNING, 1),  # the failed attempt
        ("enrich", "s2", Status.RUNNING, 2),
        ("check", "done", Status.COMPLETED, 1),
    ]
    assert [e.seq for e in seen] == sorted(e.seq for e in seen)


async def test_the_sync_client_from_a_plain_script(harness: Harness, tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text(
        textwrap.dedent("""
        from docstate import SyncClient

        with SyncClient.connect() as ds:                  # settings from the environment
            record = ds.submit_and_wait(b"hello", type="basic", id="sync-1", timeout=60)
            print(record.status.value, record.state)
            print(len(ds.history("sync-1")), b"".join(ds.content("sync-1")).decode())
            print([e.to_state for e in ds.progress("sync-1")])
    """)
    )
    out = await harness.run_script(script, *p.ALL)
    assert out.splitlines() == [
        "completed done",
        "4 HELLO",
        "['s0', 's1', 's2', 'done']",
    ]


async def test_batch_events_as_an_async_iterator(harness: Harness) -> None:
    async with harness.worker(*p.ALL):
        kinds = [
            (e.kind, e.index)
            async for e in harness.client.submit_stream(
                [b"one", b"two", Path("/no/such/file")],
                type="basic",
                concurrency=1,
                wait=True,
                timeout=60,
            )
        ]
    assert kinds == [
        (EventKind.BATCH_STARTED, None),
        (EventKind.DOCUMENT_STARTED, 0),
        (EventKind.DOCUMENT_COMPLETED, 0),
        (EventKind.DOCUMENT_STARTED, 1),
        (EventKind.DOCUMENT_COMPLETED, 1),
        (EventKind.DOCUMENT_FAILED, 2),
        (EventKind.BATCH_COMPLETED, None),
    ]
