"""Idempotent, ordered writes to the projection.

Every write carries the document's version. The event row is keyed by (document id,
version) and inserted with ON CONFLICT DO NOTHING; the document row is upserted with
``WHERE documents.version < excluded.version``. So a retried, duplicated or late write
never moves a document backwards, and applying the same writes twice changes nothing.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.expression import Executable

from docstate.projection.records import ProjectionWrite
from docstate.projection.schema import document_events, documents


class ProjectionWriter:
    """Applies :class:`ProjectionWrite` batches in one transaction."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def apply(self, writes: Sequence[ProjectionWrite]) -> None:
        """Apply ``writes`` (any order, duplicates allowed) in one transaction."""
        if not writes:
            return
        async with self.engine.begin() as conn:
            await _insert_events(conn, writes)
            await _upsert_documents(conn, writes)


@functools.cache
def _statements(dialect: str) -> tuple[Executable, Executable]:
    """The two write statements of ``dialect``, built once: with rows passed as
    executemany parameters, SQLAlchemy compiles each once and batches the rows itself."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    events = insert(document_events).on_conflict_do_nothing(index_elements=["document_id", "seq"])
    upsert = insert(documents)
    docs = upsert.on_conflict_do_update(
        index_elements=["id"],
        set_={
            c.name: upsert.excluded[c.name]
            for c in documents.columns
            if c.name not in ("id", "created_at")
        },
        where=documents.c.version < upsert.excluded.version,
    )
    return events, docs


async def _insert_events(conn: AsyncConnection, writes: Sequence[ProjectionWrite]) -> None:
    rows = [
        {
            "document_id": w.document_id,
            "seq": w.version,
            "transition": w.transition,
            "from_state": w.from_state,
            "to_state": w.state,
            "status": w.status.value,
            "error": w.error,
            "attempt": w.attempt,
            "started_at": w.started_at,
            "finished_at": w.at,
        }
        for w in writes
    ]
    await conn.execute(_statements(conn.dialect.name)[0], rows)


async def _upsert_documents(conn: AsyncConnection, writes: Sequence[ProjectionWrite]) -> None:
    # One row per document (its newest write): an upsert may not touch a row twice.
    # created_at is the document's earliest write; it only counts when the row is new.
    newest: dict[str, ProjectionWrite] = {}
    earliest: dict[str, datetime] = {}
    for w in writes:
        if w.document_id not in newest or newest[w.document_id].version < w.version:
            newest[w.document_id] = w
        earliest[w.document_id] = min(w.at, earliest.get(w.document_id, w.at))
    rows = [_document_row(w, earliest[w.document_id]) for w in newest.values()]
    await conn.execute(_statements(conn.dialect.name)[1], rows)


def _document_row(w: ProjectionWrite, created_at: datetime) -> dict[str, Any]:
    ref = w.content_ref
    return {
        "id": w.document_id,
        "type": w.type,
        "state": w.state,
        "status": w.status.value,
        "parent_id": w.parent_id,
        "root_id": w.root_id or w.document_id,
        "workflow_id": w.workflow_id,
        "run_id": w.run_id,
        "attempt": w.attempt,
        "error": w.error,
        "content_ref": ref.sha256 if ref else None,
        "content_size": ref.size if ref else None,
        "content_sha256": ref.sha256 if ref else None,
        "metadata": w.metadata,
        "created_at": created_at,
        "updated_at": w.at,
        "version": w.version,
    }


class CoalescingWriter(ProjectionWriter):
    """Group commit: concurrent ``apply`` calls share one transaction.

    While one batch is being written, the writes that arrive queue up and go together in
    the next. No write waits for a timer: under light load each goes alone at once;
    under load, round trips (and SQLite's single write lock) are shared. When a shared
    batch fails, its entries are retried one by one, so a bad write fails only its caller.
    """

    def __init__(self, engine: AsyncEngine, max_batch: int = 500) -> None:
        super().__init__(engine)
        self.max_batch = max_batch
        self._pending: list[tuple[Sequence[ProjectionWrite], asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.transactions = 0

    async def apply(self, writes: Sequence[ProjectionWrite]) -> None:
        if not writes:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((writes, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        # shield: a cancelled caller must not cancel a write others share
        await asyncio.shield(done)

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
            try:
                await self._write([w for writes, _ in batch for w in writes])
            except Exception as err:
                if len(batch) == 1:
                    _settle(batch[0][1], err)
                    continue
                for writes, done in batch:  # find the bad one; the others still land
                    try:
                        await self._write(writes)
                    except Exception as single:
                        _settle(done, single)
                    else:
                        _settle(done, None)
            else:
                for _, done in batch:
                    _settle(done, None)

    async def _write(self, writes: Sequence[ProjectionWrite]) -> None:
        self.transactions += 1
        await super().apply(writes)


def _settle(done: asyncio.Future[None], error: BaseException | None) -> None:
    if done.done():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)
