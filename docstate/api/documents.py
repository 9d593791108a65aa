"""Documents: history, lineage and content of any document, the CLI's read commands."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from docstate.api.deps import ServicesDep
from docstate.api.errors import RESPONSES
from docstate.api.models import EventOut, ObjectOut
from docstate.api.objects import DocId
from docstate.errors import ApiError

router = APIRouter(prefix="/api/v1/documents", tags=["documents"], responses=RESPONSES)


@router.get("/{document_id:path}/history", response_model=list[EventOut])
async def history(document_id: DocId, services: ServicesDep) -> list[EventOut]:
    """Every recorded attempt and status change, oldest first."""
    return [EventOut.of(e) for e in await services.client.history(document_id)]


@router.get("/{document_id:path}/tree", response_model=list[ObjectOut])
async def tree(document_id: DocId, request: Request, services: ServicesDep) -> list[ObjectOut]:
    """The document and everything derived from it, level by level."""
    base = services.base_url(request)
    return [ObjectOut.of(r, base) for r in await services.client.tree(document_id)]


@router.get("/{document_id:path}/children", response_model=list[ObjectOut])
async def children(document_id: DocId, request: Request, services: ServicesDep) -> list[ObjectOut]:
    """Documents derived directly from this one."""
    await services.client.get(document_id)  # 404 for an unknown id, not an empty list
    base = services.base_url(request)
    return [ObjectOut.of(r, base) for r in await services.client.children(document_id)]


@router.get("/{document_id:path}/path", response_model=list[ObjectOut])
async def lineage(document_id: DocId, request: Request, services: ServicesDep) -> list[ObjectOut]:
    """The lineage from the original document down to this one."""
    base = services.base_url(request)
    return [ObjectOut.of(r, base) for r in await services.client.path(document_id)]


@router.get(
    "/{document_id:path}/content",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
async def content(document_id: DocId, services: ServicesDep) -> StreamingResponse:
    """The document's current content, streamed (its sha256 is checked as it is read)."""
    record = await services.client.get(document_id)
    ref = record.content_ref
    if ref is None:
        raise ApiError(
            404,
            "no_content",
            f"document {document_id!r} has no content",
            {"document_id": document_id},
        )
    chunks = services.client.content(document_id)
    first = await anext(chunks, b"")  # a missing blob is a clean error, not a cut stream

    async def body() -> AsyncIterator[bytes]:
        yield first
        async for chunk in chunks:
            yield chunk

    filename = str(record.metadata.get("filename") or document_id.rsplit("/", 1)[-1])
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in filename)
    headers = {
        "Content-Length": str(ref.size),
        "Content-Disposition": f'attachment; filename="{safe}"',
        "ETag": f'"{ref.sha256}"',
    }
    return StreamingResponse(body(), media_type="application/octet-stream", headers=headers)
