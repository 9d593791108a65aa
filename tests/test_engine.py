"""The document workflow against a real Temporal dev server and a real projection."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus

from docstate import DocumentNotFound, DuplicateDocument, InvalidTransition, Status
from docstate.protocol import LOCAL_STEPS_PER_RUN
from tests import pipelines as p
from tests.conftest import Harness


def new_id(prefix: str = "doc") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def test_happy_path_walks_every_state(any_harness: Harness) -> None:
    h = any_harness
    doc_id = new_id()
    async with h.worker(*p.ALL):
        await h.client.submit(b"hello world", type="basic", id=doc_id)
        record = await h.client.wait(doc_id, timeout=30)
    assert record.status is Status.COMPLETED
    assert record.state == "done"
    assert record.metadata == {"parsed": True, "enriched": True}
    assert await h.blobs.get_bytes(record.content_ref) == b"HELLO WORLD"  # type: ignore[arg-type]
    events = await h.client.history(doc_id)
    assert [(e.from_state, e.to_state, e.status) for e in events] == [
        (None, "s0", Status.RUNNING),
        ("s0", "s1", Status.RUNNING),
        ("s1", "s2", Status.RUNNING),
        ("s2", "done", Status.COMPLETED),
    ]
    assert [e.transition for e in events] == [None, "parse", "enrich", "check"]
    assert record.version == events[-1].seq


async def wait_for(predicate, timeout: float = 20, interval: float = 0.05):
    """Poll ``predicate`` (sync or async) until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


async def test_retry_with_backoff_then_success(harness: Harness) -> None:
    doc_id = new_id()
    p.failures_left[doc_id] = 2
    async with harness.worker(*p.ALL):
        await harness.client.submit(b"x", type="basic", id=doc_id)
        record = await harness.client.wait(doc_id, timeout=30)
    assert record.status is Status.COMPLETED
    assert p.calls[f"{doc_id}:flaky"] == 3
    events = await harness.client.history(doc_id)
    failed = [e for e in events if e.error]
    assert [(e.transition, e.attempt, e.to_state) for e in failed] == [
        ("enrich", 1, "s1"),
        ("enrich", 2, "s1"),
    ]
    assert all("ConnectionError: flaky service refused" in (e.error or "") for e in failed)
    succeeded = [e for e in events if e.transition == "enrich" and not e.error]
    assert [(e.attempt, e.to_state) for e in succeeded] == [(3, "s2")]


async def test_exhausted_retries_wait_then_retry_runs_only_the_failed_step(
    harness: Harness,
) -> None:
    doc_id = new_id()
    p.failures_left[doc_id] = 100
    async with harness.worker(*p.ALL):
        await harness.client.submit(b"x", type="basic", id=doc_id)
        waiting = await harness.client.wait(doc_id, timeout=30)
        assert waiting.status is Status.WAITING
        assert waiting.state == "s1"
        assert "ConnectionError: flaky service refused" in (waiting.error or "")
        assert p.calls[f"{doc_id}:flaky"] == 3  # max_attempts of QUICK

        p.failures_left[doc_id] = 0
        snapshot = await harness.client.retry(doc_id)
        assert snapshot.status is Status.WAITING  # acknowledged; runs after the update
        done = await wait_for(lambda: _closed(harness, doc_id))
    assert done.status is Status.COMPLETED
    assert p.calls[f"{doc_id}:parse"] == 1  # nothing before the failed step re-ran
    assert p.calls[f"{doc_id}:flaky"] == 4
    statuses = [e.status for e in await harness.client.history(doc_id)]
    assert Status.WAITING in statuses
    assert statuses[-1] is Status.COMPLETED


async def _closed(harness: Harness, doc_id: str):
    record = await harness.queries.get(doc_id)
    return record if record and record.status.closed else None


async def test_non_retryable_error_waits_after_one_attempt(harness: Harness) -> None:
    doc_id = new_id()
    async with harness.worker(*p.ALL):
        await harness.client.submit(b"x", type="basic", id=doc_id, metadata={"bad": True})
        record = await harness.client.wait(doc_id, timeout=30)
    assert record.status is Status.WAITING
    assert record.state == "s2"
    assert record.error == f"PermanentError: document {doc_id} is marked bad"
    assert p.calls[f"{doc_id}:reject"] == 1


async def test_skip_moves_past_a_skippable_failure(harness: Harness) -> None:
    doc_id, fixed_id = new_id(), new_id()
    async with harness.worker(*p.ALL):
        await harness.client.submit(b"x", type="skippable", id=doc_id, metadata={"bad": True})
        await harness.client.submit(b"x", type="basic", id=fixed_id, metadata={"bad": True})
        assert (await harness.client.wait(doc_id, timeout=30)).status is Status.WAITING
        assert (await harness.client.wait(fixed_id, timeout=30)).status is Status.WAITING

        await harness.client.skip(doc_id)
        done = await wait_for(lambda: _closed(harness, doc_id))
        with pytest.raises(InvalidTransition, match="transition 'check' is not skippable"):
            await harness.client.skip(fixed_id)
    assert done.status is Status.COMPLETED
    assert done.state == "done"
    skipped = [e for e in await harness.client.history(doc_id) if e.error == "skipped on request"]
    assert [(e.from_state, e.to_state) for e in skipped] == [("s0", "s1")]


async def test_actions_that_do_not_fit_are_refused_with_a_reason(harness: Harness) -> None:
    doc_id = new_id()
    async with harness.worker(*p.ALL):
        await harness.client.submit(b"x", type="slow", id=doc_id, metadata={"sleep": 30})
        await wait_for(lambda: p.calls[f"{doc_id}:slow"])
        with pytest.raises(InvalidTransition, match="only a waiting document can be retried"):
            await harness.client.retry(doc_id)
        with pytest.raises(InvalidTransition, match="it is not paused"):
            await harness.client.resume(doc_id)
        await harness.client.cancel(doc_id)
        await wait_for(lambda: _closed(harness, doc_id))
        with pytest.raises(InvalidTransition, match="has already ended"):
            await harness.client.cancel(doc_id)
        with pytest.raises(InvalidTransition, match="cannot retry"):
            await harness.client.retry(doc_id)
    with pytest.raises(DocumentNotFound):
        await harness.client.retry("no-such-document")
    with pytest.raises(DocumentNotFound):
        await harness.client.cancel("no-such-document")


async def test_cancel_reaches_the_running_activity(harness: Harness) -> None:
    doc_id = new_id()
    async with harness.worker(*p.ALL):
        await harness.client.submit(b"x", type="slow", id=doc_id, metadata={"sleep": 60})
        await wait_for(lambda: p.calls[f"{doc_id}:slow"])
        await harness.client.cancel(doc_id)
        record = await wait_for(lambda: _closed(harness, doc_id))
        description = await harness.temporal.get_workflow_handle(f"doc:{doc_id}").describe()
    assert record.status is Status.CANCELLED
    assert record.state == "s0"
    assert doc_id in p.cancelled  # the activity itself learned of the cancellation
    assert description.status == WorkflowExecutionStatus.CANCELED
    assert p.calls[f"{doc_id}:parse"] == 0


async def test_cancel_signal_from_the_web_ui(harness: Harness) -> None:
    doc_id = new_id()
    async with harness.worker(*p.ALL):
        await harness.client.submit(b"x", type="slow", id=doc_id, metadata={"sleep": 60})
        await wait_for(lambda: p.calls[f"{doc_id}:slow"])
        await harness.temporal.get_workflow_handle(f"doc:{doc_id}").signal("cancel")
        record = await wait_for(lambda: _closed(harness, doc_id))
    assert record.status is Status.CANCELLED
    assert doc_id in p.cancelled


async def test_pause_holds_between_steps_and_resume_goes_on(harness: Harness) -> None:
    doc_id = new_id()
    async with harness.worker(*p.ALL):
        await harness.client.submit(b"x", type="slow", id=doc_id, metadata={"sleep": 1})
        await wait_for(lambda: p.calls[f"{doc_id}:slow"])
        await harness.client.pause(doc_id)
        paused = await harness.client.wait(doc_id, timeout=30)
        assert (paused.status, paused.state) == (Status.PAUSED, "s1")
        assert p.calls[f"{doc_id}:parse"] == 0
        await asyncio.sleep(0.5)
        assert p.calls[f"{doc_id}:parse"] == 0  # still held
        await harness.client.resume(doc_id)
        done = await wait_for(lambda: _closed(harness, doc_id))
    assert done.status is Status.COMPLETED
    assert p.calls[f"{doc_id}:parse"] == 1


async def test_duplicate_submit_is_reported_not_duplicated(harness: Harness) -> None:
    doc_id = new_id()
    async with harness.worker(*p.ALL):
        await harness.client.submit(b"x", type="basic", id=doc_id)
        with pytest.raises(DuplicateDocument, match=doc_id):
            await harness.client.submit(b"other", type="basic", id=doc_id)
        await harness.client.wait(doc_id, timeout=30)
        with pytest.raises(DuplicateDocument):
            await harness.client.submit(b"x", type="basic", id=doc_id)
    assert p.calls[f"{doc_id}:parse"] == 1


async def test_unknown_type_fails_with_a_clear_error(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    doc_id = new_id()
    caplog.set_level(logging.INFO)
    async with harness.worker(*p.ALL):
        await harness.client.submit(b"x", type="invoice", id=doc_id)
        record = await harness.client.wait(doc_id, timeout=30)
    assert record.status is Status.FAILED
    assert "unknown document type 'invoice'" in (record.error or "")
    assert "basic" in (record.error or "")
    # The worker's log: one line naming the document and the type, no stack.
    lines = [
        r
        for r in caplog.records
        if "invoice" in r.getMessage() or (r.exc_info and "invoice" in str(r.exc_info[1]))
    ]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    assert lines[0].getMessage().startswith(f"doc:{doc_id}: unknown document type 'invoice'")
    assert lines[0].exc_info is None


async def test_no_matching_rule_fails_the_document(harness: Harness) -> None:
    routed, lost = new_id(), new_id()
    async with harness.worker(*p.ALL):
        await harness.client.submit(b"x", type="routed", id=routed, metadata={"kind": "b"})
        await harness.client.submit(b"x", type="routed", id=lost, metadata={"kind": "c"})
        assert (await harness.client.wait(routed, timeout=30)).state == "b"
        record = await harness.client.wait(lost, timeout=30)
    assert record.status is Status.FAILED
    assert "no transition out of state 's0' matches" in (record.error or "")


async def test_waiting_deadline_turns_into_failed(harness: Harness) -> None:
    doc_id = new_id()
    async with harness.worker(*p.ALL):
        await harness.client.submit(b"x", type="deadline", id=doc_id, metadata={"bad": True})
        record = await wait_for(lambda: _closed(harness, doc_id))
    assert record.status is Status.FAILED
    assert "waited 0:00:01 for retry, skip or cancel" in (record.error or "")


async def test_search_attributes_follow_the_document(harness: Harness) -> None:
    doc_id = new_id()
    async with harness.worker(*p.ALL):
        await harness.client.submit(b"x", type="basic", id=doc_id, metadata={"bad": True})
        await harness.client.wait(doc_id, timeout=30)
        query = (
            f'WorkflowId = "doc:{doc_id}" AND DocType = "basic" AND DocState = "s2" '
            'AND DocStatus = "waiting"'
        )

        async def listed() -> list[str]:
            return [w.id async for w in harness.temporal.list_workflows(query)]

        assert await wait_for(listed) == [f"doc:{doc_id}"]
        snapshot = await harness.client.snapshot(doc_id)
        await harness.client.cancel(doc_id)
    assert (snapshot.state, snapshot.status, snapshot.transition) == ("s2", Status.WAITING, "check")
    assert [h.status for h in snapshot.history][-1] is Status.WAITING


async def test_a_run_of_local_steps_shows_its_search_attributes_once_at_its_end(
    harness: Harness,
) -> None:
    """Search attributes are upserted where a document waits or ends, not after each
    local step: nobody could see those in between, and each upsert costs the server."""
    doc_id = new_id()
    async with harness.worker(*p.ALL):
        await harness.client.submit(b"x", type="basic", id=doc_id)
        assert (await harness.client.wait(doc_id, timeout=30)).status is Status.COMPLETED
        history = await harness.temporal.get_workflow_handle(f"doc:{doc_id}").fetch_history()
    steps = [e for e in history.events if e.HasField("marker_recorded_event_attributes")]
    shown = [
        set(e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields)
        for e in history.events
        if e.HasField("upsert_workflow_search_attributes_event_attributes")
    ]
    # one local run (the begin and all three transitions) and the engine's patch; the
    # SDK's own upsert of the patch (TemporalChangeVersion), then ours, once
    assert len(steps) == 2
    assert shown == [{"TemporalChangeVersion"}, {"DocType", "DocState", "DocStatus"}]
    query = f'WorkflowId = "doc:{doc_id}" AND DocState = "done" AND DocStatus = "completed"'

    async def listed() -> list[str]:
        return [w.id async for w in harness.temporal.list_workflows(query)]

    assert await wait_for(listed) == [f"doc:{doc_id}"]


async def test_a_submitted_document_is_listed_under_its_type_before_it_runs(
    harness: Harness,
) -> None:
    """The submit sets DocType: the web UI lists a document by type even while no worker
    has picked it up (state and status follow once its workflow publishes them)."""
    doc_id = new_id()
    await harness.client.submit(b"x", type="basic", id=doc_id, hold=True)
    query = f'WorkflowId = "doc:{doc_id}" AND DocType = "basic"'

    async def listed() -> list[str]:
        return [w.id async for w in harness.temporal.list_workflows(query)]

    assert await wait_for(listed) == [f"doc:{doc_id}"]
    handle = harness.temporal.get_workflow_handle(f"doc:{doc_id}")
    history = await handle.fetch_history()
    assert history.events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED
    await handle.terminate("test over")


@pytest.mark.parametrize(
    ("type_name", "rounds"),
    [
        # task-queue activities: one workflow task per step, so Temporal's suggestion
        # (every 120 events on the test server) comes in time
        ("loop_queued", 40),
        # local activities may all run in one workflow task: the engine's own bound
        ("loop", LOCAL_STEPS_PER_RUN + 20),
    ],
)
async def test_long_lives_continue_as_new_and_keep_their_version(
    harness: Harness, type_name: str, rounds: int
) -> None:
    doc_id = new_id()
    async with harness.worker(*p.ALL):
        await harness.client.submit(
            b"x", type=type_name, id=doc_id, metadata={"rounds": rounds, "more": True}
        )
        record = await wait_for(lambda: _closed(harness, doc_id), timeout=60)
        runs = {e.run_id async for e in _runs(harness, doc_id)}
    assert record.status is Status.COMPLETED
    assert record.metadata["n"] == rounds + 1  # `again` each round, then `finish`
    events = await harness.client.history(doc_id)
    assert [e.transition for e in events].count("again") == rounds
    assert [e.seq for e in events] == sorted({e.seq for e in events})  # no duplicates
    assert len(runs) > 1  # it did continue as new


async def _runs(harness: Harness, doc_id: str):
    async for execution in harness.temporal.list_workflows(f'WorkflowId = "doc:{doc_id}"'):
        yield execution


async def test_pause_soon_after_submit_holds_the_document(harness: Harness) -> None:
    # A pipeline of short local transitions can finish before a pause sent after submit
    # arrives (submit(hold=True) is the way to hold one before its first step): this one
    # starts with a 0.5 s transition, so the pause lands while it runs.
    doc_id = new_id()
    async with harness.worker(*p.ALL):
        await harness.client.submit(b"x", type="slow", id=doc_id, metadata={"sleep": 0.5})
        await harness.client.pause(doc_id)
        paused = await harness.client.wait(doc_id, timeout=30)
        assert (paused.status, paused.state) == (Status.PAUSED, "s1")  # after its step
        await harness.client.resume(doc_id)
        done = await wait_for(lambda: _closed(harness, doc_id))
    assert done.status is Status.COMPLETED
    assert (p.calls[f"{doc_id}:slow"], p.calls[f"{doc_id}:parse"]) == (1, 1)


@pytest.mark.parametrize("type_name", ["basic", "local"])  # short by default; forced
async def test_local_transitions_keep_the_same_semantics(harness: Harness, type_name: str) -> None:
    """Local activities: retries, waiting, retry and projection as for task-queue ones."""
    doc_id, bad_id = new_id(), new_id()
    p.failures_left[doc_id] = 100
    async with harness.worker(*p.ALL):
        await harness.client.submit(b"x", type=type_name, id=doc_id)
        await harness.client.submit(b"x", type=type_name, id=bad_id, metadata={"bad": True})
        waiting = await harness.client.wait(doc_id, timeout=30)
        assert (waiting.status, waiting.state) == (Status.WAITING, "s1")
        assert p.calls[f"{doc_id}:flaky"] == 3
        p.failures_left[doc_id] = 0
        await harness.client.retry(doc_id)
        done = await wait_for(lambda: _closed(harness, doc_id))
        bad = await harness.client.wait(bad_id, timeout=30)
        history = await harness.temporal.get_workflow_handle(f"doc:{doc_id}").fetch_history()
    assert done.status is Status.COMPLETED and done.metadata == {"parsed": True, "enriched": True}
    assert p.calls[f"{doc_id}:parse"] == 1
    assert bad.status is Status.WAITING and p.calls[f"{bad_id}:reject"] == 1
    events = await harness.client.history(doc_id)
    assert [(e.transition, e.attempt) for e in events if e.error and e.transition][:3] == [
        ("enrich", 1),
        ("enrich", 2),
        ("enrich", 3),
    ]
    kinds = {e.event_type for e in history.events}
    assert EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED not in kinds  # no server round trips
    # each attempt's outcome is a local-activity marker that names the transition
    local = [
        json.loads(e.marker_recorded_event_attributes.details["data"].payloads[0].data)
        for e in history.events
        if e.marker_recorded_event_attributes.marker_name == "core_local_activity"
    ]
    names = [m["activity_type"] for m in local if m["activity_type"] != "docstate.record"]
    # A local run begins the document, takes parse and fails enrich's first attempt;
    # enrich's other two attempts end in one marker of their own, the retried one in
    # another, and check goes in a second run.
    enrich = f"{type_name}.enrich"
    assert names == ["docstate.run", enrich, enrich, "docstate.run"]


async def test_long_transitions_go_through_the_task_queue(harness: Harness) -> None:
    """A transition that heartbeats (or has a long timeout) is a task-queue activity."""
    doc_id = new_id()
    async with harness.worker(*p.ALL):
        await harness.client.submit(b"x", type="slow", id=doc_id, metadata={"sleep": 0.1})
        done = await wait_for(lambda: _closed(harness, doc_id))
        history = await harness.temporal.get_workflow_handle(f"doc:{doc_id}").fetch_history()
    assert done.status is Status.COMPLETED
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    assert scheduled == ["slow.wait", "slow.parse"]
