"""Reading documents: the projection's rows, histories, lineage, content; waiting.

None of it needs Temporal, except telling an unknown id from one not yet recorded.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Unpack

from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from docstate.client.core import ClientCore
from docstate.document import Status
from docstate.errors import ContentError, DocumentNotFound, DocumentNotStarted, WaitTimeout
from docstate.projection.records import DocumentFilter, DocumentPage, DocumentRecord, EventRecord


class DocumentReader(ClientCore):
    """The reading half of :class:`~docstate.Client`."""

    not_found_grace: float = 2.0
    """Seconds :meth:`wait` gives an unrecorded document before asking Temporal whether
    it exists at all (a document just submitted is recorded once a worker takes it)."""

    not_recorded_patience: float = 2.0
    """Seconds an unrecorded id's check with Temporal may take before the answer is a
    plain :class:`DocumentNotFound` (Temporal away: reading needs only the database)."""

    async def get(self, document_id: str, *, with_content: bool = False) -> DocumentRecord:
        """The document's row in the projection, with its content if asked (``.content``).

        Raises:
            DocumentNotFound: when no such document has been recorded;
                :class:`DocumentNotStarted` when it was submitted but no worker has
                started it yet.
        """
        async with self._errors():
            record = await self.queries.get(document_id)
            if record is None:
                raise await self._not_recorded(document_id)
            if with_content and record.content_ref is not None:
                record.content = await self.blobs.get_bytes(record.content_ref)
            return record

    async def list(
        self, *, limit: int = 100, **filters: Unpack[DocumentFilter]
    ) -> builtins.list[DocumentRecord]:
        """Documents matching every given filter (type, state, status, parent_id,
        updated_after, updated_before), most recently updated first."""
        async with self._errors():
            return await self.queries.list(limit=limit, **filters)

    async def list_page(
        self, *, cursor: str | None = None, limit: int = 100, **filters: Unpack[DocumentFilter]
    ) -> DocumentPage:
        """One page of matching documents (filters as for :meth:`list`), in creation order;
        pass ``next_cursor`` back for the next (``None`` after the last). Every document
        is seen once."""
        async with self._errors():
            return await self.queries.page(cursor=cursor, limit=limit, **filters)

    async def history(self, document_id: str) -> builtins.list[EventRecord]:
        """Every recorded attempt and status change of a document, oldest first."""
        async with self._errors():
            events = await self.queries.history(document_id)
        if not events:
            await self.get(document_id)  # raises DocumentNotFound
        return events

    async def children(self, document_id: str) -> builtins.list[DocumentRecord]:
        """Documents derived directly from this one."""
        async with self._errors():
            return await self.queries.children(document_id)

    async def tree(self, document_id: str) -> builtins.list[DocumentRecord]:
        """This document and everything derived from it, level by level.

        Raises:
            DocumentNotFound: when no such document has been recorded.
        """
        async with self._errors():
            records = await self.queries.tree(document_id)
        if not records:
            raise await self._not_recorded(document_id)
        return records

    async def path(self, document_id: str) -> builtins.list[DocumentRecord]:
        """The lineage from the original document down to this one."""
        async with self._errors():
            records = await self.queries.path(document_id)
        if not records:
            raise await self._not_recorded(document_id)
        return records

    async def counts(self, root_id: str) -> dict[tuple[str, Status], int]:
        """Documents of a lineage per (state, status): how far along an original is."""
        async with self._errors():
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
        async with self._errors():
            async for chunk in self.blobs.open(record.content_ref):
                yield chunk

    async def wait(
        self, document_id: str, *, timeout: float | None = None, poll_interval: float = 0.2
    ) -> DocumentRecord:
        """Wait until the document settles: completed, failed, cancelled, waiting or paused.

        Raises:
            DocumentNotFound: when, after a short grace, neither the projection nor
                Temporal knows the document.
            WaitTimeout: (also a ``TimeoutError``) when it has not settled within
                ``timeout`` seconds.
        """
        del poll_interval  # the watcher's pace is Settings.watch_interval
        deadline = None if timeout is None else time.monotonic() + timeout
        grace = self.not_found_grace if timeout is None else min(self.not_found_grace, timeout)
        async with self._errors():
            try:  # recorded yet? (through the shared watcher: no query of its own)
                await self.watcher.wait(document_id, timeout=grace, until=lambda _: True)
            except TimeoutError:
                await self._check_exists(document_id)
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                return await self.watcher.wait(
                    document_id, timeout=remaining, named_timeout=timeout
                )
            except TimeoutError as err:
                raise WaitTimeout(await self._timed_out(document_id, str(err))) from None

    async def _timed_out(self, document_id: str, message: str) -> str:
        """``message``, and for a document no worker has started, the queue it waits in."""
        if await self.queries.get(document_id) is not None:
            return message
        reason = await self._not_recorded(document_id)
        if isinstance(reason, DocumentNotStarted):
            return f"{message} (is `docstate worker` running for task queue {reason.task_queue!r}?)"
        return message

    async def _not_recorded(self, document_id: str) -> DocumentNotFound:
        """Why ``document_id`` has no row: submitted and not started yet (its workflow
        runs in Temporal, no worker has taken it), or unknown. Temporal is asked briefly;
        when it does not answer, the id is simply not found."""
        with contextlib.suppress(Exception):
            async with asyncio.timeout(self.not_recorded_patience):
                described = await (await self._handle(document_id)).describe()
                if described.status == WorkflowExecutionStatus.RUNNING:
                    return DocumentNotStarted(document_id, described.task_queue)
        return DocumentNotFound(document_id)

    async def _check_exists(self, document_id: str) -> None:
        """Raise DocumentNotFound unless Temporal has the document's workflow."""
        handle = await self._handle(document_id)
        try:
            await handle.describe()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise DocumentNotFound(document_id) from None
            raise

    async def progress(
        self, document_id: str, *, poll_interval: float = 0.2, timeout: float | None = None
    ) -> AsyncIterator[EventRecord]:
        """Every state change and attempt of a document, in order, as it is recorded.

        Starts with what is already recorded and follows what comes, with no gap between
        the two, each event exactly once. Ends once the document has ended (completed,
        failed or cancelled); a ``waiting`` document keeps the stream open until someone
        acts on it. Served by the client's watcher, like :meth:`wait`: one query per tick
        (and at once on PostgreSQL, through LISTEN/NOTIFY) however many documents are
        followed; it works the same on SQLite and puts no load on Temporal. A consumer
        that falls far behind catches up from the table. ``poll_interval`` is ignored
        (the pace is ``Settings.watch_interval``).

        Raises:
            WaitTimeout: (also a ``TimeoutError``) when the document has not ended within
                ``timeout`` seconds.
        """
        del poll_interval
        async with self._errors():
            async for event in self.watcher.follow(document_id, timeout=timeout):
                yield event
