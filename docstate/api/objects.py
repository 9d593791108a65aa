"""Objects with operations: ``/api/v1/process``, progress, listing, actions, delete."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request

from docstate.api.deps import Services, ServicesDep, check_callback
from docstate.api.errors import RESPONSES
from docstate.api.lookup import recorded
from docstate.api.models import (
    ActionResult,
    Deleted,
    ObjectOut,
    ObjectPage,
    ProcessAccepted,
    ProcessRequest,
    Progress,
)
from docstate.api.plans import check_operations, progress_of
from docstate.client import Content
from docstate.document import Status
from docstate.errors import ApiError, InvalidTransition
from docstate.projection.deletion import delete_documents

router = APIRouter(prefix="/api/v1", tags=["objects"], responses=RESPONSES)

ID_PATTERN = r"^[A-Za-z0-9._:@/+=-]+$"
DocId = Annotated[str, Path(pattern=ID_PATTERN, max_length=200)]
CANCEL_WAIT = 10.0
Action = Literal["cancel", "retry", "skip", "pause", "resume"]


def _links(request: Request, services: Services, doc_id: str) -> tuple[str, str]:
    base = services.base_url(request).rstrip("/")
    return f"{base}/api/v1/progress/{doc_id}", f"{base}/api/v1/progress/{doc_id}/stream"


@router.post("/process", response_model=ProcessAccepted)
async def process(body: ProcessRequest, request: Request, services: ServicesDep) -> ProcessAccepted:
    """Start an object through the operations it asks for (prerequisites are added)."""
    type_name = body.type or "object"
    published = await services.known_type(type_name)
    requested = body.operations if body.operations is not None else [body.target or ""]
    requested = [r for r in requested if r]
    check_operations(published, requested)
    if body.content is not None and body.url is not None:
        raise ApiError(422, "validation", "give content or url, not both", {"field": "url"})
    content: Content | None = None
    if body.url is not None:
        content = body.url
    elif isinstance(body.content, str):
        content = body.content.encode()
    elif body.content is not None:
        content = json.dumps(body.content).encode()
    metadata = {**body.metadata, "operations": requested}
    if callback_url := await check_callback(services, body.callback_url):
        metadata["callback_url"] = callback_url
    doc = await services.client.submit(
        content, type=type_name, id=body.identifier, metadata=metadata
    )
    progress_url, stream_url = _links(request, services, doc.id)
    return ProcessAccepted(
        id=doc.id,
        type=type_name,
        operations=requested,
        progress_url=progress_url,
        stream_url=stream_url,
    )


@router.get("/progress/{document_id:path}", response_model=Progress)
async def progress(document_id: DocId, services: ServicesDep) -> Progress:
    """State, status, planned and completed operations, percent done."""
    record = await recorded(services.client, document_id)
    if record is None:
        return Progress(
            id=document_id,
            state="",
            status=Status.PENDING,
            planned_operations=[],
            completed_operations=[],
            percent=0,
        )
    return progress_of(record, await services.client.history(document_id))


@router.get("/objects", response_model=ObjectPage)
async def list_objects(
    request: Request,
    services: ServicesDep,
    type: str | None = None,
    state: str | None = None,
    status: Status | None = None,
    parent: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ObjectPage:
    """Documents matching every filter given, in creation order, a page at a time."""
    filters: dict[str, Any] = {"type": type, "state": state, "status": status, "parent_id": parent}
    page = await services.client.list_page(
        cursor=cursor, limit=limit, **{k: v for k, v in filters.items() if v is not None}
    )
    base = services.base_url(request)
    return ObjectPage(
        items=[ObjectOut.of(r, base) for r in page.records], next_cursor=page.next_cursor
    )


@router.post("/objects/{document_id:path}/{action}", response_model=ActionResult)
async def act(document_id: DocId, action: Action, services: ServicesDep) -> ActionResult:
    """Cancel, retry, skip, pause or resume; 409 (with the status) when it does not fit."""
    client = services.client
    try:
        if action == "cancel":
            await client.cancel(document_id)
            try:  # answer with the outcome once recorded; cancelling is quick
                after = await client.wait(document_id, timeout=CANCEL_WAIT)
            except TimeoutError:
                # not settled yet, or not even recorded (no worker has started it): the
                # cancel is with Temporal all the same; say where it stands
                current = await client.queries.get(document_id)
                if current is None:
                    return ActionResult(
                        id=document_id, action=action, status=Status.PENDING, state=""
                    )
                after = current
            return ActionResult(
                id=document_id, action=action, status=after.status, state=after.state
            )
        run = {"retry": client.retry, "skip": client.skip, "pause": client.pause}
        accepted = await run.get(action, client.resume)(document_id)
        # as the command line answers: where the document is once it acted on it
        result = await client.moved_on(document_id, accepted)
    except InvalidTransition as err:
        current = await client.queries.get(document_id)
        status = current.status.value if current else None
        raise ApiError(
            409, "invalid_state", str(err), {"status": status, "reason": str(err)}
        ) from None
    return ActionResult(id=document_id, action=action, status=result.status, state=result.state)


@router.get("/objects/{document_id:path}", response_model=ObjectOut)
async def get_object(document_id: DocId, request: Request, services: ServicesDep) -> ObjectOut:
    """One document's row."""
    record = await services.client.get(document_id)
    return ObjectOut.of(record, services.base_url(request))


@router.delete("/objects/{document_id:path}", response_model=Deleted)
async def delete_object(document_id: DocId, services: ServicesDep) -> Deleted:
    """Delete an ended document, everything derived from it, and blobs no one else uses."""
    client = services.client
    tree = await client.tree(document_id)
    running = [r for r in tree if not r.status.closed]
    if running:
        first = running[0]
        raise ApiError(
            409,
            "invalid_state",
            f"document {first.id!r} is {first.status.value}; only ended documents are deleted "
            "(cancel it first)",
            {"status": first.status.value, "reason": "not ended", "document_id": first.id},
        )
    unused = await delete_documents(client.queries.engine, [r.id for r in tree])
    for sha256 in unused:
        await client.blobs.delete(sha256)
    return Deleted(deleted=[r.id for r in tree], blobs_deleted=len(unused))
