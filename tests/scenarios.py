"""Document lives whose workflow histories the replay tests check.

``python -m tests.scenarios`` records them into ``tests/histories/`` (run it when a
workflow change is meant to be compatible, and commit the files it writes): CI then
replays every recorded history against the current workflow code, so a change that
would break documents already running fails the build. Histories already recorded are
kept (only new scenarios are written): a recorded history is evidence of what an older
engine did, and re-recording it would hide a change that breaks it. A document that
continued as new has one history per run (``<name>.run<N>.json``).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from docstate import Settings, Status
from docstate.devserver import temporal_binary
from docstate.model import KeyLimits
from docstate.projection import upgrade
from docstate.protocol import LOCAL_STEPS_PER_RUN, SEARCH_ATTRIBUTES, workflow_id
from tests import pipelines as p
from tests.conftest import Harness

HISTORIES = Path(__file__).parent / "histories"
GENERATION = "8-local-runs"
"""Where ``record()`` writes: one folder per engine generation. Older folders stay, so
documents started under an earlier engine (task-queue transitions, before short ones
ran locally) keep replaying."""


# Temporal suggests continuing as new this early, so that a fan-out of a few dozen
# children continues as new midway (the tests' dev server has the same setting).
SUGGEST_CONTINUE_AS_NEW = ["--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=120"]


LIMITS = KeyLimits(per_key={p.ONE_AT_A_TIME: 1})


async def _settled(h: Harness, doc_id: str, status: Status) -> None:
    for _ in range(600):
        record = await h.queries.get(doc_id)
        if record and record.status is status:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{doc_id} did not reach {status}")


async def completed(h: Harness, doc_id: str) -> None:
    await h.client.submit(b"hello", type="basic", id=doc_id)
    await _settled(h, doc_id, Status.COMPLETED)


async def waited_then_retried(h: Harness, doc_id: str) -> None:
    p.failures_left[doc_id] = 100
    await h.client.submit(b"hello", type="basic", id=doc_id)
    await _settled(h, doc_id, Status.WAITING)
    p.failures_left[doc_id] = 0
    await h.client.retry(doc_id)
    await _settled(h, doc_id, Status.COMPLETED)


async def paused_then_resumed(h: Harness, doc_id: str) -> None:
    await h.client.submit(b"hello", type="slow", id=doc_id, metadata={"sleep": 0.3})
    await h.client.pause(doc_id)
    await _settled(h, doc_id, Status.PAUSED)
    await h.client.resume(doc_id)
    await _settled(h, doc_id, Status.COMPLETED)


async def cancelled(h: Harness, doc_id: str) -> None:
    await h.client.submit(b"hello", type="slow", id=doc_id, metadata={"sleep": 60})
    await h.client.cancel(doc_id)
    await _settled(h, doc_id, Status.CANCELLED)


async def fanned_out(h: Harness, doc_id: str) -> None:
    await h.client.submit(b"x", type="fan", id=doc_id, metadata={"children": 3})
    await _settled(h, doc_id, Status.COMPLETED)


async def fanned_out_and_continued(h: Harness, doc_id: str) -> None:
    """Forty children, five at a time: the parent continues as new midway."""
    await h.client.submit(b"x", type="fan_narrow", id=doc_id, metadata={"children": 40})
    await _settled(h, doc_id, Status.COMPLETED)


async def skipped(h: Harness, doc_id: str) -> None:
    await h.client.submit(b"x", type="skippable", id=doc_id, metadata={"bad": True})
    await _settled(h, doc_id, Status.WAITING)
    await h.client.skip(doc_id)
    await _settled(h, doc_id, Status.COMPLETED)


async def waiting_deadline(h: Harness, doc_id: str) -> None:
    await h.client.submit(b"x", type="deadline", id=doc_id, metadata={"bad": True})
    await _settled(h, doc_id, Status.FAILED)


async def unknown_type(h: Harness, doc_id: str) -> None:
    await h.client.submit(b"x", type="invoice", id=doc_id)
    await _settled(h, doc_id, Status.FAILED)


async def no_matching_rule(h: Harness, doc_id: str) -> None:
    await h.client.submit(b"x", type="routed", id=doc_id, metadata={"kind": "c"})
    await _settled(h, doc_id, Status.FAILED)


async def long_local_run(h: Harness, doc_id: str) -> None:
    """More local steps than one run takes: it continues as new after LOCAL_STEPS_PER_RUN."""
    rounds = {"rounds": LOCAL_STEPS_PER_RUN + 5, "more": True}
    await h.client.submit(b"x", type="loop", id=doc_id, metadata=rounds)
    await _settled(h, doc_id, Status.COMPLETED)


async def waited_for_its_key(h: Harness, doc_id: str) -> None:
    """Its key runs one transition at a time and another document of the key holds it."""
    first = f"{doc_id}-first"
    await h.client.submit(
        b"x", type="sleeper", id=first, metadata={"sleep": 1}, fairness_key=p.ONE_AT_A_TIME
    )
    await _settled(h, first, Status.RUNNING)
    await h.client.submit(
        b"x", type="sleeper", id=doc_id, metadata={"sleep": 0}, fairness_key=p.ONE_AT_A_TIME
    )
    await _settled(h, doc_id, Status.COMPLETED)
    history = await h.temporal.get_workflow_handle(workflow_id(doc_id)).fetch_history()
    if not any(e.HasField("timer_started_event_attributes") for e in history.events):
        raise AssertionError(f"{doc_id} never waited for its key's slot")
    await _settled(h, first, Status.COMPLETED)


async def rate_limited(h: Harness, doc_id: str) -> None:
    await h.client.submit(b"x", type="rate_limited", id=doc_id)
    await _settled(h, doc_id, Status.COMPLETED)


async def retried_within_a_run(h: Harness, doc_id: str) -> None:
    """A transition's first attempt fails inside a local run; its second, alone, works."""
    p.failures_left[doc_id] = 1
    await h.client.submit(b"hello", type="basic", id=doc_id)
    await _settled(h, doc_id, Status.COMPLETED)


async def cancelled_mid_run(h: Harness, doc_id: str) -> None:
    await h.client.submit(b"x", type="dozer", id=doc_id, metadata={"sleep": 60})
    for _ in range(600):  # parse done, doze under way in the same run
        if p.calls[f"{doc_id}:slow"]:
            break
        await asyncio.sleep(0.05)
    await h.client.cancel(doc_id)
    await _settled(h, doc_id, Status.CANCELLED)


async def stepped(h: Harness, doc_id: str) -> None:
    """Held at submit, one transition stepped, then resumed."""
    await h.client.submit(b"x", type="basic", id=doc_id, hold=True)
    await _settled(h, doc_id, Status.PAUSED)
    await h.client.step(doc_id)
    for _ in range(600):
        record = await h.queries.get(doc_id)
        if record and (record.status, record.state) == (Status.PAUSED, "s1"):
            break
        await asyncio.sleep(0.05)
    await h.client.resume(doc_id)
    await _settled(h, doc_id, Status.COMPLETED)


SCENARIOS: dict[str, Callable[[Harness, str], Awaitable[None]]] = {
    "completed": completed,
    "waited_then_retried": waited_then_retried,
    "paused_then_resumed": paused_then_resumed,
    "cancelled": cancelled,
    "fanned_out": fanned_out,
    "fanned_out_and_continued": fanned_out_and_continued,
    "skipped": skipped,
    "waiting_deadline": waiting_deadline,
    "unknown_type": unknown_type,
    "no_matching_rule": no_matching_rule,
    "long_local_run": long_local_run,
    "waited_for_its_key": waited_for_its_key,
    "rate_limited": rate_limited,
    "retried_within_a_run": retried_within_a_run,
    "cancelled_mid_run": cancelled_mid_run,
    "stepped": stepped,
}
CONTINUED = {"fanned_out_and_continued", "long_local_run"}
"""Scenarios whose document must have continued as new (more than one run)."""


async def _runs(h: Harness, doc_id: str) -> list[WorkflowHistory]:
    """Every run of a document's workflow, first to last (following continue-as-new)."""
    wid = workflow_id(doc_id)
    latest = await h.temporal.get_workflow_handle(wid).fetch_history()
    run_id = latest.events[0].workflow_execution_started_event_attributes.first_execution_run_id
    runs = []
    while run_id:
        history = await h.temporal.get_workflow_handle(wid, run_id=run_id).fetch_history()
        runs.append(history)
        last = history.events[-1].workflow_execution_continued_as_new_event_attributes
        run_id = last.new_execution_run_id
    return runs


async def play(h: Harness) -> dict[str, WorkflowHistory]:
    """Run every scenario; return each run's workflow history, by file name."""
    histories = {}
    async with h.worker(*p.ALL, p.RATE_LIMITED, key_limits=LIMITS):
        for name, scenario in SCENARIOS.items():
            doc_id = f"{name}-{uuid.uuid4().hex[:8]}"
            await scenario(h, doc_id)
            runs = await _runs(h, doc_id)
            if name in CONTINUED and len(runs) < 2:
                raise AssertionError(f"{name}: {doc_id} never continued as new")
            if len(runs) == 1:
                histories[name] = runs[0]
            for i, run in enumerate(runs if len(runs) > 1 else [], 1):
                histories[f"{name}.run{i}"] = run
    return histories


async def record() -> None:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_binary()),
        search_attributes=SEARCH_ATTRIBUTES,
        data_converter=pydantic_data_converter,
        dev_server_extra_args=SUGGEST_CONTINUE_AS_NEW,
    )
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/projection.db"
        await upgrade(url)
        settings = Settings(task_queue="record", database_url=url, blob_dir=Path(tmp) / "blobs")
        harness = Harness(env.client, settings)
        folder = HISTORIES / GENERATION
        folder.mkdir(parents=True, exist_ok=True)
        for name, history in (await play(harness)).items():
            path = folder / f"{name}.json"
            if path.exists():
                continue
            path.write_text(history.to_json())
            print(f"recorded {name}: {len(history.events)} events", file=sys.stderr)
        await harness.close()
    await env.shutdown()


if __name__ == "__main__":
    asyncio.run(record())
