"""The contract between clients, the document workflow and its activities.

Clients start and address workflows by these names and models alone, so an application
that embeds the client never imports worker code.
"""

from __future__ import annotations

import enum
from typing import Any

from pydantic import BaseModel, Field, model_validator
from temporalio.common import SearchAttributeKey

from docstate.document import ContentRef, Document, Status
from docstate.model import PipelineSpec
from docstate.projection.records import EventRecord, ProjectionWrite

WORKFLOW_NAME = "DocumentWorkflow"
START_ACTIVITY = "docstate.start"
BEGIN_ACTIVITY = "docstate.begin"
BEGIN_PATCH = "begin-in-one-local-activity"
"""Documents started before this patch fetched the shape and wrote the running row in
two local activities (``docstate.start``, then ``docstate.record``); since, in one."""
RECORD_ACTIVITY = "docstate.record"
DERIVED_ACTIVITY = "docstate.derived"
WEBHOOK_ACTIVITY = "docstate.webhook"
DERIVED_PAGE = 200
"""Derived documents the workflow reads from a manifest at a time."""

SNAPSHOT_QUERY = "snapshot"
CONTROL_UPDATE = "control"

DOC_TYPE = SearchAttributeKey.for_keyword("DocType")
DOC_STATE = SearchAttributeKey.for_keyword("DocState")
DOC_STATUS = SearchAttributeKey.for_keyword("DocStatus")
SEARCH_ATTRIBUTES = (DOC_TYPE, DOC_STATE, DOC_STATUS)

HISTORY_KEPT = 200
"""History entries a workflow keeps in memory (and carries across continue-as-new)."""

LOCAL_STEPS_PER_RUN = 100
"""Local transitions one workflow run takes before it continues as new.

Temporal suggests continuing as new when a workflow task starts, but back-to-back local
activities can all run inside one workflow task, so the suggestion would come too late:
this bounds what one task (and one run) records."""


def workflow_id(document_id: str) -> str:
    """The workflow id of a document: reading it in the web UI names the document."""
    return f"doc:{document_id}"


class Action(enum.StrEnum):
    """What a person or application can ask of a running document."""

    CANCEL = "cancel"
    RETRY = "retry"
    SKIP = "skip"
    PAUSE = "pause"
    RESUME = "resume"
    STEP = "step"
    """Run the next transition, then hold again (step mode)."""


class FanOutCursor(BaseModel):
    """How far a fan-out has got: what a parent carries when it continues-as-new midway."""

    transition: str
    manifest: ContentRef
    count: int
    offset: int = 0
    failed: int = 0
    first_failure: str | None = None


class Carry(BaseModel):
    """What a document's workflow carries across continue-as-new."""

    spec: PipelineSpec
    state: str
    status: Status
    step: int
    history: list[EventRecord] = Field(default_factory=list)
    fan_out: FanOutCursor | None = None


class DocumentWorkflowInput(BaseModel):
    """Input of the document workflow.

    ``hold``: start paused, before the first transition (step mode: ``step`` runs one).
    """

    document: Document
    carry: Carry | None = None
    hold: bool = False

    @model_validator(mode="before")
    @classmethod
    def _legacy_history(cls, data: Any) -> Any:
        """Accept a carry written before history entries were ``EventRecord``s (they
        had ``version``/``state``/``at`` and no document id), so runs that continued as
        new under the older engine still start and replay."""
        carry = data.get("carry") if isinstance(data, dict) else None
        if not isinstance(carry, dict) or not isinstance(data.get("document"), dict):
            return data
        history = [
            {
                "document_id": data["document"].get("id", ""),
                "seq": entry.pop("version"),
                "to_state": entry.pop("state"),
                "finished_at": entry.pop("at"),
                **entry,
            }
            if isinstance(entry, dict) and "version" in entry
            else entry
            for entry in (dict(e) if isinstance(e, dict) else e for e in carry.get("history", []))
        ]
        return {**data, "carry": {**carry, "history": history}}


class Snapshot(BaseModel):
    """A document's live state, as the ``snapshot`` query and the workflow result give it."""

    id: str
    type: str
    state: str
    status: Status
    version: int
    error: str | None = None
    transition: str | None = None
    history: list[EventRecord] = Field(default_factory=list)
    document: Document | None = None
    """The document itself, without inline content (the query only; not in the result)."""


class ControlRequest(BaseModel):
    """Input of the ``control`` update."""

    action: Action


class TransitionInput(BaseModel):
    """Input of a transition activity."""

    document: Document
    spec_name: str
    transition: str
    target: str
    target_is_final: bool
    step: int
    workflow_id: str
    run_id: str
    lean: bool = False
    """Answer with only what changed (``StepOutput``): set by workflows under the
    ``lean-steps`` patch, so documents started before it get the result they expect."""
    attempts_before: int = 0
    """Attempts of this step already made elsewhere (the first, in a local run): the
    attempt numbers recorded go on from there."""


class TransitionOutput(BaseModel):
    """Result of a transition activity.

    ``write`` is what the activity wrote to the projection; when ``projected`` is false
    the database was unreachable and the workflow must write it (it retries until it can).
    Derived documents travel as a manifest in the blob store (``derived``): however many
    there are, the payload stays small.
    """

    document: Document
    write: ProjectionWrite
    projected: bool
    derived: ContentRef | None = None
    derived_count: int = 0


class DerivedPage(BaseModel):
    """Input of the activity that reads derived documents from a manifest."""

    manifest: ContentRef
    offset: int
    limit: int
