"""The ``job`` pipeline behind the HTTP API's ``POST /submit``.

A job is a root document without content; its one transition derives one document per
uploaded file (whose bytes are already in the blob store, named by reference in the
job's metadata). Each file then runs through its own pipeline as a child workflow, so
lineage is the same in Temporal (the web UI shows the files under the job) and in the
projection (``parent_id``/``root_id``), cancelling a job cancels its files, and a job
completes only when every file has ended.

Every worker runs it beside the pipelines its settings name (:func:`with_jobs`); it
imports nothing but the model, so a worker never loads the web stack.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from docstate.document import ContentRef, Document
from docstate.errors import PermanentError
from docstate.model import DocumentType, FanOut, State, Transition
from docstate.registry import Registry

JOB_TYPE = "job"


class JobFile(BaseModel):
    """One uploaded file of a job, as the job's metadata names it."""

    filename: str
    content_type: str | None = None
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)


class JobSpec(BaseModel):
    """What a job's metadata holds: its files, their type, and the caller's metadata."""

    files: list[JobFile] = Field(min_length=1)
    file_type: str
    file_metadata: dict[str, Any] = Field(default_factory=dict)


def job_metadata(spec: JobSpec) -> dict[str, Any]:
    """The metadata a job document is submitted with."""
    return {"job": spec.model_dump(mode="json")}


def split(doc: Document) -> list[Document]:
    """One derived document per file, in upload order (ids ``<job id>/<n>``)."""
    try:
        spec = JobSpec.model_validate(doc.metadata.get("job"))
    except ValueError as err:
        raise PermanentError(f"job {doc.id!r} has no valid file list: {err}") from err
    files = []
    for number, file in enumerate(spec.files, start=1):
        child = doc.derive(
            key=number,
            type=spec.file_type,
            **{**spec.file_metadata, "filename": file.filename, "content_type": file.content_type},
        )
        ref = ContentRef(sha256=file.sha256, size=file.size)
        files.append(child.model_copy(update={"content_ref": ref}))
    return files


JOB = DocumentType(
    name=JOB_TYPE,
    states=[State("submitted", initial=True), State("split", final=True)],
    transitions=[
        Transition(
            name="split",
            source="submitted",
            target="split",
            run=split,
            # Files that fail do not fail the job: the results list them beside the others.
            fan_out=FanOut(window=50, wait=True, on_child_failure="continue"),
        )
    ],
)


def with_jobs(registry: Registry) -> Registry:
    """``registry`` with the built-in ``job`` type (unless it declares its own)."""
    if JOB_TYPE in registry.names:
        return registry
    return Registry([*registry, JOB])
