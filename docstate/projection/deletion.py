"""Deleting ended documents from the projection, and finding the blobs they leave unused."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from docstate.projection.schema import document_events, documents


async def delete_documents(engine: AsyncEngine, ids: Sequence[str]) -> list[str]:
    """Delete the rows and events of ``ids``; return the content hashes no other document
    refers to any more (content is stored once per hash, so a blob may be shared)."""
    if not ids:
        return []
    async with engine.begin() as conn:
        hashes = set(
            (
                await conn.execute(
                    sa.select(documents.c.content_sha256).where(
                        documents.c.id.in_(ids), documents.c.content_sha256.is_not(None)
                    )
                )
            ).scalars()
        )
        await conn.execute(document_events.delete().where(document_events.c.document_id.in_(ids)))
        await conn.execute(documents.delete().where(documents.c.id.in_(ids)))
        if not hashes:
            return []
        still_used = set(
            (
                await conn.execute(
                    sa.select(documents.c.content_sha256)
                    .where(documents.c.content_sha256.in_(hashes))
                    .distinct()
                )
            ).scalars()
        )
    return sorted(hashes - still_used)
