"""Lean histories (issue 14 part 1): a document's history stays near what it learned.

Sizes are asserted in bytes, as Temporal stores them (the serialized history), on the
real dev server; timings live in the benchmark.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from temporalio import workflow
from temporalio.api.history.v1 import History
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from bench.history_arm import BY_REFERENCE_BYTES, TEXT_BYTES, history_bytes, text_of
from docstate import ContentRef, Document, Settings, Status
from docstate.engine import DocumentWorkflow
from docstate.engine.calls import STEP_RESULT
from docstate.engine.lean import LEAN_PATCH, StepChanges, StepOutput, outcome
from docstate.engine.recording import VISIBILITY_PATCH
from docstate.engine.runs import RUNS_PATCH
from docstate.projection import ProjectionWrite
from docstate.projection.records import EventRecord
from docstate.protocol import TransitionOutput, workflow_id
from tests import pipelines as p
from tests.conftest import Harness
from tests.scenarios import _settled
from workflows.files import FILE

HISTORY_TARGET = int(1.3 * TEXT_BYTES + 8 * 1024)
"""The issue's bound for the 35 KB text: 1.3x its size + 8 KB (it was 5.6x)."""
BY_REFERENCE_TARGET = 10 * 1024


async def _history(h: Harness, doc_id: str) -> WorkflowHistory:
    return await h.temporal.get_workflow_handle(workflow_id(doc_id)).fetch_history()


async def _serialized(h: Harness, doc_id: str) -> bytes:
    return History(events=(await _history(h, doc_id)).events).SerializeToString()


def _patches(history: WorkflowHistory) -> set[str]:
    """The patches a history's workflow took (its ``core_patch`` markers)."""
    ids = set()
    for event in history.events:
        marker = event.marker_recorded_event_attributes
        if (
            event.HasField("marker_recorded_event_attributes")
            and marker.marker_name == "core_patch"
        ):
            ids |= {json.loads(p.data)["id"] for p in marker.details["patch-data"].payloads}
    return ids


async def _through_file_pipeline(h: Harness, doc_id: str, content: bytes) -> None:
    await h.client.submit(content, type=FILE.name, id=doc_id)
    await h.temporal.get_workflow_handle(workflow_id(doc_id)).result()
    await _settled(h, doc_id, Status.COMPLETED)  # the projection confirms the close
    record = await h.client.get(doc_id, with_content=True)
    assert record.state == "normalized"
    assert record.metadata["format"] == "text"
    # The activities read the content by reference and stored what they made of it.
    assert record.content is not None and record.content.startswith(b"licence grant")


async def test_the_35kb_text_and_a_large_one_leave_small_histories(harness: Harness) -> None:
    harness.settings.inline_threshold = Settings.model_fields["inline_threshold"].default
    async with harness.worker(FILE):
        await _through_file_pipeline(harness, "lean-35k", text_of(TEXT_BYTES))
        await _through_file_pipeline(harness, "lean-big", text_of(BY_REFERENCE_BYTES))
    size, events = await history_bytes(harness.temporal, "lean-35k")
    assert size <= HISTORY_TARGET, (size, events)
    # Over the default inline threshold (1 KiB), it travels by reference.
    assert size <= BY_REFERENCE_TARGET, (size, events)
    big, _ = await history_bytes(harness.temporal, "lean-big")
    assert big <= BY_REFERENCE_TARGET


async def test_inline_content_travels_once(harness: Harness) -> None:
    """With the threshold raised over the text's size, the text is inline in the
    workflow's input and nowhere else: steps return only what changed."""
    harness.settings.inline_threshold = 64 * 1024
    content = text_of(TEXT_BYTES)
    async with harness.worker(FILE):
        await _through_file_pipeline(harness, "lean-inline", content)
    # the patch that took the lean path (documents since local-runs take it without
    # asking for lean-steps or visibility-at-waits)
    assert RUNS_PATCH in _patches(await _history(harness, "lean-inline"))
    history = await _serialized(harness, "lean-inline")
    inline = base64.b64encode(content)
    assert history.count(inline) == 1
    # One copy (base64: 4/3 of the text, so over the 1.3x target; hence the 1 KiB
    # default) and the same 8 KB a document by reference holds.
    assert len(history) <= len(inline) + 8 * 1024


@pytest.fixture
def engine_before_lean_steps(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Workflow code as it was before the patch: it never asked for ``lean-steps`` (nor
    for the later patches that imply it)."""
    patched = workflow.patched
    monkeypatch.setattr(
        workflow,
        "patched",
        lambda id: id not in (LEAN_PATCH, VISIBILITY_PATCH, RUNS_PATCH) and patched(id),
    )
    yield


async def test_a_document_started_before_lean_steps_finishes_after(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, engine_before_lean_steps: None
) -> None:
    doc_id = "lean-upgrade"
    p.failures_left[doc_id] = 100
    async with harness.worker(*p.ALL):  # the old engine: parse runs, enrich fails
        await harness.client.submit(b"hello", type="basic", id=doc_id)
        await _settled(harness, doc_id, Status.WAITING)
    monkeypatch.undo()  # the new engine takes over
    p.failures_left[doc_id] = 0
    async with harness.worker(*p.ALL):
        await harness.client.retry(doc_id)
        await _settled(harness, doc_id, Status.COMPLETED)
    record = await harness.client.get(doc_id, with_content=True)
    assert record.metadata == {"parsed": True, "enriched": True}
    assert record.content == b"HELLO"
    history = await harness.temporal.get_workflow_handle(workflow_id(doc_id)).fetch_history()
    # Its first steps ran old-style, so it stays so (patched answers once per run) ...
    assert LEAN_PATCH not in _patches(history)
    # ... and its whole history replays exactly against the new code.
    replayer = Replayer(workflows=[DocumentWorkflow], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)


def test_step_changes_carry_only_what_changed() -> None:
    before = Document(id="d", type="t", metadata={"a": 1, "b": 2, "c": 3})
    after = before.model_copy(update={"metadata": {"a": 1, "b": 20, "d": 4}})
    changes = StepChanges.between(before, after)
    assert changes.metadata_set == {"b": 20, "d": 4}
    assert changes.metadata_removed == ["c"]
    assert changes.content_ref is None
    assert changes.applied_to(before).metadata == after.metadata
    old, new = ContentRef(sha256="a" * 64, size=3), ContentRef(sha256="b" * 64, size=5)
    stored = before.model_copy(update={"content": b"abc", "content_ref": old})
    rewritten = stored.model_copy(update={"content": b"ABCDE", "content_ref": new})
    changes = StepChanges.between(stored, rewritten)
    assert changes.content_ref == new
    # The workflow's copy keeps the reference, never the new content.
    assert changes.applied_to(stored).content_ref == new
    assert changes.applied_to(stored).content is None
    assert StepChanges.between(stored, stored) == StepChanges()


def test_a_step_result_decodes_whichever_shape_a_worker_sent() -> None:
    """A lean workflow takes a full result too: an older worker, mid-upgrade, sends one."""
    event = EventRecord(
        document_id="d",
        seq=1000,
        to_state="s1",
        status=Status.RUNNING,
        finished_at=datetime.now(UTC),
    )
    doc = Document(id="d", type="t", state="s1", metadata={"a": 1})
    full = TransitionOutput(
        document=doc,
        write=ProjectionWrite.of(doc, event, workflow_id="w", run_id="r"),
        projected=True,
    )
    lean = StepOutput(event=event, changes=StepChanges(metadata_set={"a": 1}), projected=True)
    converter = pydantic_data_converter.payload_converter
    for sent in (full, lean):
        typed = converter.from_payloads(converter.to_payloads([sent]), [STEP_RESULT])
        assert typed == [sent]
        held = Document(id="d", type="t", state="s0")
        after, write = outcome(held, typed[0], workflow_id="w", run_id="r")
        assert (after.state, after.metadata, write.version) == ("s1", {"a": 1}, 1000)
