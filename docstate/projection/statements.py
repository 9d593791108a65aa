"""The writer's SQL: one statement per batch on PostgreSQL, three on SQLite.

The rules they keep are the writer's (see :mod:`docstate.projection.writer`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.expression import Executable

from docstate.document import Status
from docstate.projection.records import ATTEMPT_SLOTS, ProjectionWrite
from docstate.projection.schema import document_events, documents

CLOSED = [s.value for s in Status if s.closed]

# The two dialects' INSERTs, which both have ON CONFLICT clauses of the same shape.
_Insert = TypeVar("_Insert", postgresql.Insert, sqlite.Insert)


def _new_events_only(insert: _Insert) -> _Insert:
    """An event row already written (same document and seq) is left as it is."""
    return insert.on_conflict_do_nothing(index_elements=["document_id", "seq"])


def _step_not_passed(document_id: Any, seq: Any) -> sa.ColumnElement[bool]:
    """No document row is newer than this event: a discarded attempt's late write is."""
    return ~sa.exists().where(documents.c.id == document_id, documents.c.version > seq)


def _literal(value: str) -> sa.ColumnElement[Any]:
    # A literal, not a parameter: SQLite's statements run as executemany.
    return sa.literal_column(f"'{value}'")


def _newer_versions_only(upsert: _Insert) -> _Insert:
    """A document row is replaced only by a newer version of it (every column but the key
    and the creation time, from the proposed row), or confirmed at its own version; a
    closed row changes only by Temporal's own word (a confirmed closed status: a rebuild
    repairing a row that drifted)."""
    new = upsert.excluded
    columns: dict[str, Any] = {
        c.name: new[c.name] for c in documents.columns if c.name not in ("id", "created_at")
    }
    # Provisional: keep showing the status the row has until Temporal confirms.
    columns["status"] = sa.case((new.closing.is_(None), new.status), else_=documents.c.status)
    # A status change in the same state (waiting, paused) keeps the attempt count.
    columns["attempt"] = sa.case(
        (sa.and_(new.attempt == 0, new.state == documents.c.state), documents.c.attempt),
        else_=new.attempt,
    )
    return upsert.on_conflict_do_update(
        index_elements=["id"],
        set_=columns,
        where=sa.and_(
            sa.or_(
                sa.and_(*(documents.c.status != _literal(s) for s in CLOSED)),
                sa.and_(
                    new.closing.is_(None), sa.or_(*(new.status == _literal(s) for s in CLOSED))
                ),
            ),
            sa.or_(
                documents.c.version < new.version,
                sa.and_(documents.c.version == new.version, documents.c.closing == new.status),
            ),
        ),
    )


def _superseding(document_id: Any, floor: Any, seq: Any) -> sa.Update:
    """Mark the earlier successes of an event's step (from ``floor`` up to the event)."""
    e = document_events.c
    return (
        sa.update(document_events)
        .where(
            e.document_id == document_id,
            e.seq >= floor,
            e.seq < seq,
            e.transition.is_not(None),
            e.error.is_(None),
            e.attempt > 0,
            e.superseded.is_(False),
            _step_not_passed(document_id, seq),
        )
        .values(superseded=True)
    )


@functools.cache
def sqlite_statements() -> tuple[Executable, Executable, Executable]:
    """The three write statements, built once: with rows passed as executemany
    parameters, SQLAlchemy compiles each once and batches the rows itself."""
    fresh = sa.select(
        *(sa.bindparam(c.name, type_=c.type).label(c.name) for c in document_events.columns)
    ).where(_step_not_passed(sa.bindparam("document_id"), sa.bindparam("seq")))
    events = sqlite.insert(document_events).from_select(
        [c.name for c in document_events.columns], fresh
    )
    supersede = _superseding(
        sa.bindparam("s_document_id"), sa.bindparam("s_floor"), sa.bindparam("s_seq")
    )
    return supersede, _new_events_only(events), _newer_versions_only(sqlite.insert(documents))


def _unnest(table: sa.Table, prefix: str) -> sa.Select[Any]:
    """``SELECT unnest(:<prefix><col>), ...``: one array parameter per column."""
    columns = []
    for column in table.columns:
        item = JSONB() if isinstance(column.type, sa.JSON) else column.type
        array = sa.bindparam(prefix + column.name, type_=postgresql.ARRAY(item))
        columns.append(sa.func.unnest(array).label(column.name))
    return sa.select(*columns)


@functools.cache
def postgresql_statement() -> Executable:
    proposed = _unnest(document_events, "e_").subquery("proposed")
    fresh = sa.select(*proposed.c).where(_step_not_passed(proposed.c.document_id, proposed.c.seq))
    events = _new_events_only(
        postgresql.insert(document_events).from_select(
            [c.name for c in document_events.columns], fresh
        )
    ).cte("new_events")
    later = sa.select(
        sa.func.unnest(sa.bindparam("s_document_id", type_=postgresql.ARRAY(sa.String))).label(
            "document_id"
        ),
        sa.func.unnest(sa.bindparam("s_floor", type_=postgresql.ARRAY(sa.BigInteger))).label(
            "floor"
        ),
        sa.func.unnest(sa.bindparam("s_seq", type_=postgresql.ARRAY(sa.BigInteger))).label("seq"),
    ).subquery("later")
    superseded = _superseding(later.c.document_id, later.c.floor, later.c.seq).cte("superseded")
    upsert = postgresql.insert(documents).from_select(
        [c.name for c in documents.columns], _unnest(documents, "d_")
    )
    return _newer_versions_only(upsert).add_cte(events).add_cte(superseded)


def as_arrays(
    events: list[dict[str, Any]], docs: list[dict[str, Any]], later: list[dict[str, Any]]
) -> dict[str, Any]:
    """Rows as one list per column, the parameters of :func:`postgresql_statement`."""
    params = {f"e_{c.name}": [row[c.name] for row in events] for c in document_events.columns}
    params |= {f"d_{c.name}": [row[c.name] for row in docs] for c in documents.columns}
    params |= {key: [row[key] for row in later] for key in ("s_document_id", "s_floor", "s_seq")}
    return params


def supersedes(w: ProjectionWrite) -> dict[str, Any]:
    """Which earlier events ``w`` supersedes: its own step's, and for a ``waiting`` (which
    follows a step that failed for good) the step before too."""
    step = w.version // ATTEMPT_SLOTS - (1 if w.status is Status.WAITING else 0)
    return {"s_document_id": w.document_id, "s_floor": step * ATTEMPT_SLOTS, "s_seq": w.version}


def event_row(w: ProjectionWrite) -> dict[str, Any]:
    return {**w.event().model_dump(), "status": w.status.value}


def document_rows(writes: Sequence[ProjectionWrite]) -> list[dict[str, Any]]:
    # One row per document (its newest write): an upsert may not touch a row twice.
    # created_at is the document's earliest write; it only counts when the row is new.
    newest: dict[str, ProjectionWrite] = {}
    earliest: dict[str, datetime] = {}
    for w in writes:
        seen = newest.get(w.document_id)
        if seen is None or (seen.version, seen.confirmed) < (w.version, w.confirmed):
            newest[w.document_id] = w
        earliest[w.document_id] = min(w.at, earliest.get(w.document_id, w.at))
    return [document_row(w, earliest[w.document_id]) for w in newest.values()]


def document_row(w: ProjectionWrite, created_at: datetime) -> dict[str, Any]:
    ref = w.content_ref
    provisional = w.status.closed and not w.confirmed
    return {
        "id": w.document_id,
        "type": w.type,
        "state": w.state,
        # a new row's status until Temporal confirms (an existing row keeps its own)
        "status": Status.RUNNING.value if provisional else w.status.value,
        "closing": w.status.value if provisional else None,
        "parent_id": w.parent_id,
        "root_id": w.root_id or w.document_id,
        "workflow_id": w.workflow_id,
        "run_id": w.run_id,
        "attempt": w.attempt,
        "error": w.error,
        "content_size": ref.size if ref else None,
        "content_sha256": ref.sha256 if ref else None,
        "metadata": w.metadata,
        "created_at": created_at,
        "updated_at": w.at,
        "version": w.version,
    }
