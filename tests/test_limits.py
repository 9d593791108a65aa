"""Limits (issue 15 item 5): transitions of one fairness key at once, and per second.

Two workers on one task queue in every test: the limits must hold across workers, so
neither may count in its own process.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata as Metadata
from temporalio.client import Client as TemporalClient
from temporalio.client import WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter

from docstate import Document, DocumentType, State, Status, Transition
from docstate.config import load_settings
from docstate.engine import limits
from docstate.errors import ConfigurationError, PipelineDefinitionError
from docstate.model import KeyLimits
from docstate.projection import create_engine
from docstate.projection.leases import KeyLeases
from docstate.protocol import workflow_id
from tests.conftest import Harness

runs: dict[str, list[tuple[float, float]]] = defaultdict(list)
"""Each key's transition runs: (start, end), monotonic seconds."""
starts: list[float] = []
"""Start times of the rate-limited transition, wall-clock seconds."""


async def work(doc: Document) -> Document:
    started = time.monotonic()
    await asyncio.sleep(float(doc.metadata.get("sleep", 0.3)))
    runs[doc.metadata["fairness_key"]].append((started, time.monotonic()))
    return doc


async def counted(doc: Document) -> Document:
    starts.append(time.time())
    return doc


def _one_step(name: str, run: object, **options: object) -> DocumentType:
    return DocumentType(
        name=name,
        states=[State("new", initial=True), State("done", final=True)],
        transitions=[Transition(name="work", source="new", target="done", run=run, **options)],
    )


KEYED = _one_step("keyed", work)
KEYED_QUEUED = _one_step("keyed_queued", work, local=False)
RATED = _one_step("rated", counted, rate_limit=5)


@asynccontextmanager
async def two_workers(
    h: Harness, *types: DocumentType, key_limits: KeyLimits | None = None
) -> AsyncIterator[None]:
    """Two workers, each with a Temporal connection of its own (as two processes have;
    the SDK allows one worker per queue and connection)."""
    other = Harness(
        await TemporalClient.connect(
            h.temporal.service_client.config.target_host,
            namespace=h.temporal.namespace,
            data_converter=pydantic_data_converter,
        ),
        h.settings,
    )
    try:
        async with AsyncExitStack() as stack:
            for each in (h, other):
                await stack.enter_async_context(each.worker(*types, key_limits=key_limits))
            yield
    finally:
        await other.close()


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    for _ in range(300):
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"never happened: {what}")


async def holds(leases: KeyLeases, key: str, doc_id: str) -> bool:
    return await leases.holders(key) == [workflow_id(doc_id)]


async def holder_then_waiter(
    harness: Harness, doctype: DocumentType, key: str, *, sleep: float
) -> WorkflowHandle[Any, Any]:
    """Submit ``<key>-holder`` (its transition sleeps ``sleep`` s) and, once it holds the
    key's one slot, ``<key>-waiter``; the waiter's workflow handle."""
    holder, waiter = f"{key}-holder", f"{key}-waiter"
    await harness.client.submit(
        b"x", type=doctype.name, id=holder, fairness_key=key, metadata={"sleep": sleep}
    )
    leases = KeyLeases(harness.engine)
    await eventually(lambda: holds(leases, key, holder), f"{holder} holds the slot")
    await harness.client.submit(b"x", type=doctype.name, id=waiter, fairness_key=key)
    return harness.temporal.get_workflow_handle(workflow_id(waiter))


def most_at_once(intervals: list[tuple[float, float]]) -> int:
    """The most intervals that overlap at any moment."""
    edges = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    running = peak = 0
    for _, step in edges:  # an end sorts before a start at the same instant
        running += step
        peak = max(peak, running)
    return peak


def most_in_a_second(times: list[float]) -> int:
    """The most of ``times`` in any window of one second."""
    ordered = sorted(times)
    return max(sum(1 for u in ordered if t <= u < t + 1) for t in ordered)


@pytest.mark.parametrize("doctype", [KEYED, KEYED_QUEUED], ids=["local", "queued"])
async def test_a_limited_key_runs_at_most_n_transitions_at_once(
    harness: Harness, doctype: DocumentType
) -> None:
    run = uuid.uuid4().hex[:8]
    limited, free = f"limited-{run}", f"free-{run}"
    ids = [f"{limited}-{i}" for i in range(10)] + [f"{free}-{i}" for i in range(4)]
    async with two_workers(harness, doctype, key_limits=KeyLimits(per_key={limited: 2})):
        for doc_id in ids:
            key = doc_id.rpartition("-")[0]
            await harness.client.submit(b"x", type=doctype.name, id=doc_id, fairness_key=key)
        for doc_id in ids:
            assert (await harness.client.wait(doc_id, timeout=120)).status is Status.COMPLETED
    assert len(runs[limited]) == 10
    assert most_at_once(runs[limited]) == 2, runs[limited]
    # Another key is not held to it: its four documents ran side by side.
    assert most_at_once(runs[free]) > 2, runs[free]
    # Every slot was given back.
    assert await KeyLeases(harness.engine).holders(limited) == []


async def test_a_document_waiting_for_its_key_can_be_cancelled(harness: Harness) -> None:
    key = f"one-{uuid.uuid4().hex[:8]}"
    holder, waiter = f"{key}-holder", f"{key}-waiter"
    async with harness.worker(KEYED, key_limits=KeyLimits(per_key={key: 1})):
        waiting = await holder_then_waiter(harness, KEYED, key, sleep=3)

        async def shows_it_waits() -> bool:  # in the web UI's "current details"
            meta = await waiting.query("__temporal_workflow_metadata", result_type=Metadata)
            return "waits for a slot" in meta.current_details

        await eventually(shows_it_waits, f"{waiter} shows it waits")
        await harness.client.cancel(waiter)
        assert (await harness.client.wait(waiter, timeout=30)).status is Status.CANCELLED
        assert (await harness.client.wait(holder, timeout=30)).status is Status.COMPLETED
    assert len(runs[key]) == 1, "the cancelled document ran"


async def test_a_long_wait_continues_as_new_and_cancel_gives_the_slot_back(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Waits of 50 ms and renewals every 200 ms: the waiting document's history grows
    past what the tests' server suggests continuing as new at (120 events)."""
    monkeypatch.setattr(limits, "LONGEST_WAIT", timedelta(milliseconds=50))
    monkeypatch.setattr(limits, "RENEW_EVERY", timedelta(milliseconds=200))
    key = f"one-{uuid.uuid4().hex[:8]}"
    holder, waiter = f"{key}-holder", f"{key}-waiter"
    leases = KeyLeases(harness.engine)
    async with harness.worker(KEYED_QUEUED, key_limits=KeyLimits(per_key={key: 1})):
        waiting = await holder_then_waiter(harness, KEYED_QUEUED, key, sleep=60)
        first_run = (await waiting.describe()).run_id

        async def continued() -> bool:
            return (await waiting.describe()).run_id != first_run

        await eventually(continued, f"{waiter} continues as new while it waits")
        first = await leases.expiry(key)
        assert first is not None
        await asyncio.sleep(1.5)  # the server fires timers about a second apart at best
        assert (await leases.expiry(key) or first) > first, "the holder's lease was not renewed"
        # Cancelled from Temporal mid-transition: the slot is given back, the waiter runs.
        await harness.temporal.get_workflow_handle(workflow_id(holder)).cancel()
        assert (await harness.client.wait(holder, timeout=30)).status is Status.CANCELLED
        assert (await harness.client.wait(waiter, timeout=30)).status is Status.COMPLETED
    assert await leases.holders(key) == []


async def test_a_rate_limited_transition_starts_at_most_its_rate_across_workers(
    harness: Harness,
) -> None:
    starts.clear()
    run = uuid.uuid4().hex[:8]
    async with two_workers(harness, RATED):
        ids = [f"rated-{run}-{i}" for i in range(20)]
        for doc_id in ids:
            await harness.client.submit(b"x", type="rated", id=doc_id)
        for doc_id in ids:
            assert (await harness.client.wait(doc_id, timeout=120)).status is Status.COMPLETED
    assert len(starts) == 20
    # The server's token bucket starts full (measured: 6 starts at once) and refills 5 a
    # second: then one start every 0.2 s, the last at 2.8 s, 11 in the first second.
    # Unlimited, all 20 start within a tenth of a second. The bounds leave room for a
    # bigger first burst and for when the workers happen to start each function.
    offsets = sorted(t - min(starts) for t in starts)
    assert offsets[-1] >= 2.0, offsets
    assert most_in_a_second(starts) <= 12, offsets


async def test_a_lapsed_lease_is_taken_over(database_url: str) -> None:
    engine = create_engine(database_url)
    leases = KeyLeases(engine)
    now = datetime.now(UTC)
    ttl = timedelta(minutes=2)
    try:
        assert await leases.acquire("k", "a", 1, ttl, now) == 0
        assert await leases.acquire("k", "a", 1, ttl, now) == 0  # retried: the same slot
        assert await leases.acquire("k", "b", 1, ttl, now) is None  # full
        assert await leases.acquire("k", "b", 2, 5 * ttl, now) == 1  # a second slot
        assert await leases.acquire("other", "c", 1, ttl, now) == 0  # keys apart
        # a's holder was killed and never renewed: after the ttl its slot is free
        later = now + ttl + timedelta(seconds=1)
        assert await leases.acquire("k", "c", 2, ttl, later) == 0
        assert await leases.holders("k", later) == ["c", "b"]
        await leases.release("k", "c")
        assert await leases.holders("k", later) == ["b"]
        assert not await leases.renew("k", "a", ttl)  # a lost it
        assert await leases.renew("k", "b", ttl)
    finally:
        await engine.dispose()


async def test_concurrent_takers_never_share_a_slot(database_url: str) -> None:
    engine = create_engine(database_url)
    leases = KeyLeases(engine)
    ttl = timedelta(minutes=1)
    try:
        got = await asyncio.gather(*(leases.acquire("k", f"h{i}", 3, ttl) for i in range(12)))
        assert sorted(s for s in got if s is not None) == [0, 1, 2]
    finally:
        await engine.dispose()


def test_bad_limits_are_refused_in_one_line() -> None:
    with pytest.raises(PipelineDefinitionError, match="rate_limit: Input should be greater"):
        _one_step("bad", counted, rate_limit=0)
    with pytest.raises(PipelineDefinitionError, match="has a rate_limit and cannot be local"):
        _one_step("bad", counted, rate_limit=2, local=True)
    assert not RATED.transitions[0].runs_locally
    with pytest.raises(ConfigurationError, match="--key-concurrency=0 is invalid"):
        load_settings(key_concurrency=0)
    with pytest.raises(ConfigurationError, match="is not key=N"):
        load_settings(key_concurrency_per_key="tenant-a")
    with pytest.raises(ConfigurationError, match="=acme=0 is invalid: 'acme=0': a key's limit"):
        load_settings(key_concurrency_per_key="acme=0")
    with pytest.raises(ConfigurationError, match="key 'acme' is given twice"):
        load_settings(key_concurrency_per_key="acme=2,acme=3")
    settings = load_settings(key_concurrency=3, key_concurrency_per_key="a=1, b=5")
    assert settings.key_limits.of("a") == 1
    assert settings.key_limits.of("z") == 3
