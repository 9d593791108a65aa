"""One projection write: an event row plus the document row it leads to."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict

from pydantic import BaseModel, Field

from docstate.document import ContentRef, Status

# Versions are step * ATTEMPT_SLOTS + attempt: every step of a document's workflow gets a
# block of versions, each attempt of its activity one of them, so a late write from an
# earlier attempt or step can never overwrite a later one.
ATTEMPT_SLOTS = 1000


def version_of(step: int, attempt: int = 0) -> int:
    """The version (and event sequence number) of ``attempt`` within ``step``."""
    return step * ATTEMPT_SLOTS + min(attempt, ATTEMPT_SLOTS - 1)


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
    content: bytes | None = Field(default=None, exclude=True)
    """Filled only by ``Client.get(..., with_content=True)``: the projection never holds it."""


class EventRecord(BaseModel):
    """One row of a document's history in the projection."""

    document_id: str
    seq: int
    transition: str | None
    from_state: str | None
    to_state: str
    status: Status
    error: str | None
    attempt: int
    started_at: datetime | None
    finished_at: datetime
