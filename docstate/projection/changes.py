"""What changed for many watched documents, in one indexed query.

The client's watcher asks, once per tick, for every watched document whose row has moved
past a version it knows, together with that document's events after a sequence number it
knows. The watched documents travel as arrays (PostgreSQL, ``unnest``) or as one JSON
array (SQLite, ``json_each``): the statement and its parameters stay the same size
however many documents are watched, and each document costs two primary-key lookups
(``documents.id``, ``document_events (document_id, seq)``), so no new index is needed.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine

from docstate.projection.queries import _document, _utc
from docstate.projection.records import DocumentRecord, EventRecord
from docstate.projection.schema import document_events, documents

NO_EVENTS = 2**62
"""An ``after`` no sequence number reaches: the document row only, none of its events."""


@dataclass(frozen=True)
class Mark:
    """How far a watched document has been read.

    Attributes:
        document_id: The document.
        version: Return its row only once its version is above this.
        after: With the row, its events whose seq is above this (:data:`NO_EVENTS`: none).
    """

    document_id: str
    version: int
    after: int = NO_EVENTS


@dataclass
class Change:
    """A watched document's row and, oldest first, its new events."""

    record: DocumentRecord
    events: list[EventRecord] = field(default_factory=list)


_EVENT_PREFIX = "e_"


def _changes_from(watched: Any, doc_id: Any, version: Any, after: Any) -> sa.Select[Any]:
    moved = sa.and_(documents.c.id == doc_id, documents.c.version > version)
    newer = sa.and_(document_events.c.document_id == documents.c.id, document_events.c.seq > after)
    events = [c.label(_EVENT_PREFIX + c.name) for c in document_events.columns]
    return (
        sa.select(documents, *events)
        .select_from(watched.join(documents, moved).outerjoin(document_events, newer))
        .order_by(documents.c.id, document_events.c.seq)
    )


@functools.cache
def _postgresql_query() -> sa.Select[Any]:
    arrays = (
        sa.bindparam("ids", type_=postgresql.ARRAY(sa.String)),
        sa.bindparam("versions", type_=postgresql.ARRAY(sa.BigInteger)),
        sa.bindparam("afters", type_=postgresql.ARRAY(sa.BigInteger)),
    )
    watched = (
        sa.func.unnest(*arrays)
        .table_valued(
            sa.column("id", sa.String),
            sa.column("version", sa.BigInteger),
            sa.column("after", sa.BigInteger),
        )
        .render_derived(name="watched")
    )
    return _changes_from(watched, watched.c.id, watched.c.version, watched.c.after)


@functools.cache
def _sqlite_query() -> sa.Select[Any]:
    watched = (
        sa.func.json_each(sa.bindparam("watched", type_=sa.String))
        .table_valued(sa.column("value", sa.String))
        .alias("watched")
    )

    def item(i: int) -> Any:
        return sa.func.json_extract(watched.c.value, f"$[{i}]")

    return _changes_from(watched, item(0), item(1), item(2))


async def read_changes(engine: AsyncEngine, marks: Sequence[Mark]) -> list[Change]:
    """One query: each watched document whose row moved past its mark, with its new events.

    Documents without a row yet are left out, as are those that have not moved.
    """
    if not marks:
        return []
    if engine.dialect.name == "postgresql":
        query = _postgresql_query()
        params: dict[str, Any] = {
            "ids": [m.document_id for m in marks],
            "versions": [m.version for m in marks],
            "afters": [m.after for m in marks],
        }
    else:
        query = _sqlite_query()
        params = {"watched": json.dumps([[m.document_id, m.version, m.after] for m in marks])}
    async with engine.connect() as conn:
        rows = (await conn.execute(query, params)).mappings().all()
    changes: dict[str, Change] = {}
    for row in rows:
        data = dict(row)
        event = {k[len(_EVENT_PREFIX) :]: data.pop(k) for k in list(data) if k.startswith("e_")}
        change = changes.get(data["id"])
        if change is None:
            change = changes[data["id"]] = Change(_document(data))  # type: ignore[arg-type]
        if event["seq"] is not None:  # the outer join's empty side: no new events
            event["started_at"] = _utc(event["started_at"])
            event["finished_at"] = _utc(event["finished_at"])
            change.events.append(EventRecord.model_validate(event))
    return list(changes.values())
