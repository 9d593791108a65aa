"""``GET /api/v1/progress/{id}/stream``: a document's events as Server-Sent Events.

Each event's ``id`` is its sequence number, so a client that reconnects with
``Last-Event-ID`` gets exactly the events it missed. An idle stream carries a comment
every ``api_keepalive`` seconds (proxies keep it open), and it ends with an ``end``
event once the document has ended. Events come from :meth:`docstate.Client.progress`,
which serves every stream of the process.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from docstate.api.deps import Services, ServicesDep
from docstate.api.errors import RESPONSES
from docstate.api.lookup import recorded
from docstate.api.models import EventOut, ObjectOut
from docstate.api.objects import DocId
from docstate.errors import ApiError

router = APIRouter(prefix="/api/v1", tags=["objects"], responses=RESPONSES)

STREAM_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "``progress`` events (data: an event of the history, id: its seq), "
        "then one ``end`` event (data: the document) once it has ended",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


def _last_seen(header: str | None) -> int:
    if header is None or header == "":
        return -1
    try:
        return int(header)
    except ValueError:
        raise ApiError(
            422, "validation", f"Last-Event-ID: {header!r} is not an event id", {}
        ) from None


async def _events(
    services: Services, document_id: str, after: int, base_url: str
) -> AsyncIterator[ServerSentEvent]:
    last = after
    async for event in services.client.progress(document_id):
        if event.seq <= after:
            continue  # sent before the reconnect
        last = event.seq
        yield ServerSentEvent(
            data=EventOut.of(event).model_dump_json(), event="progress", id=str(event.seq)
        )
    record = await services.client.get(document_id)
    yield ServerSentEvent(
        data=ObjectOut.of(record, base_url).model_dump_json(), event="end", id=str(last)
    )


@router.get("/progress/{document_id:path}/stream", responses=STREAM_DOC)
async def stream(
    document_id: DocId,
    request: Request,
    services: ServicesDep,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> EventSourceResponse:
    """The document's progress as it happens (resumable with ``Last-Event-ID``)."""
    after = _last_seen(last_event_id)
    await recorded(services.client, document_id)  # 404 now for an unknown id
    return EventSourceResponse(
        _events(services, document_id, after, services.base_url(request)),
        ping=services.settings.api_keepalive,
    )
