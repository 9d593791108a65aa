"""The catalogue of document types: published by workers, read by everyone else."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from docstate.model import DocumentType
from docstate.operations import OperationsPipeline
from docstate.projection.schema import document_types


class TypeRecord(BaseModel):
    """A published document type: its name, the hash of its spec, and the spec itself
    (states, transitions with their rules, retry policies and timeouts)."""

    name: str
    version: str
    spec: dict[str, Any]
    published_at: datetime


def spec_of(pipeline: DocumentType) -> tuple[str, dict[str, Any]]:
    """The JSON spec of ``pipeline`` and its version (sha256 of the canonical JSON)."""
    spec = pipeline.spec().model_dump(mode="json")
    if isinstance(pipeline, OperationsPipeline):
        # Prerequisites are not part of the workflow's shape, but callers plan with them.
        spec["operations"] = [
            {"name": op.name, "requires": list(op.requires)} for op in pipeline.operations
        ]
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(canonical).hexdigest(), spec


async def publish_types(engine: AsyncEngine, pipelines: Iterable[DocumentType]) -> None:
    """Record the specs of ``pipelines`` (one upsert per type; the newest wins)."""
    now = datetime.now(UTC)
    rows = [
        {"name": p.name, "version": version, "spec": spec, "published_at": now}
        for p in pipelines
        for version, spec in [spec_of(p)]
    ]
    if not rows:
        return
    # Both dialects upsert the same way: workers starting together never collide.
    insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
    statement = insert(document_types)
    statement = statement.on_conflict_do_update(
        index_elements=[document_types.c.name],
        set_={
            "version": statement.excluded.version,
            "spec": statement.excluded.spec,
            "published_at": statement.excluded.published_at,
        },
    )
    async with engine.begin() as conn:
        await conn.execute(statement, rows)


async def published_types(engine: AsyncEngine) -> list[TypeRecord]:
    """Every published type, by name."""
    async with engine.connect() as conn:
        result = await conn.execute(sa.select(document_types).order_by(document_types.c.name))
        rows = [dict(r) for r in result.mappings()]
    for r in rows:
        if r["published_at"].tzinfo is None:  # SQLite hands back naive datetimes
            r["published_at"] = r["published_at"].replace(tzinfo=UTC)
    return [TypeRecord.model_validate(r) for r in rows]
