"""Submitting many documents: bounded concurrency, progress events, a result for each."""

from __future__ import annotations

import asyncio
import enum
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any, Protocol, TypedDict, Unpack

from pydantic import BaseModel, Field

from docstate.client.ingest import Content
from docstate.document import Document, Status
from docstate.errors import DocStateError, InvalidInput
from docstate.projection.records import DocumentRecord


class Submitter(Protocol):
    """What a batch needs of a client (:class:`~docstate.Client`): submit and wait."""

    async def submit(
        self,
        content: Content | None,
        *,
        type: str,
        id: str | None,
        metadata: dict[str, Any],
        fairness_key: str | None,
    ) -> Document: ...

    async def wait(self, document_id: str, *, timeout: float | None) -> DocumentRecord: ...

    async def get(self, document_id: str) -> DocumentRecord: ...


class Submission(BaseModel):
    """One document of a batch, when more than its content must be said."""

    content: bytes | str | Path | None = None
    id: str | None = None
    type: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    fairness_key: str | None = None


class EventKind(enum.StrEnum):
    BATCH_STARTED = "batch_started"
    DOCUMENT_STARTED = "document_started"
    DOCUMENT_COMPLETED = "document_completed"
    DOCUMENT_FAILED = "document_failed"
    BATCH_COMPLETED = "batch_completed"


class BatchEvent(BaseModel):
    """Progress of a batch; events of one document come in order."""

    kind: EventKind
    index: int | None = None
    document_id: str | None = None
    status: Status | None = None
    error: str | None = None
    done: int = 0
    failed: int = 0


class SubmitResult(BaseModel):
    """The outcome of one document of a batch."""

    index: int
    ok: bool
    document_id: str | None = None
    state: str | None = None
    status: Status | None = None
    error: str | None = None


class BatchOptions(TypedDict, total=False):
    """How a batch runs.

    Attributes:
        concurrency: Documents in flight at once (20).
        wait: Also wait for each to settle; a result's ``ok`` then means it completed.
        timeout: With ``wait``, seconds per document (none).
    """

    concurrency: int
    wait: bool
    timeout: float | None


async def run_batch(
    client: Submitter,
    items: Iterable[Content | Submission] | AsyncIterable[Content | Submission],
    *,
    type: str,
    on_event: Callable[[BatchEvent], None] | None = None,
    concurrency: int = 20,
    wait: bool = False,
    timeout: float | None = None,
) -> list[SubmitResult]:
    """See :meth:`docstate.Client.submit_many`."""
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise InvalidInput(f"concurrency must be a whole number of at least 1, not {concurrency!r}")
    source = _numbered(items)
    lock = asyncio.Lock()
    results: dict[int, SubmitResult] = {}
    emit = on_event or (lambda event: None)
    emit(BatchEvent(kind=EventKind.BATCH_STARTED))

    async def next_item() -> tuple[int, Content | Submission] | None:
        async with lock:  # one reader at a time: the source may be any async iterator
            return await anext(source, None)

    async def lane() -> None:
        while (numbered := await next_item()) is not None:
            index, item = numbered
            result = await _one(client, index, item, type, wait, timeout, emit)
            results[index] = result
            counts = _counts(results)
            kind = EventKind.DOCUMENT_COMPLETED if result.ok else EventKind.DOCUMENT_FAILED
            emit(
                BatchEvent(
                    kind=kind,
                    index=index,
                    document_id=result.document_id,
                    status=result.status,
                    error=result.error,
                    **counts,
                )
            )

    await asyncio.gather(*(lane() for _ in range(concurrency)))
    ordered = [results[i] for i in sorted(results)]
    emit(BatchEvent(kind=EventKind.BATCH_COMPLETED, **_counts(results)))
    return ordered


async def _one(
    client: Submitter,
    index: int,
    item: Content | Submission,
    type: str,
    wait: bool,
    timeout: float | None,
    emit: Callable[[BatchEvent], None],
) -> SubmitResult:
    sub = Submission()
    try:
        sub = item if isinstance(item, Submission) else Submission(content=item)
        doc = await client.submit(
            sub.content,
            type=sub.type or type,
            id=sub.id,
            metadata=sub.metadata,
            fairness_key=sub.fairness_key,
        )
    except Exception as err:
        return SubmitResult(index=index, ok=False, document_id=sub.id, error=_error_line(err))
    # Outside the try: it is submitted, whatever the caller's callback does with the news.
    emit(BatchEvent(kind=EventKind.DOCUMENT_STARTED, index=index, document_id=doc.id))
    if not wait:
        return SubmitResult(index=index, ok=True, document_id=doc.id, status=Status.PENDING)
    try:
        record = await client.wait(doc.id, timeout=timeout)
    except Exception as err:
        # Submitted all the same: its workflow runs, or waits for a worker, whatever
        # became of the wait. Say where it stands, never "not submitted".
        return await _unsettled(client, index, doc.id, _error_line(err))
    return SubmitResult(
        index=index,
        ok=record.status is Status.COMPLETED,
        document_id=record.id,
        state=record.state,
        status=record.status,
        error=record.error,
    )


async def _unsettled(client: Submitter, index: int, doc_id: str, error: str) -> SubmitResult:
    """A submitted document whose wait ended without its end: its row as it stands, or
    ``pending`` when no worker has recorded it yet."""
    try:
        record = await client.get(doc_id)
    except Exception:  # not recorded yet (or the projection is away): it was submitted
        return SubmitResult(
            index=index, ok=False, document_id=doc_id, status=Status.PENDING, error=error
        )
    return SubmitResult(
        index=index,
        ok=False,
        document_id=doc_id,
        state=record.state,
        status=record.status,
        error=error,
    )


def _error_line(err: Exception) -> str:
    if isinstance(err, DocStateError):
        return str(err)
    return f"{type(err).__name__}: {err}"  # not DocState's: say what it is


def _counts(results: dict[int, SubmitResult]) -> dict[str, int]:
    return {"done": len(results), "failed": sum(not r.ok for r in results.values())}


async def _numbered(
    items: Iterable[Content | Submission] | AsyncIterable[Content | Submission],
) -> AsyncIterator[tuple[int, Content | Submission]]:
    index = 0
    if isinstance(items, AsyncIterable):
        async for item in items:
            yield index, item
            index += 1
    else:
        for item in items:
            yield index, item
            index += 1


async def stream_batch(
    client: Submitter,
    items: Iterable[Content | Submission] | AsyncIterable[Content | Submission],
    *,
    type: str,
    **options: Unpack[BatchOptions],
) -> AsyncIterator[BatchEvent]:
    """:func:`run_batch` as an async iterator of its events (see ``Client.submit_stream``)."""
    events: asyncio.Queue[BatchEvent | None] = asyncio.Queue()
    batch = asyncio.create_task(
        run_batch(client, items, type=type, on_event=events.put_nowait, **options)
    )
    batch.add_done_callback(lambda _: events.put_nowait(None))
    try:
        while (event := await events.get()) is not None:
            yield event
        await batch  # surfaces an error that ended the batch early
    finally:
        batch.cancel()
