"""Request and response bodies: the OpenAPI schema is the API's contract."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from docstate.document import Status
from docstate.projection.records import DocumentRecord, EventRecord

JobStatus = Literal["pending", "processing", "completed", "failed"]


class ContentInfo(BaseModel):
    """Size and sha256 of a document's content, and where to download it."""

    size: int
    sha256: str
    url: str


class ObjectOut(BaseModel):
    """A document as the projection records it (never its content)."""

    id: str = Field(examples=["invoice-7f3a"])
    type: str = Field(examples=["object"])
    state: str = Field(examples=["enrich"])
    status: Status
    parent_id: str | None = None
    root_id: str
    attempt: int
    error: str | None = None
    metadata: dict[str, Any]
    content: ContentInfo | None = None
    created_at: datetime
    updated_at: datetime
    version: int

    @classmethod
    def of(cls, record: DocumentRecord, base_url: str) -> ObjectOut:
        ref = record.content_ref
        content = (
            ContentInfo(size=ref.size, sha256=ref.sha256, url=content_url(base_url, record.id))
            if ref is not None
            else None
        )
        data = record.model_dump(include=set(cls.model_fields) - {"content"})
        return cls(**data, content=content)


def content_url(base_url: str, document_id: str) -> str:
    return f"{base_url.rstrip('/')}/api/v1/documents/{document_id}/content"


class EventOut(BaseModel):
    """One recorded attempt or status change of a document."""

    model_config = ConfigDict(from_attributes=True)

    document_id: str
    seq: int
    transition: str | None = None
    from_state: str | None = None
    to_state: str
    status: Status
    error: str | None = None
    attempt: int
    started_at: datetime | None = None
    finished_at: datetime

    @classmethod
    def of(cls, event: EventRecord) -> EventOut:
        return cls.model_validate(event.model_dump())


class ObjectPage(BaseModel):
    """A page of documents; pass ``next_cursor`` back as ``cursor`` for the next."""

    items: list[ObjectOut]
    next_cursor: str | None = None


class JobAccepted(BaseModel):
    """A job was submitted."""

    job_id: str = Field(examples=["job-5c1e0d2b9a4f"])
    status: JobStatus = "pending"
    message: str = Field(examples=["2 files submitted"])


class JobState(BaseModel):
    """Where a job stands; ``counts`` are its files per status."""

    job_id: str
    status: JobStatus
    submitted_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    error: str | None = None
    total_files: int
    counts: dict[str, int] = Field(examples=[{"completed": 1, "running": 1}])


class FileResult(BaseModel):
    """One file of a job: its document, outcome, metadata and content link."""

    document_id: str
    filename: str | None = None
    state: str
    status: Status
    error: str | None = None
    metadata: dict[str, Any]
    content_url: str | None = None


class JobResults(BaseModel):
    """The outcome of every file of a settled job."""

    job_id: str
    status: JobStatus
    results: list[FileResult]
    total_files: int
    successful: int
    failed: int
    total_processing_time_ms: int


class ProcessRequest(BaseModel):
    """An object to process: the operations wanted (prerequisites are added) or the one
    to end with (``target``), and its content (JSON, text) or a URL to fetch it from."""

    model_config = ConfigDict(extra="forbid")

    identifier: str = Field(
        min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:@/+=-]+$", examples=["order-1"]
    )
    operations: list[str] | None = Field(default=None, examples=[["analyze"]])
    target: str | None = Field(default=None, examples=[None])
    type: str | None = Field(default=None, examples=["object"])
    metadata: dict[str, Any] = Field(default_factory=dict)
    content: dict[str, Any] | list[Any] | str | None = Field(
        default=None, examples=[{"id": 1, "unitPrice": 3}]
    )
    url: str | None = None
    callback_url: str | None = Field(default=None, description="POSTed when it ends")


class ProcessAccepted(BaseModel):
    """An object was submitted; ``operations`` are the ones requested."""

    id: str
    type: str
    status: Status = Status.PENDING
    operations: list[str]
    progress_url: str
    stream_url: str


class Progress(BaseModel):
    """How far an object is along its operations."""

    id: str
    state: str
    status: Status
    error: str | None = None
    planned_operations: list[str]
    completed_operations: list[str]
    percent: float = Field(ge=0, le=100)


class ActionResult(BaseModel):
    """An action was accepted; the document's status right after it."""

    id: str
    action: str
    status: Status
    state: str


class Deleted(BaseModel):
    """Documents deleted (the one asked for and everything derived from it)."""

    deleted: list[str]
    blobs_deleted: int


class TypeOut(BaseModel):
    """A document type a worker published: its spec (states, transitions) and version."""

    name: str
    version: str
    spec: dict[str, Any]
    published_at: datetime


class ServiceStatus(BaseModel):
    """Counts by type and status, and whether Temporal and the database answer."""

    version: str
    temporal: bool
    database: bool
    counts: dict[str, dict[str, int]]


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    temporal: bool | None = None
    database: bool | None = None
