"""Rebuilding the projection from Temporal: after a loss, after drift, twice."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from docstate.projection.records import DocumentRecord
from docstate.projection.schema import document_events, documents
from docstate.rebuild import rebuild
from tests import pipelines as p
from tests.conftest import Harness
from tests.test_engine import _closed, new_id, wait_for


def row_view(rows: list[DocumentRecord]) -> dict[str, tuple[Any, ...]]:
    return {
        r.id: (
            r.type,
            r.state,
            r.status,
            r.version,
            r.parent_id,
            r.root_id,
            r.metadata,
            r.content_ref,
        )
        for r in rows
    }


async def test_a_lost_or_drifted_projection_is_rebuilt_from_temporal(harness: Harness) -> None:
    ids = [new_id("rb") for _ in range(3)]
    root = new_id("rbfan")
    p.failures_left[ids[0]] = 100  # one waits, the others complete
    query = 'WorkflowId STARTS_WITH "doc:rb"'
    async with harness.worker(*p.ALL):
        for doc_id in ids:
            await harness.client.submit(b"x", type="basic", id=doc_id)
        await harness.client.submit(b"x", type="fan", id=root, metadata={"children": 3})
        for doc_id in ids[1:]:
            await wait_for(lambda d=doc_id: _closed(harness, d))
        await wait_for(lambda: _closed(harness, root))
        await harness.client.wait(ids[0], timeout=30)
        before = row_view(await harness.queries.list(limit=100))
        assert len(before) == 3 + 1 + 3

        async with harness.engine.begin() as conn:  # the table is lost
            await conn.execute(document_events.delete())
            await conn.execute(documents.delete())
        report = await rebuild(harness.temporal, harness.writer, query=query)
        assert report.unanswered == [] and report.documents == 7
        assert row_view(await harness.queries.list(limit=100)) == before

        async with harness.engine.begin() as conn:  # a row drifts back
            await conn.execute(
                documents.update().where(documents.c.id == ids[1]).values(state="s0", version=1)
            )
        await rebuild(harness.temporal, harness.writer, query=query)
        await rebuild(harness.temporal, harness.writer, query=query)  # idempotent
        after = row_view(await harness.queries.list(limit=100))
    assert after == before
    async with harness.engine.connect() as conn:
        seqs = (
            (
                await conn.execute(
                    sa.select(document_events.c.seq).where(document_events.c.document_id == ids[2])
                )
            )
            .scalars()
            .all()
        )
    assert sorted(seqs) == [1000, 2001, 3001, 4001]  # every status change, once
