"""What the projection holds: one event type, the write that carries it, the rows read back.

An :class:`EventRecord` is one status change or transition attempt: the workflow keeps
the recent ones (its ``snapshot`` query answers with them), the activities write them,
the projection stores them as ``document_events`` rows and reads them back. A
:class:`ProjectionWrite` is one event together with the document it leaves behind.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict

from pydantic import BaseModel, Field

from docstate.document import ContentRef, Document, Status

# Versions are step * ATTEMPT_SLOTS + attempt: every step of a document's workflow gets a
# block of versions, each attempt of its activity one of them, so a late write from an
# earlier attempt or step can never overwrite a later one.
ATTEMPT_SLOTS = 1000


def version_of(step: int, attempt: int = 0) -> int:
    """The version (and event sequence number) of ``attempt`` within ``step``."""
    return step * ATTEMPT_SLOTS + min(attempt, ATTEMPT_SLOTS - 1)


class EventRecord(BaseModel):
    """One status change or transition attempt of a document: a row of its history.

    ``seq`` is the document's version after this event (see :func:`version_of`).
    """

    document_id: str
    seq: int
    to_state: str
    status: Status
    transition: str | None = None
    from_state: str | None = None
    error: str | None = None
    attempt: int = 0
    started_at: datetime | None = None
    finished_at: datetime
    superseded: bool = False
    """A transition's success whose result Temporal discarded: not an outcome."""

    @property
    def succeeded(self) -> bool:
        """True for a transition attempt's success that stands (one per step at most)."""
        return (
            self.transition is not None
            and self.attempt > 0
            and self.error is None
            and not self.superseded
        )


class ProjectionWrite(BaseModel):
    """What one status change or transition attempt writes to the projection.

    ``version`` orders writes per document: the document row only moves to a higher
    version, and the event row (keyed by document id and version) is written once.
    """

    document_id: str
    type: str
    version: int = Field(ge=0)
    state: str
    status: Status
    transition: str | None = None
    from_state: str | None = None
    attempt: int = 0
    error: str | None = None
    parent_id: str | None = None
    root_id: str | None = None
    workflow_id: str | None = None
    run_id: str | None = None
    content_ref: ContentRef | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    started_at: datetime | None = None
    at: datetime
    confirmed: bool = False
    """Whether Temporal has already closed the workflow (true only for a closed status
    read from Temporal: a confirmation or a rebuild). A closed status written unconfirmed
    is provisional: the row keeps its status and holds the closed one in ``closing``."""

    @classmethod
    def of(
        cls,
        document: Document,
        event: EventRecord,
        *,
        workflow_id: str | None,
        run_id: str | None,
    ) -> ProjectionWrite:
        """The write of ``event``, leaving ``document`` as its row shows it."""
        return cls(
            document_id=document.id,
            type=document.type,
            version=event.seq,
            state=event.to_state,
            status=event.status,
            transition=event.transition,
            from_state=event.from_state,
            attempt=event.attempt,
            error=event.error,
            parent_id=document.parent_id,
            root_id=document.root_id,
            workflow_id=workflow_id,
            run_id=run_id,
            content_ref=document.content_ref,
            metadata=document.metadata,
            started_at=event.started_at,
            at=event.finished_at,
        )

    def event(self) -> EventRecord:
        """The event this write records (its ``document_events`` row)."""
        return EventRecord(
            document_id=self.document_id,
            seq=self.version,
            transition=self.transition,
            from_state=self.from_state,
            to_state=self.state,
            status=self.status,
            error=self.error,
            attempt=self.attempt,
            started_at=self.started_at,
            finished_at=self.at,
        )


class DocumentFilter(TypedDict, total=False):
    """Which documents a listing returns: every field given must match."""

    type: str
    state: str
    status: Status
    parent_id: str
    updated_after: datetime
    updated_before: datetime


class DocumentRecord(BaseModel):
    """A document's row in the projection (never its content)."""

    id: str
    type: str
    state: str
    status: Status
    parent_id: str | None
    root_id: str
    workflow_id: str | None
    run_id: str | None
    attempt: int
    error: str | None
    content_ref: ContentRef | None
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    version: int
    closing: Status | None = None
    """A closed status the workflow has written but Temporal has not yet recorded:
    ``status`` shows it once Temporal has (README: "What the projection promises")."""
    content: bytes | None = Field(default=None, exclude=True)
    """Filled only by ``Client.get(..., with_content=True)``: the projection never holds it."""


class DocumentPage(BaseModel):
    """A page of documents and the cursor of the next page (None after the last)."""

    records: list[DocumentRecord]
    next_cursor: str | None
