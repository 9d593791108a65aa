"""The workflow's wire models read what older engines wrote (running documents)."""

from __future__ import annotations

from docstate import Status
from docstate.projection.records import EventRecord
from docstate.protocol import DocumentWorkflowInput

SPEC = {
    "name": "basic",
    "states": [{"name": "new", "initial": True}, {"name": "done", "final": True}],
    "transitions": [{"name": "finish", "source": "new", "target": "done"}],
}


def test_a_carry_written_before_history_entries_were_event_records_still_loads() -> None:
    # What a run that continued as new under the previous engine carried: its history
    # entries had version/state/at and no document id.
    legacy = {
        "document": {"id": "d1", "type": "basic", "state": "new"},
        "carry": {
            "spec": SPEC,
            "state": "new",
            "status": "running",
            "step": 2,
            "history": [
                {
                    "version": 1000,
                    "state": "new",
                    "status": "running",
                    "transition": None,
                    "from_state": None,
                    "attempt": 0,
                    "error": None,
                    "at": "2026-11-20T10:00:00Z",
                }
            ],
        },
    }
    loaded = DocumentWorkflowInput.model_validate(legacy)
    assert loaded.carry is not None
    (event,) = loaded.carry.history
    assert event == EventRecord(
        document_id="d1",
        seq=1000,
        to_state="new",
        status=Status.RUNNING,
        finished_at=event.finished_at,
    )
    assert event.finished_at.isoformat() == "2026-11-20T10:00:00+00:00"
    # and what this engine writes reads back unchanged
    assert DocumentWorkflowInput.model_validate_json(loaded.model_dump_json()) == loaded
