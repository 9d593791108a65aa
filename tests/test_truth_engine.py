"""What the document row and history show after failed attempts: the attempt count, and
timestamps in the order of events (local and task-queue transitions)."""

from __future__ import annotations

import pytest

from docstate import Status
from tests import pipelines as p
from tests.conftest import Harness
from tests.test_engine import new_id


@pytest.mark.parametrize("type_name", ["basic", "local"])
async def test_waiting_shows_the_attempts_and_follows_them_in_time(
    harness: Harness, type_name: str
) -> None:
    doc_id = new_id()
    p.failures_left[doc_id] = 100
    async with harness.worker(*p.ALL):
        await harness.client.submit(b"x", type=type_name, id=doc_id)
        record = await harness.client.wait(doc_id, timeout=60)
        assert record.status is Status.WAITING
        assert record.attempt == 3  # QUICK: three attempts
        history = await harness.client.history(doc_id)
        failed = [e for e in history if e.transition == "enrich" and e.attempt]
        assert [e.attempt for e in failed] == [1, 2, 3]
        waiting = history[-1]
        assert waiting.status is Status.WAITING
        assert all(waiting.finished_at >= e.finished_at for e in failed)
        times = [e.finished_at for e in history]
        assert times == sorted(times)  # history in seq order is in time order too
        p.failures_left[doc_id] = 0
        await harness.client.retry(doc_id)
        record = await harness.client.wait(doc_id, timeout=60)
    assert (record.status, record.closing) == (Status.COMPLETED, None)
    history = await harness.client.history(doc_id)
    steps = [e.seq // 1000 for e in history if e.succeeded]
    assert len(steps) == len(set(steps)) == 3  # parse, enrich, check: one success each
    times = [e.finished_at for e in history]
    assert times == sorted(times)
