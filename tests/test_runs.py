"""Local runs: consecutive short transitions of a document in one local activity, each
keeping its own retry policy, timeout, cancellation, step mode, rows and metrics."""

from __future__ import annotations

import json
from datetime import timedelta

from temporalio.client import WorkflowHistory
from temporalio.exceptions import ApplicationError

from docstate import Document, Status
from docstate.engine.failures import retry_policy
from docstate.engine.limits import FAIRNESS_KEY
from docstate.engine.runs import (
    RUN_ACTIVITY,
    RUN_BUDGET,
    RUN_SLICE,
    describe_attempt,
    retryable,
    runs_together,
)
from docstate.model import KeyLimits, Retry, TransitionSpec
from docstate.protocol import workflow_id
from tests import pipelines as p
from tests.conftest import Harness
from tests.test_engine import _closed, new_id, wait_for


def _local_activities(history: WorkflowHistory) -> list[str]:
    """The local activities a workflow ran, in order, by name (the engine's status writes
    left out)."""
    names = [
        json.loads(e.marker_recorded_event_attributes.details["data"].payloads[0].data)[
            "activity_type"
        ]
        for e in history.events
        if e.marker_recorded_event_attributes.marker_name == "core_local_activity"
    ]
    return [n for n in names if n != "docstate.record"]


async def _history(h: Harness, doc_id: str) -> WorkflowHistory:
    return await h.temporal.get_workflow_handle(workflow_id(doc_id)).fetch_history()


async def test_a_pipeline_of_short_transitions_is_one_local_run(harness: Harness) -> None:
    """Begin and three transitions in one activity; each step still has its own row."""
    doc_id = new_id()
    async with harness.worker(*p.ALL):
        await harness.client.submit(b"x", type="basic", id=doc_id)
        done = await wait_for(lambda: _closed(harness, doc_id))
        history = await _history(harness, doc_id)
    assert done.status is Status.COMPLETED
    assert _local_activities(history) == [RUN_ACTIVITY]
    events = await harness.client.history(doc_id)
    assert [(e.transition, e.attempt, e.status) for e in events] == [
        (None, 0, Status.RUNNING),
        ("parse", 1, Status.RUNNING),
        ("enrich", 1, Status.RUNNING),
        ("check", 1, Status.COMPLETED),
    ]
    assert [e.seq for e in events] == sorted({e.seq for e in events})  # one version each


async def test_a_failed_attempt_in_a_run_is_retried_with_what_its_policy_has_left(
    harness: Harness,
) -> None:
    """enrich fails once inside the run: its second attempt runs alone, numbered 2, and
    the run goes on after it; a transition is never attempted more than its policy says."""
    once, always = new_id(), new_id()
    p.failures_left[once] = 1
    p.failures_left[always] = 100
    async with harness.worker(*p.ALL):
        await harness.client.submit(b"x", type="basic", id=once)
        await harness.client.submit(b"x", type="basic", id=always)
        done = await wait_for(lambda: _closed(harness, once))
        waiting = await harness.client.wait(always, timeout=30)
        history = await _history(harness, once)
    assert done.status is Status.COMPLETED and p.calls[f"{once}:flaky"] == 2
    attempts = [
        (e.transition, e.attempt, e.error is None) for e in await harness.client.history(once)
    ]
    assert attempts[1:] == [
        ("parse", 1, True),
        ("enrich", 1, False),
        ("enrich", 2, True),
        ("check", 1, True),
    ]
    assert _local_activities(history) == [RUN_ACTIVITY, "basic.enrich", RUN_ACTIVITY]
    # QUICK allows three attempts: one in the run, two alone; then the document waits
    assert waiting.status is Status.WAITING and p.calls[f"{always}:flaky"] == 3


async def test_a_non_retryable_failure_in_a_run_waits_for_a_decision(harness: Harness) -> None:
    doc_id = new_id()
    async with harness.worker(*p.ALL):
        await harness.client.submit(b"x", type="basic", id=doc_id, metadata={"bad": True})
        waiting = await harness.client.wait(doc_id, timeout=30)
        snapshot = await harness.client.snapshot(doc_id)
        await harness.client.cancel(doc_id)
    assert (waiting.status, waiting.state) == (Status.WAITING, "s2")
    assert snapshot.transition == "check" and p.calls[f"{doc_id}:reject"] == 1
    assert "marked bad" in (waiting.error or "")


async def test_cancel_stops_a_run_in_the_middle_of_a_transition(harness: Harness) -> None:
    doc_id = new_id()
    async with harness.worker(*p.ALL):
        await harness.client.submit(b"x", type="dozer", id=doc_id, metadata={"sleep": 60})
        await wait_for(lambda: p.calls[f"{doc_id}:slow"] == 1)  # parse done, doze napping
        await harness.client.cancel(doc_id)
        done = await wait_for(lambda: _closed(harness, doc_id))
    assert done.status is Status.CANCELLED
    assert doc_id in p.cancelled  # the transition itself was cancelled, not left running
    # The run never returned: the cancel is recorded where the workflow last knew the
    # document to be, after every row the run wrote (parse's stays in the history).
    events = await harness.client.history(doc_id)
    assert [(e.transition, e.status) for e in events] == [
        (None, Status.RUNNING),
        ("parse", Status.RUNNING),
        (None, Status.CANCELLED),
    ]
    assert done.state == "s0" and done.version == events[-1].seq


async def test_an_attempt_that_outlives_its_timeout_in_a_run_fails_with_its_row(
    harness: Harness,
) -> None:
    doc_id = new_id()
    async with harness.worker(*p.ALL):
        await harness.client.submit(b"x", type="napper", id=doc_id, metadata={"sleep": 5})
        waiting = await harness.client.wait(doc_id, timeout=60)
        await harness.client.cancel(doc_id)
    assert waiting.status is Status.WAITING and "timed out" in (waiting.error or "")
    failed = [e for e in await harness.client.history(doc_id) if e.error and e.transition]
    assert (failed[0].transition, failed[0].attempt) == ("doze", 1)
    assert "took longer than its timeout (0:00:01)" in (failed[0].error or "")
    assert p.calls[f"{doc_id}:slow"] == 3  # QUICK: three attempts, as its policy says


async def test_a_run_that_has_run_its_slice_takes_no_further_transition(
    harness: Harness,
) -> None:
    """Transitions of 1.2 s: the run takes a second one (1.2 s < RUN_SLICE), not a third
    (2.4 s), so the workflow hears of signals and queries between runs."""
    doc_id = new_id()
    async with harness.worker(*p.ALL):
        await harness.client.submit(b"x", type="drowsy", id=doc_id, metadata={"sleep": 1.2})
        done = await wait_for(lambda: _closed(harness, doc_id), timeout=30)
        history = await _history(harness, doc_id)
    assert done.status is Status.COMPLETED and p.calls[f"{doc_id}:slow"] == 3
    assert RUN_SLICE.total_seconds() == 2
    assert _local_activities(history) == [RUN_ACTIVITY, RUN_ACTIVITY]


async def test_step_mode_takes_one_transition_of_a_run(harness: Harness) -> None:
    doc_id = new_id()
    async with harness.worker(*p.ALL):
        await harness.client.submit(b"x", type="basic", id=doc_id, hold=True)
        assert (await harness.client.wait(doc_id, timeout=30)).status is Status.PAUSED
        await harness.client.step(doc_id)
        stepped = await wait_for(lambda: _paused_in(harness, doc_id, "s1"), timeout=30)
        await harness.client.resume(doc_id)
        done = await wait_for(lambda: _closed(harness, doc_id))
    assert stepped and done.status is Status.COMPLETED
    assert (p.calls[f"{doc_id}:parse"], p.calls[f"{doc_id}:flaky"]) == (1, 1)


async def _paused_in(h: Harness, doc_id: str, state: str) -> bool:
    record = await h.queries.get(doc_id)
    return record is not None and (record.status, record.state) == (Status.PAUSED, state)


def test_what_a_run_may_take() -> None:
    """Short local transitions of a document whose key has no limit, within the budget."""
    basic = p.BASIC.spec()
    parse = basic.transition("parse")
    doc = Document(id="d", type="basic")
    assert runs_together(basic, parse, doc)
    assert not runs_together(p.SLOW.spec(), p.SLOW.spec().transition("wait"), doc)  # heartbeats
    long = parse.model_copy(update={"timeout": RUN_BUDGET + timedelta(seconds=1), "local": True})
    assert long.runs_locally and not runs_together(basic, long, doc)
    keyed = doc.model_copy(update={"metadata": {FAIRNESS_KEY: "k"}})
    assert runs_together(basic, parse, keyed)  # a key without a limit
    limited = basic.model_copy(update={"key_limits": KeyLimits(per_key={"k": 1})})
    assert not runs_together(limited, parse, keyed)


def test_which_failed_attempts_a_transition_may_retry() -> None:
    quick = p.BASIC.spec().transition("enrich")
    assert retryable(ConnectionError("refused"), quick)
    assert not retryable(ApplicationError("bad", non_retryable=True), quick)
    assert not retryable(ApplicationError("bad", type="Refused"), _with(quick, ("Refused",)))
    assert not retryable(ValueError("bad"), _with(quick, ("ValueError",)))
    once = quick.model_copy(update={"retry": Retry(max_attempts=1)})
    assert not retryable(ConnectionError("refused"), once)


def _with(transition: TransitionSpec, non_retryable: tuple[str, ...]) -> TransitionSpec:
    retry = transition.retry.model_copy(update={"non_retryable": non_retryable})
    return transition.model_copy(update={"retry": retry})


def test_the_policy_left_after_a_runs_attempt() -> None:
    """The attempt made in a run counts: the rest waits as attempt two would, and an
    unlimited policy stays unlimited."""
    retry = Retry(
        initial_interval=timedelta(seconds=1),
        backoff=2.0,
        max_interval=timedelta(seconds=3),
        max_attempts=3,
    )
    assert retry_policy(retry).maximum_attempts == 3
    left = retry_policy(retry, used=1)
    assert (left.maximum_attempts, left.initial_interval) == (2, timedelta(seconds=2))
    capped = retry_policy(retry, used=2)  # 4 s, capped at the policy's maximum
    assert (capped.maximum_attempts, capped.initial_interval) == (1, timedelta(seconds=3))
    unlimited = retry.model_copy(update={"max_attempts": 0})
    assert retry_policy(unlimited, used=1).maximum_attempts == 0


def test_a_failed_attempt_reads_as_temporal_would_put_it() -> None:
    assert describe_attempt(ConnectionError("refused")) == "ConnectionError: refused"
    assert describe_attempt(ApplicationError("bad", type="Rejected")) == "Rejected: bad"
    assert describe_attempt(TimeoutError("took longer")) == "timed out (start_to_close timeout)"
