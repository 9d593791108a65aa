"""Operations with prerequisites: planning, definition errors, end to end."""

from __future__ import annotations

import json

import pytest

from docstate import (
    Document,
    Operation,
    OperationsPipeline,
    PipelineDefinitionError,
    Status,
    UnknownOperation,
)
from tests.conftest import Harness
from tests.test_engine import new_id
from workflows.objects import OBJECT


def noop(doc: Document) -> None:
    return None


def test_prerequisites_are_added_and_ordered() -> None:
    assert OBJECT.plan(["analyze"]) == ["validate", "transform", "enrich", "analyze"]
    assert OBJECT.plan(["export"]) == ["validate", "transform", "export"]
    assert OBJECT.plan(["export", "validate", "enrich"]) == [
        "validate",
        "transform",
        "enrich",
        "export",
    ]
    assert OBJECT.request("export") == {"operations": ["export"]}


def test_unknown_operations_are_refused_at_request_time() -> None:
    with pytest.raises(
        UnknownOperation,
        match="unknown operation\\(s\\) 'publish'; known: "
        "validate, transform, enrich, analyze, export",
    ):
        OBJECT.request("publish")
    with pytest.raises(UnknownOperation, match="no operation requested"):
        OBJECT.plan([])


def test_cycles_and_unknown_prerequisites_are_refused_at_definition_time() -> None:
    with pytest.raises(PipelineDefinitionError, match="in a cycle: a -> c -> b -> a"):
        OperationsPipeline.build(
            "loop",
            [
                Operation(name="a", run=noop, requires=("c",)),
                Operation(name="b", run=noop, requires=("a",)),
                Operation(name="c", run=noop, requires=("b",)),
            ],
        )
    with pytest.raises(PipelineDefinitionError) as info:
        OperationsPipeline.build(
            "bad",
            [
                Operation(name="a", run=noop, requires=("ghost",)),
                Operation(name="a", run=noop),
            ],
        )
    assert info.value.problems == [
        "operation 'a' is declared 2 times",
        "operation 'a' requires unknown operation 'ghost'",
    ]


async def test_a_request_runs_its_operations_and_their_prerequisites(harness: Harness) -> None:
    export_id, analyze_id, bad_id = new_id("obj"), new_id("obj"), new_id("obj")
    data = json.dumps({"id": 7, "unitPrice": 2.5, "itemCount": 4, "name": "bolt"})
    async with harness.worker(OBJECT):
        await harness.client.submit(
            data, type="object", id=export_id, metadata=OBJECT.request("export")
        )
        await harness.client.submit(
            data, type="object", id=analyze_id, metadata={"target": "analyze"}
        )
        await harness.client.submit(
            data, type="object", id=bad_id, metadata={"operations": ["publish"]}
        )
        exported = await harness.client.wait(export_id, timeout=60)
        analyzed = await harness.client.wait(analyze_id, timeout=60)
        refused = await harness.client.wait(bad_id, timeout=60)
    assert exported.status is Status.COMPLETED and exported.state == "export"
    ran = [e.transition for e in await harness.client.history(export_id) if e.transition]
    assert ran == ["plan", "validate", "transform", "skip_enrich", "skip_analyze", "export"]
    text = (await harness.client.get(export_id, with_content=True)).content
    assert text == b'id=7\nitem_count=4\nname="bolt"\nunit_price=2.5\n'
    assert analyzed.metadata["plan"] == ["validate", "transform", "enrich", "analyze"]
    assert (analyzed.metadata["total"], analyzed.metadata["mean"]) == (13.5, 4.5)
    assert refused.status is Status.WAITING and refused.state == "requested"
    assert "unknown operation(s) 'publish'" in (refused.error or "")
