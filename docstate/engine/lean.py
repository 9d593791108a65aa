"""Lean steps: a transition's result records only what changed.

Before this, each transition's result returned the whole document (content inline when
small) and a projection write with all its metadata, so every step's history event
repeated the document. Since the ``lean-steps`` patch the workflow keeps the document
without its content (its reference is enough: activities load content from the blob
store), and a transition returns a :class:`StepOutput`: its event, the metadata keys it
set or removed and the new content reference when the content changed. The workflow
applies that to its copy, which is all its ``when`` rules read.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from docstate.document import ContentRef, Document
from docstate.projection.records import EventRecord, ProjectionWrite
from docstate.protocol import TransitionOutput

LEAN_PATCH = "lean-steps"
"""Documents started before this patch got the whole document back from each transition."""


class StepChanges(BaseModel):
    """What a transition changed in a document: only that travels back to the workflow."""

    metadata_set: dict[str, Any] = Field(default_factory=dict)
    metadata_removed: list[str] = Field(default_factory=list)
    content_ref: ContentRef | None = None
    """The new content's reference, only when the content changed."""

    @classmethod
    def between(cls, before: Document, after: Document) -> StepChanges:
        """The changes that turn ``before`` into ``after`` (state aside)."""
        old, new = before.metadata, after.metadata
        return cls(
            metadata_set={k: v for k, v in new.items() if k not in old or old[k] != v},
            metadata_removed=[k for k in old if k not in new],
            content_ref=after.content_ref if after.content_ref != before.content_ref else None,
        )

    def applied_to(self, document: Document) -> Document:
        """``document`` with these changes; new content is left in the blob store."""
        metadata = {k: v for k, v in document.metadata.items() if k not in self.metadata_removed}
        update: dict[str, Any] = {"metadata": {**metadata, **self.metadata_set}}
        if self.content_ref is not None:
            update |= {"content": None, "content_ref": self.content_ref}
        return document.model_copy(update=update)


class StepOutput(BaseModel):
    """Result of a transition activity run for a lean step (see the module docstring).

    ``projected`` false: the database was unreachable and the workflow must write the
    step's projection write itself, which it rebuilds from its document and ``event``.
    """

    event: EventRecord
    changes: StepChanges
    projected: bool
    derived: ContentRef | None = None
    derived_count: int = 0


def without_content(document: Document) -> Document:
    """``document`` without inline content when the blob store holds it (it then travels
    by reference only); content that exists nowhere else stays."""
    if document.content is None or document.content_ref is None:
        return document
    return document.model_copy(update={"content": None})


def outcome(
    document: Document, output: TransitionOutput | StepOutput, *, workflow_id: str, run_id: str
) -> tuple[Document, ProjectionWrite]:
    """The workflow's document after a transition, and the step's projection write.

    An older result carries both; a lean one only the changes, applied here to the
    document the workflow holds (which from then on holds no content inline).
    """
    if isinstance(output, TransitionOutput):
        return output.document, output.write
    changed = output.changes.applied_to(without_content(document))
    changed = changed.model_copy(update={"state": output.event.to_state})
    write = ProjectionWrite.of(changed, output.event, workflow_id=workflow_id, run_id=run_id)
    return changed, write
