"""Derived documents: child workflows in a sliding window, lineage in the projection."""

from __future__ import annotations

from temporalio.client import WorkflowExecutionStatus

from docstate import Status
from tests import pipelines as p
from tests.conftest import Harness
from tests.test_engine import _closed, new_id, wait_for


async def test_a_thousand_children_in_a_window_of_fifty(harness: Harness) -> None:
    root = new_id("root")
    p.max_running_leaves = 0
    async with harness.worker(*p.ALL):
        await harness.client.submit(b"x", type="fan", id=root, metadata={"children": 1000})
        record = await wait_for(lambda: _closed(harness, root), timeout=600)
    assert record.status is Status.COMPLETED
    assert record.metadata["derived"] == 1000
    tree = await harness.client.tree(root)
    assert len(tree) == 1001
    children = await harness.client.children(root)
    assert sorted(c.id for c in children) == sorted(f"{root}/{i}" for i in range(1000))
    assert {(c.parent_id, c.root_id, c.type, c.state, c.status) for c in children} == {
        (root, root, "leaf", "done", Status.COMPLETED)
    }
    assert 1 < p.max_running_leaves <= 50
    assert await harness.client.counts(root) == {
        ("split", Status.COMPLETED): 1,
        ("done", Status.COMPLETED): 1000,
    }
    # each child is a child workflow of its parent in Temporal too
    child = await harness.temporal.get_workflow_handle(f"doc:{root}/7").describe()
    assert child.parent_id == f"doc:{root}"
    # the test server suggests continue-as-new every 120 events: the parent went on in
    # new runs midway through its children, none lost, none started twice
    runs = [r async for r in harness.temporal.list_workflows(f'WorkflowId = "doc:{root}"')]
    assert len(runs) > 5


async def test_failed_children_are_recorded_and_the_parent_goes_on(harness: Harness) -> None:
    root = new_id("root")
    async with harness.worker(*p.ALL):
        await harness.client.submit(
            b"x", type="fan", id=root, metadata={"children": 6, "bad_children": [2, 4]}
        )
        record = await wait_for(lambda: _closed(harness, root), timeout=60)
    assert record.status is Status.COMPLETED
    assert record.metadata["derived_failed"] == 2
    assert record.error is not None and record.error.startswith("2 of 6 derived documents failed")
    statuses = {c.id: c.status for c in await harness.client.children(root)}
    assert statuses[f"{root}/2"] is Status.FAILED
    assert statuses[f"{root}/3"] is Status.COMPLETED


async def test_failed_children_fail_a_strict_parent(harness: Harness) -> None:
    root = new_id("root")
    async with harness.worker(*p.ALL):
        await harness.client.submit(
            b"x", type="fan_strict", id=root, metadata={"children": 4, "bad_children": [1]}
        )
        record = await wait_for(lambda: _closed(harness, root), timeout=60)
    assert record.status is Status.FAILED
    assert record.error == (
        f"1 of 4 derived documents failed, first: {root}/1: WaitingDeadlineExceeded: waited "
        f"0:00:00.500000 for retry, skip or cancel after: PermanentError: document {root}/1 "
        "is marked bad"
    )
    assert len(await harness.client.children(root)) == 4  # the others ran to the end


async def test_a_waiting_child_can_be_retried_on_its_own(harness: Harness) -> None:
    root = new_id("root")
    p.failures_left[f"{root}/1"] = 100
    async with harness.worker(*p.ALL):
        await harness.client.submit(
            b"x", type="fan", id=root, metadata={"children": 3, "child_type": "basic"}
        )
        waiting = await harness.client.wait(f"{root}/1", timeout=60)
        assert (waiting.status, waiting.state) == (Status.WAITING, "s1")
        assert (await harness.client.get(root)).status is Status.RUNNING  # it waits for it
        p.failures_left[f"{root}/1"] = 0
        await harness.client.retry(f"{root}/1")
        record = await wait_for(lambda: _closed(harness, root), timeout=60)
    assert record.status is Status.COMPLETED
    assert record.error is None and "derived_failed" not in record.metadata
    assert {c.status for c in await harness.client.children(root)} == {Status.COMPLETED}


async def test_cancelling_a_parent_cancels_its_running_children(harness: Harness) -> None:
    root = new_id("root")
    async with harness.worker(*p.ALL):
        await harness.client.submit(
            b"x",
            type="fan_narrow",
            id=root,
            metadata={"children": 20, "child_type": "sleeper", "sleep": 60},
        )
        await wait_for(lambda: len([k for k in p.calls if k.startswith(f"{root}/")]) == 5)
        await harness.client.cancel(root)
        record = await wait_for(lambda: _closed(harness, root), timeout=60)
        children = await harness.client.children(root)
        description = await harness.temporal.get_workflow_handle(f"doc:{root}").describe()
    assert record.status is Status.CANCELLED
    assert description.status == WorkflowExecutionStatus.CANCELED
    assert len(children) == 5  # the window: the other 15 never started
    assert {c.status for c in children} == {Status.CANCELLED}
    assert {f"{root}/{i}" for i in range(5)} <= p.cancelled  # each activity learned of it


async def test_lineage_queries_on_both_databases(any_harness: Harness) -> None:
    h = any_harness
    root = new_id("root")
    async with h.worker(*p.ALL):
        await h.client.submit(
            b"x",
            type="fan",
            id=root,
            metadata={"children": 3, "child_type": "fan_narrow", "grandchildren": 2},
        )
        record = await wait_for(lambda: _closed(h, root), timeout=60)
    assert record.status is Status.COMPLETED
    tree = [r.id for r in await h.client.tree(root)]
    level1 = {f"{root}/{i}" for i in range(3)}
    level2 = {f"{root}/{i}/{j}" for i in range(3) for j in range(2)}
    assert tree[0] == root and set(tree[1:4]) == level1 and set(tree[4:]) == level2
    assert [r.id for r in await h.client.path(f"{root}/2/1")] == [root, f"{root}/2", f"{root}/2/1"]
    assert {r.id for r in await h.client.tree(f"{root}/1")} == {
        f"{root}/1",
        f"{root}/1/0",
        f"{root}/1/1",
    }
    assert {r.root_id for r in await h.client.tree(root)} == {root}
    assert await h.queries.tree_counts(root) == {
        ("split", Status.COMPLETED): 4,
        ("done", Status.COMPLETED): 6,
    }
