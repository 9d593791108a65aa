"""Submitting many documents: bounded concurrency, progress events, a result for each."""

from __future__ import annotations

import asyncio
import enum
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from pydantic import BaseModel, Field

from docstate.document import Status
from docstate.errors import DocStateError

if TYPE_CHECKING:
    from docstate.client import Client, Content


class Submission(BaseModel):
    """One document of a batch, when more than its content must be said."""

    content: bytes | str | Path | None = None
    id: str | None = None
    type: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


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
    client: Client,
    items: Iterable[Content | Submission] | AsyncIterable[Content | Submission],
    *,
    type: str,
    on_event: Callable[[BatchEvent], None] | None = None,
    concurrency: int = 20,
    wait: bool = False,
    timeout: float | None = None,
) -> list[SubmitResult]:
    """See :meth:`docstate.Client.submit_many`."""
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
    client: Client,
    index: int,
    item: Content | Submission,
    type: str,
    wait: bool,
    timeout: float | None,
    emit: Callable[[BatchEvent], None],
) -> SubmitResult:
    sub = item if isinstance(item, Submission) else Submission(content=item)
    try:
        doc = await client.submit(
            sub.content, type=sub.type or type, id=sub.id, metadata=sub.metadata
        )
        emit(BatchEvent(kind=EventKind.DOCUMENT_STARTED, index=index, document_id=doc.id))
        if not wait:
            return SubmitResult(index=index, ok=True, document_id=doc.id, status=Status.PENDING)
        record = await client.wait(doc.id, timeout=timeout)
    except (DocStateError, TimeoutError) as err:
        return SubmitResult(index=index, ok=False, document_id=sub.id, error=str(err))
    return SubmitResult(
        index=index,
        ok=record.status is Status.COMPLETED,
        document_id=record.id,
        state=record.state,
        status=record.status,
        error=record.error,
    )


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
