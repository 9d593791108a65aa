"""`projection verify` and `rebuild --force`: drift seen, and repaired, in every direction."""

from __future__ import annotations

import sqlalchemy as sa

from docstate.projection.schema import document_events, documents
from docstate.rebuild import collect, rebuild
from docstate.repair import Drift, ForcingWriter, verify
from tests import pipelines as p
from tests.conftest import Harness
from tests.test_engine import _closed, new_id, wait_for
from tests.test_rebuild import row_view


async def test_verify_names_each_drift_and_force_repairs_rows_ahead(any_harness: Harness) -> None:
    h = any_harness
    prefix = new_id("rp")
    deleted, behind, ahead, wrong, fine = (f"{prefix}-{n}" for n in range(5))
    query = f'WorkflowId STARTS_WITH "doc:{prefix}"'
    async with h.worker(*p.ALL):
        for doc_id in (deleted, behind, ahead, wrong, fine):
            await h.client.submit(b"x", type="skippable", id=doc_id)
        for doc_id in (deleted, behind, ahead, wrong, fine):
            await wait_for(lambda d=doc_id: _closed(h, d))
        truth_rows = row_view(await h.queries.list(limit=100))
        events_before = {d: await h.queries.history(d) for d in truth_rows}
        assert await verify(await collect(h.temporal, query=query), h.queries) == []

        true_version = truth_rows[ahead][3]
        async with h.engine.begin() as conn:
            await conn.execute(
                document_events.delete().where(document_events.c.document_id == deleted)
            )
            await conn.execute(documents.delete().where(documents.c.id == deleted))
            await conn.execute(
                documents.update().where(documents.c.id == behind).values(state="s0", version=1)
            )
            # ahead: a closed-looking row at a version Temporal never reached, and its event
            await conn.execute(
                documents.update()
                .where(documents.c.id == ahead)
                .values(status="waiting", error="phantom", version=true_version + 5000)
            )
            phantom = dict(events_before[ahead][-1].model_dump(), seq=true_version + 5000)
            await conn.execute(document_events.insert(), [{**phantom, "status": "waiting"}])
            await conn.execute(
                documents.update().where(documents.c.id == wrong).values(state="nowhere")
            )

        drift = await verify(await collect(h.temporal, query=query), h.queries)
        assert {(d.document_id, d.drift) for d in drift} == {
            (deleted, Drift.MISSING),
            (behind, Drift.BEHIND),
            (ahead, Drift.AHEAD),
            (wrong, Drift.WRONG),
        }
        assert "state" in next(d.detail for d in drift if d.drift is Drift.WRONG)

        # The fenced rebuild mends what is missing or behind, and cannot touch the rest.
        await rebuild(h.temporal, h.writer, query=query)
        drift = await verify(await collect(h.temporal, query=query), h.queries)
        assert {(d.document_id, d.drift) for d in drift} == {
            (ahead, Drift.AHEAD),
            (wrong, Drift.WRONG),
        }

        report = await rebuild(h.temporal, ForcingWriter(h.engine), query=query)
        assert report.documents == 5 and report.unanswered == []
        assert await verify(await collect(h.temporal, query=query), h.queries) == []
        assert row_view(await h.queries.list(limit=100)) == truth_rows
        async with h.engine.connect() as conn:
            beyond = await conn.scalar(
                sa.select(sa.func.count())
                .select_from(document_events)
                .where(document_events.c.seq > true_version)
                .where(document_events.c.document_id == ahead)
            )
        assert beyond == 0  # the phantom event went with the phantom row
        # forcing twice changes nothing
        await rebuild(h.temporal, ForcingWriter(h.engine), query=query)
        assert row_view(await h.queries.list(limit=100)) == truth_rows


async def test_a_local_run_under_way_is_not_drift_and_force_leaves_its_rows(
    harness: Harness,
) -> None:
    """Mid-run the row is ahead of Temporal (the run wrote parse's row, the workflow has
    not heard of it yet): that is the run's progress, not drift to repair."""
    h, doc_id = harness, new_id("flight")
    query = f'WorkflowId = "doc:{doc_id}"'
    async with h.worker(*p.ALL):
        # held first, so the run is not the document's first (whose snapshot is empty)
        await h.client.submit(b"x", type="dozer", id=doc_id, metadata={"sleep": 60}, hold=True)
        assert (await h.client.wait(doc_id, timeout=30)).status.value == "paused"
        await h.client.resume(doc_id)
        await wait_for(lambda: p.calls[f"{doc_id}:slow"] == 1)  # parse written, doze napping
        row = await h.queries.get(doc_id)
        assert row is not None and row.state == "s1"
        truth = await collect(h.temporal, query=query)
        newest = truth.newest(doc_id)
        assert newest is not None and newest.version < row.version  # Temporal is behind
        assert await verify(truth, h.queries) == []
        await rebuild(h.temporal, ForcingWriter(h.engine), query=query)
        after = await h.queries.get(doc_id)
        assert after is not None and (after.state, after.version) == ("s1", row.version)
        assert [e.transition for e in await h.queries.history(doc_id)][-1] == "parse"
        await h.client.cancel(doc_id)
        await wait_for(lambda: _closed(h, doc_id))
