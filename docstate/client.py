"""The async client applications embed: submit documents, read them, act on them.

It starts and addresses document workflows by name (see :mod:`docstate.protocol`), so
an application that embeds it never imports worker code.
"""

from __future__ import annotations

import asyncio
import base64
import builtins
import json
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Unpack

from pydantic import BaseModel
from temporalio.client import (
    Client as TemporalClient,
)
from temporalio.client import (
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from docstate.batch import BatchEvent, BatchOptions, Submission, SubmitResult, run_batch
from docstate.blobstore import BlobStore, Head, make_blob_store, read_file
from docstate.config import Settings
from docstate.document import ContentRef, Document, Status
from docstate.errors import (
    ConfigurationError,
    ContentError,
    DocumentNotFound,
    DuplicateDocument,
    InvalidTransition,
)
from docstate.fetch import fetch, is_url, url_filename
from docstate.projection.engine import create_engine
from docstate.projection.queries import ProjectionQueries
from docstate.projection.records import DocumentFilter, DocumentRecord, EventRecord
from docstate.protocol import (
    CONTROL_UPDATE,
    DOC_TYPE,
    SNAPSHOT_QUERY,
    WORKFLOW_NAME,
    Action,
    ControlRequest,
    DocumentWorkflowInput,
    Snapshot,
    workflow_id,
)
from docstate.temporal import connect_temporal

Content = bytes | str | Path


class DocumentPage(BaseModel):
    """A page of documents and the cursor of the next page (None after the last)."""

    records: list[DocumentRecord]
    next_cursor: str | None


def encode_cursor(created_at: datetime, document_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), document_id]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Raises ConfigurationError naming a cursor that is not one of ours."""
    try:
        created, document_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return datetime.fromisoformat(created), str(document_id)
    except (ValueError, TypeError) as err:
        raise ConfigurationError(f"cursor {cursor!r} is not a page cursor: {err}") from None


class Client:
    """DocState for applications: ``async with await Client.connect() as ds: ...``.

    Args:
        temporal: A Temporal client using ``pydantic_data_converter``.
        settings: Task queue, inline threshold, database.
        queries: Read access to the projection.
        blobs: The blob store content is written to.
    """

    def __init__(
        self,
        temporal: TemporalClient,
        settings: Settings,
        queries: ProjectionQueries,
        blobs: BlobStore,
    ) -> None:
        self.temporal = temporal
        self.settings = settings
        self.queries = queries
        self.blobs = blobs

    @classmethod
    async def connect(cls, settings: Settings | None = None) -> Client:
        """Connect using ``settings`` (by default, from ``DOCSTATE_*`` variables)."""
        settings = settings or Settings()
        temporal = await connect_temporal(settings)
        queries = ProjectionQueries(create_engine(settings.database_url))
        return cls(temporal, settings, queries, make_blob_store(settings))

    async def close(self) -> None:
        await self.queries.engine.dispose()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # --- submitting ------------------------------------------------------------------

    async def submit(
        self,
        content: Content | None = None,
        *,
        type: str,
        id: str | None = None,
        metadata: dict[str, Any] | None = None,
        hold: bool = False,
    ) -> Document:
        """Start a document through pipeline ``type``.

        Args:
            content: Bytes, a file path or an http(s) URL (both streamed into the blob
                store), or text.
            type: Name of the document type (pipeline).
            id: Document id; generated when omitted.
            metadata: JSON metadata; for a path, ``filename`` is added.
            hold: Hold it before its first transition: ``step`` runs one transition at a
                time, ``resume`` lets it run on.

        Returns:
            The submitted document (its content travels by reference when large).

        Raises:
            DuplicateDocument: when a document with this id was submitted before.
        """
        meta = dict(metadata or {})
        ref, inline = await self._store(content, meta)
        doc_id = id or _new_id(meta.get("filename"))
        document = Document(
            id=doc_id,
            type=type,
            content=inline,
            content_ref=ref,
            metadata=meta,
            root_id=doc_id,
        )
        try:
            await self.temporal.start_workflow(
                WORKFLOW_NAME,
                DocumentWorkflowInput(document=document, hold=hold),
                id=workflow_id(doc_id),
                task_queue=self.settings.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                static_summary=f"{type} document {doc_id}",
                # listed under its type in the web UI from the start; state and status
                # follow once the workflow publishes them
                search_attributes=TypedSearchAttributes([SearchAttributePair(DOC_TYPE, type)]),
            )
        except WorkflowAlreadyStartedError:
            raise DuplicateDocument(doc_id) from None
        return document

    async def submit_many(
        self,
        items: Iterable[Content | Submission] | AsyncIterable[Content | Submission],
        *,
        type: str,
        on_event: Callable[[BatchEvent], None] | None = None,
        **options: Unpack[BatchOptions],
    ) -> builtins.list[SubmitResult]:
        """Submit any number of documents, ``concurrency`` at a time.

        A document that cannot be submitted (a missing file, a duplicate id) or that does
        not complete does not stop the others: each gets a :class:`SubmitResult`.

        Args:
            items: Contents (bytes, text, paths, URLs) or :class:`Submission` objects, from
                a list, a generator or an async iterator of any length (read as needed).
            type: Document type of items that do not name their own.
            on_event: Called with each :class:`BatchEvent`, in order.
            **options: ``concurrency`` (20), ``wait`` (False), ``timeout`` (see
                :class:`BatchOptions`).

        Returns:
            One result per item, in the order of ``items``.
        """
        return await run_batch(self, items, type=type, on_event=on_event, **options)

    async def submit_stream(
        self,
        items: Iterable[Content | Submission] | AsyncIterable[Content | Submission],
        *,
        type: str,
        **options: Unpack[BatchOptions],
    ) -> AsyncIterator[BatchEvent]:
        """:meth:`submit_many` as an async iterator of its events, ending with
        ``batch_completed``; each document's outcome is in its ``document_*`` events."""
        events: asyncio.Queue[BatchEvent | None] = asyncio.Queue()
        batch = asyncio.create_task(
            self.submit_many(items, type=type, on_event=events.put_nowait, **options)
        )
        batch.add_done_callback(lambda _: events.put_nowait(None))
        try:
            while (event := await events.get()) is not None:
                yield event
            await batch  # surfaces an error that ended the batch early
        finally:
            batch.cancel()

    async def submit_and_wait(
        self,
        content: Content | None = None,
        *,
        type: str,
        id: str | None = None,
        metadata: dict[str, Any] | None = None,
        poll_interval: float = 0.2,
        timeout: float | None = None,
    ) -> DocumentRecord:
        """Submit a document and wait until it settles (see :meth:`wait`)."""
        doc = await self.submit(content, type=type, id=id, metadata=metadata)
        return await self.wait(doc.id, timeout=timeout, poll_interval=poll_interval)

    async def _store(
        self, content: Content | None, meta: dict[str, Any]
    ) -> tuple[ContentRef | None, bytes | None]:
        """Write content to the blob store; also return it when small enough to inline."""
        if content is None:
            return None, None
        small = self.settings.inline_threshold
        if isinstance(content, bytes) or (isinstance(content, str) and not is_url(content)):
            data = content.encode("utf-8") if isinstance(content, str) else content
            return await self.blobs.put_bytes(data), data if len(data) <= small else None
        if isinstance(content, Path):
            meta.setdefault("filename", content.name)
            source = read_file(content)
        else:
            meta.setdefault("url", content)
            meta.setdefault("filename", url_filename(content))
            source = fetch(content)
        head = Head(small)  # streamed in; small content is kept on the way, not read back
        return await self.blobs.put(head.through(source)), head.data

    # --- reading ---------------------------------------------------------------------

    async def get(self, document_id: str, *, with_content: bool = False) -> DocumentRecord:
        """The document's row in the projection, with its content if asked (``.content``).

        Raises:
            DocumentNotFound: when no such document has been recorded.
        """
        record = await self.queries.get(document_id)
        if record is None:
            raise DocumentNotFound(document_id)
        if with_content and record.content_ref is not None:
            record.content = await self.blobs.get_bytes(record.content_ref)
        return record

    async def list(
        self, *, limit: int = 100, **filters: Unpack[DocumentFilter]
    ) -> builtins.list[DocumentRecord]:
        """Documents matching every given filter (type, state, status, parent_id,
        updated_after, updated_before), most recently updated first."""
        return await self.queries.list(limit=limit, **filters)

    async def list_page(
        self, *, cursor: str | None = None, limit: int = 100, **filters: Unpack[DocumentFilter]
    ) -> DocumentPage:
        """One page of matching documents (filters as for :meth:`list`), in creation order;
        pass ``next_cursor`` back for the next (``None`` after the last). Every document
        is seen once."""
        after = decode_cursor(cursor) if cursor else None
        records = await self.queries.page(after=after, limit=limit, **filters)
        last = records[-1] if len(records) == limit else None
        return DocumentPage(
            records=records,
            next_cursor=encode_cursor(last.created_at, last.id) if last else None,
        )

    async def history(self, document_id: str) -> builtins.list[EventRecord]:
        """Every recorded attempt and status change of a document, oldest first."""
        events = await self.queries.history(document_id)
        if not events:
            await self.get(document_id)  # raises DocumentNotFound
        return events

    async def children(self, document_id: str) -> builtins.list[DocumentRecord]:
        """Documents derived directly from this one."""
        return await self.queries.children(document_id)

    async def tree(self, document_id: str) -> builtins.list[DocumentRecord]:
        """This document and everything derived from it, level by level.

        Raises:
            DocumentNotFound: when no such document has been recorded.
        """
        records = await self.queries.tree(document_id)
        if not records:
            raise DocumentNotFound(document_id)
        return records

    async def path(self, document_id: str) -> builtins.list[DocumentRecord]:
        """The lineage from the original document down to this one."""
        records = await self.queries.path(document_id)
        if not records:
            raise DocumentNotFound(document_id)
        return records

    async def counts(self, root_id: str) -> dict[tuple[str, Status], int]:
        """Documents of a lineage per (state, status): how far along an original is."""
        return await self.queries.tree_counts(root_id)

    async def content(self, document_id: str) -> AsyncIterator[bytes]:
        """The document's current content, streamed in chunks (hash-checked at the end).

        Raises:
            DocumentNotFound: when no such document has been recorded.
            ContentError: when it has no content, or its blob is missing or damaged.
        """
        record = await self.get(document_id)
        if record.content_ref is None:
            raise ContentError(f"document {document_id!r} has no content")
        async for chunk in self.blobs.open(record.content_ref):
            yield chunk

    async def snapshot(self, document_id: str) -> Snapshot:
        """The live state of a document, asked of its workflow."""
        try:
            snapshot: Snapshot = await self._handle(document_id).query(
                SNAPSHOT_QUERY, result_type=Snapshot
            )
            return snapshot
        except RPCError as err:
            raise _not_found_or(err, document_id) from None

    async def wait(
        self, document_id: str, *, timeout: float | None = None, poll_interval: float = 0.2
    ) -> DocumentRecord:
        """Wait until the document settles: completed, failed, cancelled, waiting or paused.

        Raises:
            TimeoutError: when it has not settled within ``timeout`` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            record = await self.queries.get(document_id)
            if record is not None and record.status.settled:
                return record
            if deadline is not None and time.monotonic() >= deadline:
                status = record.status.value if record else "not yet recorded"
                raise TimeoutError(f"document {document_id!r} still {status} after {timeout}s")
            await asyncio.sleep(poll_interval)

    async def progress(
        self, document_id: str, *, poll_interval: float = 0.2, timeout: float | None = None
    ) -> AsyncIterator[EventRecord]:
        """Every state change and attempt of a document, in order, as it is recorded.

        Ends once the document has ended (completed, failed or cancelled); a ``waiting``
        document keeps the stream open until someone acts on it. It reads the projection
        (one indexed query per ``poll_interval``), so it works the same on PostgreSQL and
        SQLite and puts no load on Temporal.

        Raises:
            TimeoutError: when the document has not ended within ``timeout`` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        last = -1
        while True:
            record = await self.queries.get(document_id)
            for event in await self.queries.history(document_id, after=last):
                last = event.seq
                yield event
            if record is not None and record.status.closed and record.version <= last:
                return
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"document {document_id!r} has not ended after {timeout}s")
            await asyncio.sleep(poll_interval)

    # --- acting ----------------------------------------------------------------------

    async def cancel(self, document_id: str) -> None:
        """Cancel the document: its running transition is cancelled, status ``cancelled``.

        Raises:
            InvalidTransition: when the document has already ended.
        """
        await self._refuse_if_ended(document_id, "nothing to cancel")
        handle = self._handle(document_id)
        try:
            description = await handle.describe()
            if description.status != WorkflowExecutionStatus.RUNNING:
                status = description.status.name.lower() if description.status else "ended"
                raise InvalidTransition(
                    f"document {document_id!r} has already ended ({status}); nothing to cancel"
                )
            await handle.cancel()
        except RPCError as err:
            raise _not_found_or(err, document_id) from None

    async def retry(self, document_id: str) -> Snapshot:
        """Run a waiting document's failed transition again."""
        return await self._control(document_id, Action.RETRY)

    async def skip(self, document_id: str) -> Snapshot:
        """Move a waiting document past its failed (skippable) transition."""
        return await self._control(document_id, Action.SKIP)

    async def pause(self, document_id: str) -> Snapshot:
        """Hold the document before its next transition."""
        return await self._control(document_id, Action.PAUSE)

    async def resume(self, document_id: str) -> Snapshot:
        """Let a paused document go on."""
        return await self._control(document_id, Action.RESUME)

    async def step(self, document_id: str) -> Snapshot:
        """Run a held (paused) document's next transition, then hold it again."""
        return await self._control(document_id, Action.STEP)

    async def _refuse_if_ended(self, document_id: str, consequence: str) -> None:
        """Refuse an action on a document the projection records as ended.

        Its row says so as soon as the workflow has written its last status, a moment
        before the workflow itself closes: from then on the document has ended for
        everyone who reads it, so actions say so too.
        """
        record = await self.queries.get(document_id)
        if record is not None and record.status.closed:
            raise InvalidTransition(
                f"document {document_id!r} has already ended ({record.status.value}); {consequence}"
            )

    async def _control(self, document_id: str, action: Action) -> Snapshot:
        await self._refuse_if_ended(document_id, f"cannot {action.value} it")
        try:
            snapshot: Snapshot = await self._handle(document_id).execute_update(
                CONTROL_UPDATE, ControlRequest(action=action), result_type=Snapshot
            )
            return snapshot
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            message = cause.message if isinstance(cause, ApplicationError) else str(cause)
            raise InvalidTransition(message) from None
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:  # closed since the check above?
                await self._refuse_if_ended(document_id, f"cannot {action.value} it")
            raise _not_found_or(err, document_id) from None

    def _handle(self, document_id: str) -> WorkflowHandle[Any, Any]:
        return self.temporal.get_workflow_handle(workflow_id(document_id))


def _not_found_or(err: RPCError, document_id: str) -> Exception:
    if err.status == RPCStatusCode.NOT_FOUND:
        return DocumentNotFound(document_id)
    return err


def _new_id(filename: str | None) -> str:
    suffix = uuid.uuid4().hex[:12]
    if not filename:
        return suffix
    stem = "".join(c if c.isalnum() or c in "-_." else "-" for c in Path(filename).stem)
    return f"{stem[:60]}-{suffix}"
