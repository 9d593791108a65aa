"""Transition activities: run a pipeline's functions and write their outcome.

Each transition becomes one activity named ``<type>.<transition>``. The activity gives
the function the document, its content loaded on first use or streamed (see
:mod:`docstate.content`), runs it (heartbeating, so a cancel reaches it), stores new
content in the blob store, and writes the projection itself, so recording a step
costs no extra round trip through Temporal.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from docstate.blobs import BlobStore
from docstate.content import ContentSource
from docstate.document import Document, Status, TransitionResult
from docstate.engine.lean import StepChanges, StepOutput
from docstate.engine.manifest import write_manifest
from docstate.engine.outage import DATABASE_ERRORS, outages
from docstate.errors import PermanentError, UnknownDocumentType
from docstate.model import DocumentType, Transition
from docstate.projection.records import EventRecord, ProjectionWrite, version_of
from docstate.projection.writer import Writer
from docstate.protocol import TransitionInput, TransitionOutput
from docstate.registry import Registry

log = logging.getLogger(__name__)


class TransitionActivities:
    """The transition activities of every pipeline in a registry.

    Args:
        registry: The pipelines.
        writer: The projection writer each step writes through.
        blobs: The blob store content lives in.
        inline_threshold: Content up to this size also travels inside payloads.
        executor: Where plain (non-async) functions run. It must not be the event loop's
            default executor: a plain function reading ``doc.content`` blocks its thread
            until the blob store's read, which itself runs file I/O in the default
            executor, returns. Sharing one pool, enough such functions at once hold every
            thread and wait for each other for good.
    """

    def __init__(
        self,
        registry: Registry,
        writer: Writer,
        blobs: BlobStore,
        inline_threshold: int,
        executor: Executor,
    ) -> None:
        self.registry = registry
        self.writer = writer
        self.blobs = blobs
        self.inline_threshold = inline_threshold
        self.executor = executor

    def definitions(self) -> list[Callable[..., Any]]:
        """One activity per transition, ready for a worker's ``activities=``."""
        return [self._define(dt, t) for dt in self.registry for t in dt.transitions]

    def rate_limited(self) -> list[tuple[str, float, Callable[..., Any]]]:
        """Activity name, rate and definition of each rate-limited transition."""
        return [
            (dt.activity_name(t), t.rate_limit, self._define(dt, t))
            for dt in self.registry
            for t in dt.transitions
            if t.rate_limit is not None
        ]

    def _define(
        self, doctype: DocumentType, transition: Transition
    ) -> Callable[[TransitionInput], Awaitable[TransitionOutput | StepOutput]]:
        async def run_transition(input: TransitionInput) -> TransitionOutput | StepOutput:
            return await self.run(transition, input)

        return activity.defn(name=doctype.activity_name(transition))(run_transition)

    async def run(
        self,
        transition: Transition,
        input: TransitionInput,
        attempt: int | None = None,
        timeout: timedelta | None = None,
    ) -> TransitionOutput | StepOutput:
        """Run one attempt of ``transition`` on ``input.document``: a lean step's
        result (``input.lean``) carries only what changed, an older one the document.

        ``attempt``: its number, when it is not its activity's own; ``timeout``: the
        attempt's own, enforced here (both in a local run, where attempts share one
        activity), so a timed-out attempt fails like any other and has its row."""
        if attempt is None:
            attempt = input.attempts_before + activity.info().attempt
        started = datetime.now(UTC)
        # content by reference is loaded only if the function reads it
        document = attach(input.document, self.blobs)
        try:
            result = await self._within(transition, document, timeout)
            updated, derived = _checked(result, document, transition.name)
            self._check_types(derived, transition.name)
        except PermanentError as err:
            await self._record_failure(input, attempt, started, f"PermanentError: {err}")
            # A business outcome, not a fault: one log line, no stack (BENIGN keeps the SDK
            # from logging a warning with the traceback); the projection records it.
            log.warning("%s: %s failed for good: %s", input.document.id, transition.name, err)
            raise ApplicationError(
                str(err),
                type="PermanentError",
                non_retryable=True,
                category=ApplicationErrorCategory.BENIGN,
            ) from err
        except Exception as err:
            await self._record_failure(input, attempt, started, f"{type(err).__name__}: {err}")
            raise
        updated = await self._store_content(updated, document)
        manifest = await write_manifest(self.blobs, derived) if derived else None
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
        projected = await self._try_apply(write)
        if input.lean:
            return StepOutput(
                event=write.event(),
                changes=StepChanges.between(input.document, updated),
                projected=projected,
                derived=manifest,
                derived_count=len(derived),
            )
        return TransitionOutput(
            document=updated.model_copy(update={"state": input.target}),
            write=write,
            projected=projected,
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

    async def _within(
        self, transition: Transition, document: Document, timeout: timedelta | None
    ) -> Any:
        if timeout is None:
            return await self._call(transition, document)
        deadline = asyncio.timeout(timeout.total_seconds())
        try:
            async with deadline:
                return await self._call(transition, document)
        except TimeoutError as err:
            if not deadline.expired():
                raise  # the function's own
            raise TimeoutError(f"took longer than its timeout ({timeout})") from err

    async def _call(self, transition: Transition, document: Document) -> Any:
        func = transition.run
        call: Awaitable[Any] = (
            func(document)
            if inspect.iscoroutinefunction(func)
            # A plain function may be CPU-bound (parsing a PDF): keep it off the event loop
            # so heartbeats and other activities go on.
            else self._in_thread(func, document)
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
            # No-op when done. When we are cancelled it stops an async function at its next
            # await; a plain function keeps running in its thread until it returns (Python
            # cannot stop a thread), and its result is then dropped.
            task.cancel()

    def _in_thread(self, func: Callable[[Document], Any], document: Document) -> Awaitable[Any]:
        # The activity's context (activity.info(), heartbeat) goes along, as with to_thread.
        call = functools.partial(contextvars.copy_context().run, func, document)
        return asyncio.get_running_loop().run_in_executor(self.executor, call)

    async def _store_content(self, updated: Document, original: Document) -> Document:
        """Persist new content; keep it inline only when it is small. Content the function
        did not load (or streamed to the store itself) is already there."""
        data = held(updated)
        if data is None:
            return updated
        ref = original.content_ref
        if data is not held(original) or ref is None:
            ref = await self.blobs.put_bytes(data)
        inline = data if ref.size <= self.inline_threshold else None
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
        except DATABASE_ERRORS as err:
            outages.failed(write.document_id, err)  # one line per document per outage
            return False
        outages.succeeded(write.document_id)
        return True


def attach(document: Document, blobs: BlobStore) -> Document:
    """``document`` with its content reachable on demand (loaded on first access)."""
    attached = document.model_copy()
    attached._source = ContentSource(blobs, document.content_ref)
    return attached


def held(document: Document) -> bytes | None:
    """The content the document holds now, without loading it."""
    data: bytes | None = document.__dict__.get("content")
    return data


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
    event = EventRecord(
        document_id=document.id,
        seq=version_of(input.step, attempt),
        to_state=state,
        status=status,
        transition=transition,
        from_state=input.document.state,
        attempt=attempt,
        error=error,
        started_at=started,
        finished_at=datetime.now(UTC),
    )
    return ProjectionWrite.of(document, event, workflow_id=input.workflow_id, run_id=input.run_id)
