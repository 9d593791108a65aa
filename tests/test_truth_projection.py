"""Committed truth in the projection (DESIGN section 3): what the writer shows of writes
that land before Temporal records them. Run on both databases."""

from __future__ import annotations

from docstate import Status
from docstate.projection.records import version_of
from tests.test_projection import projection, write

__all__ = ["projection"]  # the fixture, shared with the projection suite


async def test_a_closed_status_shows_only_once_confirmed(projection) -> None:
    writer, queries = projection
    await writer.apply([write("a", 1, "new"), write("a", 2, "parsed", Status.WAITING)])
    done = write("a", 3, "done", Status.COMPLETED, attempt=1, transition="finish")
    await writer.apply([done])
    record = await queries.get("a")
    # the new state and outcome are there, the status is the one it had: not yet closed
    assert (record.state, record.status, record.closing) == ("done", "waiting", "completed")
    assert record.version == done.version
    assert await queries.list(status=Status.COMPLETED) == []
    await writer.apply([done.model_copy(update={"confirmed": True})])
    record = await queries.get("a")
    assert (record.status, record.closing, record.version) == ("completed", None, done.version)
    assert [r.id for r in await queries.list(status=Status.COMPLETED)] == ["a"]


async def test_a_provisional_close_that_temporal_discarded_is_replaced(projection) -> None:
    writer, queries = projection
    await writer.apply([write("a", 1, "new")])
    # written by a worker killed before Temporal recorded the step; the re-run failed
    await writer.apply([write("a", 2, "done", Status.COMPLETED, attempt=1, transition="t")])
    await writer.apply([write("a", 3, "new", Status.WAITING, transition="t", error="boom")])
    record = await queries.get("a")
    assert (record.state, record.status, record.closing) == ("new", "waiting", None)
    history = await queries.history("a")
    assert [(e.seq, e.status, e.superseded) for e in history] == [
        (1000, "running", False),
        (2001, "completed", True),  # kept for the record, not an outcome
        (3000, "waiting", False),
    ]
    assert not any(e.succeeded for e in history)


async def test_a_closed_row_never_changes(projection) -> None:
    writer, queries = projection
    await writer.apply([write("a", 1, "done", Status.CANCELLED, confirmed=True)])
    await writer.apply([write("a", 2, "new", Status.WAITING, error="late")])
    await writer.apply([write("a", 3, "done", Status.COMPLETED)])
    record = await queries.get("a")
    assert (record.status, record.version, record.error) == ("cancelled", version_of(1), None)
    # Only Temporal's own word (a rebuild of a closed workflow) repairs a drifted row.
    await writer.apply([write("a", 3, "done", Status.CANCELLED, confirmed=True)])
    assert (await queries.get("a")).version == version_of(3)


async def test_a_late_write_from_a_discarded_attempt_changes_nothing(projection) -> None:
    writer, queries = projection
    await writer.apply(
        [
            write("a", 1, "new"),
            write("a", 2, "parsed", attempt=2, transition="parse"),
            write("a", 3, "done", Status.COMPLETED, attempt=1, transition="finish"),
        ]
    )
    await writer.apply([write("a", 3, "done", Status.COMPLETED, attempt=1, confirmed=True)])
    before = (await queries.get("a"), await queries.history("a"))
    # a frozen worker resumes: its attempt 1 of step 2 (Temporal ran attempt 2) finishes
    await writer.apply([write("a", 2, "parsed", attempt=1, transition="parse")])
    await writer.apply([write("a", 2, "new", attempt=1, transition="parse", error="late")])
    assert (await queries.get("a"), await queries.history("a")) == before


async def test_each_step_keeps_one_success(projection) -> None:
    writer, queries = projection
    await writer.apply([write("a", 1, "new")])
    # a task-queue attempt wrote its success, its worker died before Temporal had it;
    # Temporal ran attempt 2, which succeeded too
    await writer.apply([write("a", 2, "parsed", attempt=1, transition="parse")])
    await writer.apply([write("a", 2, "parsed", attempt=2, transition="parse")])
    history = await queries.history("a")
    assert [(e.seq, e.succeeded) for e in history] == [(1000, False), (2001, False), (2002, True)]
    assert (await queries.get("a")).attempt == 2


async def test_waiting_keeps_the_attempt_count(projection) -> None:
    writer, queries = projection
    await writer.apply([write("a", 1, "new")])
    for attempt in (1, 2, 3):
        await writer.apply([write("a", 2, "new", attempt=attempt, transition="t", error="x")])
    await writer.apply([write("a", 3, "new", Status.WAITING, transition="t", error="x")])
    record = await queries.get("a")
    assert (record.status, record.attempt) == ("waiting", 3)
