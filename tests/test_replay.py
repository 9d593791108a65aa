"""Determinism: workflow histories replay against the current workflow code."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from docstate.engine import DocumentWorkflow
from tests.conftest import Harness
from tests.scenarios import GENERATION, HISTORIES, SCENARIOS, play

RECORDED = sorted(HISTORIES.glob("*/*.json"))


def replayer() -> Replayer:
    return Replayer(workflows=[DocumentWorkflow], data_converter=pydantic_data_converter)


def test_every_scenario_has_a_recorded_history() -> None:
    newest = {p.stem.partition(".")[0] for p in RECORDED if p.parent.name == GENERATION}
    assert newest == set(SCENARIOS)
    assert {p.parent.name for p in RECORDED} >= {
        "1-queued-transitions",
        "2-local-transitions",
        "3-one-begin-activity",
        "5-lean-steps",
        "6-limits",
        "7-visibility-at-waits",
        GENERATION,
    }


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: f"{p.parent.name}/{p.stem}")
async def test_recorded_histories_replay(path) -> None:
    history = WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))
    await replayer().replay_workflow(history)


async def test_fresh_histories_replay(harness: Harness) -> None:
    histories = await play(harness)
    results = await replayer().replay_workflows(_aiter(histories.values()))
    assert results.replay_failures == {}


async def _aiter(items: Iterable[WorkflowHistory]) -> AsyncIterator[WorkflowHistory]:
    for item in items:
        yield item
