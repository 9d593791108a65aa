"""The async client applications embed: submit documents, read them, act on them.

It starts and addresses document workflows by name (see :mod:`docstate.protocol`), so
an application that embeds it never imports worker code.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from types import TracebackType
from typing import Any, Unpack

from temporalio.common import (
    Priority,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from docstate.blobs import make_blob_store
from docstate.client.actions import DocumentActions
from docstate.client.batch import (
    BatchEvent,
    BatchOptions,
    Submission,
    SubmitResult,
    run_batch,
    stream_batch,
)
from docstate.client.ingest import Content, check_id, new_id, store_content
from docstate.client.reading import DocumentReader
from docstate.config import Settings
from docstate.document import Document
from docstate.errors import DuplicateDocument, InvalidInput
from docstate.fetch import FetchPolicy
from docstate.projection.engine import create_engine
from docstate.projection.queries import ProjectionQueries
from docstate.projection.records import DocumentRecord
from docstate.protocol import (
    DOC_TYPE,
    WORKFLOW_NAME,
    DocumentWorkflowInput,
    workflow_id,
)
from docstate.temporal import connect_temporal


class Client(DocumentReader, DocumentActions):
    """DocState for applications: ``async with await Client.connect() as ds: ...``.

    Every error it raises is a :class:`~docstate.errors.DocStateError`. Reading needs
    only the projection; Temporal is needed to submit and to act.

    Args:
        temporal: A Temporal client using ``pydantic_data_converter``; None to connect
            on first need.
        settings: Task queue, inline threshold, database.
        queries: Read access to the projection.
        blobs: The blob store content is written to.
    """

    @classmethod
    async def connect(cls, settings: Settings | None = None, *, lazy: bool = False) -> Client:
        """Connect using ``settings`` (by default, from ``DOCSTATE_*`` variables).

        Args:
            settings: Where Temporal, the projection and the blob store are.
            lazy: Connect to Temporal only when first needed (submitting, acting), so a
                client that only reads the projection works while Temporal is away.

        Raises:
            TemporalUnavailable: (unless ``lazy``) when Temporal does not answer.
        """
        settings = settings or Settings()
        temporal = None if lazy else await connect_temporal(settings)
        queries = ProjectionQueries(create_engine(settings.database_url))
        return cls(temporal, settings, queries, make_blob_store(settings))

    async def close(self) -> None:
        """Stop the watcher and close the projection's connections."""
        await self.watcher.close()
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
        fairness_key: str | None = None,
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
            fairness_key: Who the work is for (a tenant, a source): when the task queue
                is backlogged, Temporal dispatches the tasks of different keys in turn,
                so one key's thousands of documents do not delay another's. Its derived
                documents inherit it. It is recorded in metadata as ``fairness_key``.

        Returns:
            The submitted document (its content travels by reference when large).

        Raises:
            InvalidDocumentId: when ``id`` breaks the id rule.
            InvalidInput: when ``metadata`` is not JSON or ``fairness_key`` is blank.
            DuplicateDocument: when a document with this id was submitted before.
            DocStateError: for anything else (content, blob store, Temporal).
        """
        async with self._errors():
            return await self._submit(
                content, type=type, id=id, metadata=metadata, hold=hold, fairness_key=fairness_key
            )

    async def _submit(
        self,
        content: Content | None,
        *,
        type: str,
        id: str | None,
        metadata: dict[str, Any] | None,
        hold: bool,
        fairness_key: str | None,
    ) -> Document:
        if id is not None:
            check_id(id)  # before any content is stored
        meta = dict(metadata or {})
        if fairness_key is not None:
            if not fairness_key.strip():
                raise InvalidInput(
                    "fairness_key is blank: name a tenant or source, or leave it out"
                )
            meta["fairness_key"] = fairness_key
        try:
            json.dumps(meta)  # it travels as JSON: refuse it here, before content is stored
        except (TypeError, ValueError) as err:
            raise InvalidInput(
                f"metadata must be JSON (strings, numbers, lists...): {err}"
            ) from None
        temporal = await self.temporal_client()
        ref, inline = await store_content(
            self.blobs,
            content,
            meta,
            self.settings.inline_threshold,
            FetchPolicy.from_settings(self.settings),
        )
        # Workflow ids are visible to anyone who can list workflows: with encryption on,
        # a generated id does not carry the file name.
        doc_id = id or new_id(None if self.settings.encryption_on else meta.get("filename"))
        document = Document(
            id=doc_id,
            type=type,
            content=inline,
            content_ref=ref,
            metadata=meta,
            root_id=doc_id,
        )
        try:
            await temporal.start_workflow(
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
                # Workflow tasks, activities and child workflows inherit it.
                priority=(
                    Priority.default
                    if fairness_key is None
                    else Priority(fairness_key=fairness_key)
                ),
                # A worker of this process with a free slot takes the first workflow task
                # from the start's answer, not through the task queue (an ordinary start
                # otherwise). Not for a fairness key: its turn is the task queue's to give.
                request_eager_start=fairness_key is None,
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
        async for event in stream_batch(self, items, type=type, **options):
            yield event

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
