"""Seeing and mending drift between the projection and Temporal.

``verify`` compares each document's row with the newest write its workflow stands for
and names every difference. ``ForcingWriter`` writes Temporal's truth without the
version fence, for rows the fence protects although they are wrong: rows *ahead* of
Temporal (a hand edit, a restored backup, an outcome Temporal discarded).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncEngine

from docstate.document import Status
from docstate.projection.queries import ProjectionQueries
from docstate.projection.records import DocumentRecord, ProjectionWrite
from docstate.projection.schema import document_events, documents
from docstate.projection.statements import document_row, event_row
from docstate.rebuild import Truth


class Drift(enum.StrEnum):
    MISSING = "missing"
    """Temporal has the document; the projection has no row for it."""
    BEHIND = "behind"
    """The row is at an older version than Temporal's (a write has not landed yet)."""
    AHEAD = "ahead"
    """The row is at a newer version than Temporal has: the fence keeps it; ``--force``."""
    WRONG = "wrong"
    """Same version, different content: the row was changed outside DocState."""


class Drifted(BaseModel):
    """One document whose row does not match Temporal."""

    document_id: str
    drift: Drift
    detail: str


def in_flight(truth: ProjectionWrite) -> bool:
    """Whether ``truth`` is from a document whose workflow is running a step: its row may
    then be ahead of it, written by the step's activity (a local run writes a row per
    transition) before Temporal records the step. Such a row is not drift, and a forced
    rebuild leaves it and its events alone."""
    return not truth.confirmed and truth.status in (Status.PENDING, Status.RUNNING)


COMPARED = ("state", "status", "error", "parent_id", "type")
"""The row's fields that must equal Temporal's at the same version."""


def compare(truth: ProjectionWrite, row: DocumentRecord | None) -> Drifted | None:
    """How ``row`` differs from the newest write Temporal stands for (None: it does not)."""
    doc_id = truth.document_id
    said = f"Temporal: {truth.state}/{truth.status.value} v{truth.version}"
    if row is None:
        return Drifted(document_id=doc_id, drift=Drift.MISSING, detail=said)
    has = f"projection: {row.state}/{row.status.value} v{row.version}"
    if row.version < truth.version:
        return Drifted(document_id=doc_id, drift=Drift.BEHIND, detail=f"{has}; {said}")
    if row.version > truth.version:
        if in_flight(truth):
            return None
        return Drifted(document_id=doc_id, drift=Drift.AHEAD, detail=f"{has}; {said}")
    wrong = [f for f in COMPARED if getattr(row, f) != getattr(truth, f)]
    sha = truth.content_ref.sha256 if truth.content_ref else None
    if (row.content_ref.sha256 if row.content_ref else None) != sha:
        wrong.append("content")
    if wrong:
        return Drifted(
            document_id=doc_id, drift=Drift.WRONG, detail=f"{', '.join(wrong)} differ; {has}"
        )
    return None


async def verify(truth: Truth, queries: ProjectionQueries) -> list[Drifted]:
    """Every document of ``truth`` whose projection row differs from it, by id."""
    drifted = []
    for doc_id in sorted(truth.writes):
        newest = truth.newest(doc_id)
        if newest is None:
            continue
        found = compare(newest, await queries.get(doc_id))
        if found is not None:
            drifted.append(found)
    return drifted


class ForcingWriter:
    """A :class:`~docstate.projection.Writer` that writes its writes as the truth.

    For each document in a batch, its row becomes the batch's newest write (whatever
    version the row had), the events of the batch replace those with the same sequence
    number, and events beyond the newest write are deleted: they record what Temporal
    does not have; except for a document :func:`in_flight`, whose row and events ahead
    may be its running step's. Only for repair: everyday writes need the fence.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def apply(self, writes: Sequence[ProjectionWrite]) -> None:
        """Overwrite each document of ``writes`` with its newest write (one transaction)."""
        by_document: dict[str, list[ProjectionWrite]] = {}
        for w in writes:
            by_document.setdefault(w.document_id, []).append(w)
        async with self.engine.begin() as conn:
            for doc_id, mine in by_document.items():
                newest = max(mine, key=lambda w: w.version)
                seqs = sorted({w.version for w in mine})
                moving = in_flight(newest)  # rows beyond it may be its running step's
                replaced = document_events.c.seq.in_(seqs)
                beyond = document_events.c.seq > newest.version
                await conn.execute(
                    document_events.delete().where(
                        document_events.c.document_id == doc_id,
                        replaced if moving else sa.or_(replaced, beyond),
                    )
                )
                unique = {w.version: w for w in mine}
                await conn.execute(
                    document_events.insert(), [event_row(w) for w in unique.values()]
                )
                created = await conn.scalar(
                    sa.select(documents.c.created_at).where(documents.c.id == doc_id)
                )
                row = document_row(newest, created or min(w.at for w in mine))
                if created is None:
                    await conn.execute(documents.insert(), [row])
                else:
                    fence = documents.c.version < newest.version if moving else sa.true()
                    await conn.execute(
                        documents.update().where(documents.c.id == doc_id, fence).values(**row)
                    )

    async def close(self) -> None:
        """Nothing to release: each batch takes a pooled connection and gives it back."""
