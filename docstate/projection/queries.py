"""Read queries on the projection. None of them touches document content."""

from __future__ import annotations

import builtins
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncEngine

from docstate.document import ContentRef, Status
from docstate.projection.records import DocumentRecord, EventRecord
from docstate.projection.schema import document_events, documents


def _utc(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything DocState writes is UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _document(row: RowMapping) -> DocumentRecord:
    data = dict(row)
    sha, size = data.pop("content_sha256"), data.pop("content_size")
    data["content_ref"] = ContentRef(sha256=sha, size=size) if sha else None
    data["created_at"] = _utc(data["created_at"])
    data["updated_at"] = _utc(data["updated_at"])
    return DocumentRecord.model_validate(data)


class ProjectionQueries:
    """What applications and people ask of the projection."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def get(self, document_id: str) -> DocumentRecord | None:
        """The row of one document, or None."""
        async with self.engine.connect() as conn:
            result = await conn.execute(sa.select(documents).where(documents.c.id == document_id))
            row = result.mappings().first()
        return _document(row) if row else None

    async def list(
        self,
        *,
        type: str | None = None,
        state: str | None = None,
        status: Status | None = None,
        limit: int = 100,
    ) -> builtins.list[DocumentRecord]:
        """Documents matching every given filter, most recently updated first."""
        query = sa.select(documents).order_by(documents.c.updated_at.desc(), documents.c.id)
        for column, value in (("type", type), ("state", state), ("status", status)):
            if value is not None:
                query = query.where(documents.c[column] == str(value))
        async with self.engine.connect() as conn:
            result = await conn.execute(query.limit(limit))
            return [_document(row) for row in result.mappings()]

    async def history(self, document_id: str) -> builtins.list[EventRecord]:
        """A document's events, oldest first."""
        query = (
            sa.select(document_events)
            .where(document_events.c.document_id == document_id)
            .order_by(document_events.c.seq)
        )
        async with self.engine.connect() as conn:
            result = await conn.execute(query)
            rows = [dict(r) for r in result.mappings()]
        for r in rows:
            r["started_at"], r["finished_at"] = _utc(r["started_at"]), _utc(r["finished_at"])
        return [EventRecord.model_validate(r) for r in rows]
