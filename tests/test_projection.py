"""The projection on PostgreSQL and SQLite: idempotent, ordered, queryable."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from docstate import ConfigurationError, ContentRef, Status
from docstate.projection import (
    CoalescingWriter,
    ProjectionQueries,
    ProjectionWrite,
    ProjectionWriter,
    create_engine,
    ensure_current,
    upgrade,
)
from docstate.projection.records import version_of
from docstate.projection.schema import document_events

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def write(
    doc: str, step: int, state: str, status: Status = Status.RUNNING, attempt: int = 0, **kw: object
) -> ProjectionWrite:
    return ProjectionWrite(
        document_id=doc,
        type="invoice",
        version=version_of(step, attempt),
        attempt=attempt,
        state=state,
        status=status,
        at=T0 + timedelta(seconds=step),
        **kw,
    )


@pytest.fixture
async def projection(database_url: str):
    engine = create_engine(database_url)
    async with ProjectionWriter(engine) as writer:
        yield writer, ProjectionQueries(engine)
    await engine.dispose()


async def test_an_older_write_after_a_newer_one_changes_nothing(projection) -> None:
    writer, queries = projection
    await writer.apply([write("a", 1, "new"), write("a", 3, "parsed")])
    await writer.apply([write("a", 2, "detected", error="late")])
    record = await queries.get("a")
    assert (record.state, record.version, record.error) == ("parsed", version_of(3), None)
    assert record.created_at == T0 + timedelta(seconds=1)  # set once, by the first write
    assert record.updated_at == T0 + timedelta(seconds=3)
    # from a step the document has passed: a discarded attempt's late write, not history
    assert [e.seq for e in await queries.history("a")] == [1000, 3000]


async def test_applying_the_same_writes_twice_changes_nothing(projection) -> None:
    writer, queries = projection
    batch = [write("a", 1, "new"), write("a", 2, "parsed", attempt=2, error="boom")]
    await writer.apply(batch)
    await writer.apply(batch)
    await writer.apply(list(reversed(batch)))
    history = await queries.history("a")
    assert [(e.seq, e.attempt, e.error) for e in history] == [(1000, 0, None), (2002, 2, "boom")]
    assert (await queries.get("a")).version == 2002


async def test_a_later_attempt_of_the_same_step_wins(projection) -> None:
    writer, queries = projection
    await writer.apply([write("a", 2, "parsed", attempt=3)])
    await writer.apply([write("a", 2, "new", attempt=1, error="first attempt failed")])
    record = await queries.get("a")
    assert (record.state, record.attempt) == ("parsed", 3)


async def test_rows_carry_content_reference_metadata_and_lineage(projection) -> None:
    writer, queries = projection
    ref = ContentRef(sha256="ab" * 32, size=12)
    await writer.apply(
        [
            write("root", 1, "new"),
            write(
                "child",
                1,
                "new",
                parent_id="root",
                root_id="root",
                content_ref=ref,
                metadata={"page": 3, "tags": ["a"]},
            ),
        ]
    )
    child = await queries.get("child")
    assert (child.parent_id, child.root_id, child.content_ref) == ("root", "root", ref)
    assert child.metadata == {"page": 3, "tags": ["a"]}
    assert (await queries.get("root")).root_id == "root"
    assert await queries.get("missing") is None


async def test_list_filters_by_type_state_and_status(projection) -> None:
    writer, queries = projection
    await writer.apply(
        [
            write("a", 1, "parsed"),
            write("b", 2, "parsed", Status.WAITING, error="bad"),
            write("c", 3, "done", Status.COMPLETED, confirmed=True),
        ]
    )
    assert [r.id for r in await queries.list(state="parsed")] == ["b", "a"]  # newest first
    assert [r.id for r in await queries.list(status=Status.WAITING)] == ["b"]
    assert [r.id for r in await queries.list(type="invoice", state="done")] == ["c"]
    assert await queries.list(type="receipt") == []
    assert len(await queries.list(limit=2)) == 2


async def test_many_documents_in_one_batch(projection) -> None:
    writer, queries = projection
    await writer.apply([write(f"d{i}", s, f"s{s}") for i in range(50) for s in (1, 2, 3)])
    rows = await queries.list(limit=100)
    assert len(rows) == 50
    assert {r.state for r in rows} == {"s3"}
    async with writer.engine.connect() as conn:
        assert await conn.scalar(sa.select(sa.func.count()).select_from(document_events)) == 150


async def test_schema_check_names_the_fix(tmp_path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(ConfigurationError, match="run `docstate db upgrade`"):
        await ensure_current(engine)
    await engine.dispose()


def test_bad_database_urls_are_named() -> None:
    with pytest.raises(ConfigurationError, match="driver 'mysql' is not supported"):
        create_engine("mysql://localhost/x")
    with pytest.raises(ConfigurationError, match="malformed"):
        create_engine("not a url")


class PoisonedWriter(ProjectionWriter):
    """A database that rejects any transaction holding the write of document 'poison'."""

    async def apply(self, writes: Sequence[ProjectionWrite]) -> None:
        if any(w.document_id == "poison" for w in writes):
            raise OperationalError("INSERT", {}, ValueError("rejected"))
        await super().apply(writes)


async def test_concurrent_writes_share_transactions(database_url: str) -> None:
    engine = create_engine(database_url)
    async with CoalescingWriter(ProjectionWriter(engine)) as writer:
        await asyncio.gather(*(writer.apply([write(f"d{i}", 1, "new")]) for i in range(200)))
        assert len(await ProjectionQueries(engine).list(limit=300)) == 200
        assert writer.transactions < 50  # 200 concurrent callers, far fewer commits
    await engine.dispose()


async def test_one_bad_write_fails_only_its_caller(database_url: str) -> None:
    engine = create_engine(database_url)
    async with CoalescingWriter(PoisonedWriter(engine)) as writer:
        results = await asyncio.gather(
            *(writer.apply([write(name, 1, "new")]) for name in ["a", "poison", "b", "c"]),
            return_exceptions=True,
        )
    assert [type(r).__name__ for r in results] == ["NoneType", "OperationalError"] + [
        "NoneType"
    ] * 2
    assert {r.id for r in await ProjectionQueries(engine).list()} == {"a", "b", "c"}
    await engine.dispose()


async def test_migration_0002_drops_content_ref_and_keeps_every_row(tmp_path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    await upgrade(url, "0001")
    engine = create_engine(url)
    sha = "ab" * 32
    async with engine.begin() as conn:
        await conn.execute(
            sa.text(
                "INSERT INTO documents (id, type, state, status, root_id, attempt, content_ref,"
                " content_size, content_sha256, metadata, created_at, updated_at, version)"
                " VALUES ('old', 'invoice', 'new', 'running', 'old', 0, :sha, 5, :sha, '{}',"
                " :at, :at, 1000)"
            ),
            {"sha": sha, "at": T0},
        )
    await upgrade(url)
    await ensure_current(engine)  # at the newest revision now
    async with engine.connect() as conn:
        columns = await conn.run_sync(lambda c: sa.inspect(c).get_columns("documents"))
    assert "content_ref" not in {c["name"] for c in columns}
    record = await ProjectionQueries(engine).get("old")
    assert record is not None and record.content_ref == ContentRef(sha256=sha, size=5)
    await engine.dispose()


async def test_the_projection_has_no_content_ref_column(database_url: str) -> None:
    engine = create_engine(database_url)
    async with engine.connect() as conn:
        columns = await conn.run_sync(lambda c: sa.inspect(c).get_columns("documents"))
    await engine.dispose()
    names = {c["name"] for c in columns}
    assert {"content_sha256", "content_size"} <= names and "content_ref" not in names


def test_the_migrations_form_one_line_of_revisions() -> None:
    """Branches that each add a migration must be chained when they meet: one head."""
    from alembic.script import ScriptDirectory

    from docstate.projection.migrate import alembic_config

    assert len(ScriptDirectory.from_config(alembic_config("")).get_heads()) == 1
