"""Read queries on the projection. None of them touches document content."""

from __future__ import annotations

import base64
import builtins
import json
from datetime import UTC, datetime
from typing import Any, Unpack

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncEngine

from docstate.document import ContentRef, Status
from docstate.errors import ConfigurationError
from docstate.projection.records import DocumentFilter, DocumentPage, DocumentRecord, EventRecord
from docstate.projection.schema import document_events, documents


def encode_cursor(created_at: datetime, document_id: str) -> str:
    """The page cursor after the document with this creation time and id."""
    raw = json.dumps([created_at.isoformat(), document_id]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Raises ConfigurationError naming a cursor that is not one of ours."""
    try:
        created, document_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return datetime.fromisoformat(created), str(document_id)
    except (ValueError, TypeError):
        raise ConfigurationError(
            f"cursor {cursor!r} is not a page cursor: pass back the next_cursor of a page"
        ) from None


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


def _lineage(document_id: str, *, down: bool) -> sa.CTE:
    """``document_id`` and, with their distance from it, its descendants (``down``) or
    its ancestors: one recursive CTE, one indexed lookup per level."""
    start = sa.select(documents, sa.literal(0).label("depth")).where(documents.c.id == document_id)
    found = start.cte("lineage", recursive=True)
    other = documents.alias("other")
    link = other.c.parent_id == found.c.id if down else other.c.id == found.c.parent_id
    return found.union_all(sa.select(other, (found.c.depth + 1).label("depth")).where(link))


def _filtered(filters: DocumentFilter) -> sa.Select[Any]:
    query = sa.select(documents)
    for column in ("type", "state", "status", "parent_id"):
        if column in filters:
            query = query.where(documents.c[column] == str(filters[column]))
    if "updated_after" in filters:
        query = query.where(documents.c.updated_at > filters["updated_after"])
    if "updated_before" in filters:
        query = query.where(documents.c.updated_at < filters["updated_before"])
    return query


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
        self, *, limit: int = 100, **filters: Unpack[DocumentFilter]
    ) -> builtins.list[DocumentRecord]:
        """Documents matching every given filter, most recently updated first."""
        query = _filtered(filters).order_by(documents.c.updated_at.desc(), documents.c.id)
        return await self._records(query.limit(limit))

    async def page(
        self,
        *,
        cursor: str | None = None,
        limit: int = 100,
        **filters: Unpack[DocumentFilter],
    ) -> DocumentPage:
        """A page of matching documents in creation order, after ``cursor``.

        Keyset pagination on an order that never changes, ``(created_at, id)``: going
        through every page sees each document exactly once, however the documents move
        meanwhile. The cursor is that key of the page's last document, encoded.

        Raises:
            ConfigurationError: when ``cursor`` is not one this method returned.
        """
        query = _filtered(filters)
        if cursor is not None:
            created, last_id = decode_cursor(cursor)
            query = query.where(
                sa.or_(
                    documents.c.created_at > created,
                    sa.and_(documents.c.created_at == created, documents.c.id > last_id),
                )
            )
        query = query.order_by(documents.c.created_at, documents.c.id).limit(limit)
        records = await self._records(query)
        last = records[-1] if len(records) == limit else None
        return DocumentPage(
            records=records,
            next_cursor=encode_cursor(last.created_at, last.id) if last else None,
        )

    async def history(self, document_id: str, after: int = -1) -> builtins.list[EventRecord]:
        """A document's events (those after sequence number ``after``), oldest first."""
        query = (
            sa.select(document_events)
            .where(document_events.c.document_id == document_id, document_events.c.seq > after)
            .order_by(document_events.c.seq)
        )
        async with self.engine.connect() as conn:
            result = await conn.execute(query)
            rows = [dict(r) for r in result.mappings()]
        for r in rows:
            r["started_at"], r["finished_at"] = _utc(r["started_at"]), _utc(r["finished_at"])
        return [EventRecord.model_validate(r) for r in rows]

    async def provisional(self, limit: int = 1000) -> builtins.list[DocumentRecord]:
        """Documents whose closed status waits for Temporal's confirmation (``closing``)."""
        query = sa.select(documents).where(documents.c.closing.is_not(None))
        return await self._records(query.order_by(documents.c.updated_at).limit(limit))

    async def children(self, document_id: str) -> builtins.list[DocumentRecord]:
        """Documents derived directly from ``document_id``."""
        query = sa.select(documents).where(documents.c.parent_id == document_id)
        return await self._records(query.order_by(documents.c.created_at, documents.c.id))

    async def tree(self, document_id: str) -> builtins.list[DocumentRecord]:
        """``document_id`` and everything derived from it, level by level (recursive CTE)."""
        tree = _lineage(document_id, down=True)
        return await self._records(sa.select(tree).order_by(tree.c.depth, tree.c.id))

    async def path(self, document_id: str) -> builtins.list[DocumentRecord]:
        """From the root down to ``document_id`` (empty when it is unknown)."""
        path = _lineage(document_id, down=False)
        return await self._records(sa.select(path).order_by(path.c.depth.desc()))

    async def tree_counts(self, root_id: str) -> dict[tuple[str, Status], int]:
        """How many documents of a lineage are in each (state, status): how far along it is."""
        counts: dict[tuple[str, Status], int] = {}
        for (_, state, status), n in (await self.status_counts(root_id=root_id)).items():
            counts[state, status] = counts.get((state, status), 0) + n
        return counts

    async def status_counts(
        self, *, type: str | None = None, root_id: str | None = None
    ) -> dict[tuple[str, str, Status], int]:
        """How many documents are in each (type, state, status), optionally of one type or
        one lineage."""
        query = sa.select(
            documents.c.type, documents.c.state, documents.c.status, sa.func.count()
        ).group_by(documents.c.type, documents.c.state, documents.c.status)
        if type is not None:
            query = query.where(documents.c.type == type)
        if root_id is not None:
            query = query.where(documents.c.root_id == root_id)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return {(t, state, Status(status)): n for t, state, status, n in rows}

    async def _records(self, query: sa.Select[Any]) -> builtins.list[DocumentRecord]:
        async with self.engine.connect() as conn:
            result = await conn.execute(query)
            return [_document(row) for row in result.mappings()]
