"""Transition activities: run a pipeline's functions and write their outcome.

Each transition becomes one activity named ``<type>.<transition>``. The activity loads
the document's content, runs the function (heartbeating, so a cancel reaches it), stores
new content in the blob store, and writes the projection itself, so recording a step
costs no extra round trip through Temporal.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from docstate.blobstore import BlobStore
from docstate.document import ContentRef, Document, Status, TransitionResult
from docstate.errors import PermanentError, UnknownDocumentType
from docstate.model import DocumentType, Transition
from docstate.projection.records import ProjectionWrite, version_of
from docstate.projection.writer import ProjectionWriter
from docstate.protocol import TransitionInput, TransitionOutput
from docstate.registry import Registry

log = logging.getLogger(__name__)


class TransitionActivities:
    """The transition activities of every pipeline in a registry."""

    def __init__(
        self,
        registry: Registry,
        writer: ProjectionWriter,
        blobs: BlobStore,
        inline_threshold: int,
    ) -> None:
        self.registry = registry
        self.writer = writer
        self.blobs = blobs
        self.inline_threshold = inline_threshold

    def definitions(self) -> list[Callable[..., Any]]:
        """One activity per transition, ready for a worker's ``activities=``."""
        return [self._define(dt, t) for dt in self.registry for t in dt.transitions]

    def _define(
        self, doctype: DocumentType, transition: Transition
    ) -> Callable[[TransitionInput], Awaitable[TransitionOutput]]:
        async def run_transition(input: TransitionInput) -> TransitionOutput:
            return await self.run(transition, input)

        return activity.defn(name=doctype.activity_name(transition))(run_transition)

    async def run(self, transition: Transition, input: TransitionInput) -> TransitionOutput:
        """Run one attempt of ``transition`` on ``input.document``."""
        attempt = activity.info().attempt
        started = datetime.now(UTC)
        document = await self._with_content(input.document)
        try:
            result = await self._call(transition, document)
            updated, derived = _checked(result, document, transition.name)
            self._check_types(derived, transition.name)
        except PermanentError as err:
            await self._record_failure(input, attempt, started, f"PermanentError: {err}")
            raise ApplicationError(str(err), type="PermanentError", non_retryable=True) from err
        except Exception as err:
            await self._record_failure(input, attempt, started, f"{type(err).__name__}: {err}")
            raise
        updated = await self._store_content(updated, document)
        manifest = await self._store_derived(derived) if derived else None
        if derived:
            updated = updated.model_copy(
                update={"metadata": {**updated.metadata, "derived": len(derived)}}
            )
        # A parent that waits for its children completes only when they have run.
        done = input.target_is_final and not (derived and transition.fan_out.wait)
        write = _write(
            input,
            updated,
            attempt=attempt,
            started=started,
            status=Status.COMPLETED if done else Status.RUNNING,
            state=input.target,
            transition=transition.name,
        )
        return TransitionOutput(
            document=updated.model_copy(update={"state": input.target}),
            write=write,
            projected=await self._try_apply(write),
            derived=manifest,
            derived_count=len(derived),
        )

    def _check_types(self, derived: list[Document], transition: str) -> None:
        for child in derived:
            try:
                self.registry.get(child.type)
            except UnknownDocumentType as err:
                raise PermanentError(
                    f"transition {transition!r} derived {child.id!r}: {err}"
                ) from err

    async def _store_derived(self, derived: list[Document]) -> ContentRef:
        """Store each derived document's content, then the manifest listing them all."""
        lines = []
        for child in derived:
            ref = child.content_ref
            if child.content is not None:
                ref = await self.blobs.put_bytes(child.content)
            # Derived documents always travel by reference: a page of 200 of them must fit
            # in one payload whatever their size.
            lean = child.model_copy(update={"content": None, "content_ref": ref})
            lines.append(lean.model_dump_json())
        return await self.blobs.put_bytes(("\n".join(lines) + "\n").encode())

    async def _call(self, transition: Transition, document: Document) -> Any:
        func = transition.run
        call: Awaitable[Any] = (
            func(document)
            if inspect.iscoroutinefunction(func)
            # A plain function may be CPU-bound (parsing a PDF): keep it off the event loop
            # so heartbeats and other activities go on.
            else asyncio.to_thread(func, document)
        )
        task = asyncio.ensure_future(call)
        timeout = activity.info().heartbeat_timeout
        try:
            if timeout:
                while not task.done():
                    await asyncio.wait({task}, timeout=timeout.total_seconds() / 3)
                    activity.heartbeat()
            return await task
        finally:
            task.cancel()  # no-op when done; stops the function when we are cancelled

    async def _with_content(self, document: Document) -> Document:
        if document.content is None and document.content_ref is not None:
            data = await self.blobs.get_bytes(document.content_ref)
            return document.model_copy(update={"content": data})
        return document

    async def _store_content(self, updated: Document, original: Document) -> Document:
        """Persist new content; keep it inline only when it is small."""
        if updated.content is None:
            return updated
        ref = original.content_ref
        if updated.content is not original.content or ref is None:
            ref = await self.blobs.put_bytes(updated.content)
        inline = updated.content if ref.size <= self.inline_threshold else None
        return updated.model_copy(update={"content": inline, "content_ref": ref})

    async def _record_failure(
        self, input: TransitionInput, attempt: int, started: datetime, error: str
    ) -> None:
        # Best effort: the workflow records the final outcome in any case.
        write = _write(
            input,
            input.document,
            attempt=attempt,
            started=started,
            status=Status.RUNNING,
            state=input.document.state,
            transition=input.transition,
            error=error,
        )
        await self._try_apply(write)

    async def _try_apply(self, write: ProjectionWrite) -> bool:
        try:
            await self.writer.apply([write])
        except (SQLAlchemyError, OSError) as err:
            log.warning("projection write for %s deferred: %s", write.document_id, err)
            return False
        return True


def _checked(result: Any, document: Document, transition: str) -> tuple[Document, list[Document]]:
    """The updated document and the derived ones, from whatever the function returned."""
    if isinstance(result, list):
        result = TransitionResult(derived=result)
    if isinstance(result, Document) or result is None:
        result = TransitionResult(document=result)
    if not isinstance(result, TransitionResult):
        raise PermanentError(
            f"transition {transition!r} returned {type(result).__name__}; it must return the "
            "updated Document, None, a list of derived Documents or a TransitionResult"
        )
    updated = result.document or document
    if (updated.id, updated.type) != (document.id, document.type):
        raise PermanentError(
            f"transition {transition!r} changed the document's id or type "
            f"({document.id}/{document.type} -> {updated.id}/{updated.type})"
        )
    derived = []
    for child in result.derived:
        if not isinstance(child, Document):
            raise PermanentError(
                f"transition {transition!r} derived a {type(child).__name__}, not a Document"
            )
        # Lineage is the engine's to set, whatever the function built.
        derived.append(
            child.model_copy(
                update={"parent_id": document.id, "root_id": document.root_id or document.id}
            )
        )
    ids = [c.id for c in derived]
    duplicates = sorted({i for i in ids if ids.count(i) > 1}) if len(set(ids)) < len(ids) else []
    if duplicates or document.id in ids:
        raise PermanentError(
            f"transition {transition!r} derived documents with clashing ids: "
            f"{', '.join(duplicates or [document.id])} (use Document.derive with unique keys)"
        )
    return updated, derived


def _write(
    input: TransitionInput,
    document: Document,
    *,
    attempt: int,
    started: datetime,
    status: Status,
    state: str,
    transition: str,
    error: str | None = None,
) -> ProjectionWrite:
    return ProjectionWrite(
        document_id=document.id,
        type=document.type,
        version=version_of(input.step, attempt),
        state=state,
        status=status,
        transition=transition,
        from_state=input.document.state,
        attempt=attempt,
        error=error,
        parent_id=document.parent_id,
        root_id=document.root_id,
        workflow_id=input.workflow_id,
        run_id=input.run_id,
        content_ref=document.content_ref,
        metadata=document.metadata,
        started_at=started,
        at=datetime.now(UTC),
    )
