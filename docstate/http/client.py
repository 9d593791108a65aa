"""``AsyncHttpClient``: DocState's HTTP API from Python, without Temporal or a database.

    async with AsyncHttpClient("http://127.0.0.1:8000", api_key=KEY) as api:
        results = await api.submit_and_wait("a.pdf", "b.txt")

Refusals raise the embedded client's exceptions (``DocumentNotFound``,
``InvalidTransition``...; see :mod:`docstate.http.errors`).
"""

from __future__ import annotations

import asyncio
import builtins
import json
import time
from collections.abc import AsyncIterator
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import IO, Any, TypeVar

import httpx
from httpx_sse import aconnect_sse
from pydantic import BaseModel, TypeAdapter

from docstate.api.models import (
    ActionResult,
    EventOut,
    JobAccepted,
    JobResults,
    JobState,
    ObjectOut,
    ObjectPage,
    ProcessAccepted,
    Progress,
    TypeOut,
)
from docstate.durations import shown_seconds
from docstate.errors import ApiError
from docstate.http.errors import raise_for_error

FileInput = str | Path | bytes | tuple[str, bytes]
M = TypeVar("M", bound=BaseModel)
MAX_WAIT = 60.0


class AsyncHttpClient:
    """Client of a DocState API server.

    Args:
        base_url: Where the API listens (``http://host:port``).
        api_key: Sent as ``X-Api-Key`` when given.
        timeout: Seconds for one request (a ``?wait`` request gets its wait on top).
        transport: An httpx transport (tests, proxies); the default connects over TCP.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"X-Api-Key": api_key} if api_key else {}
        self.timeout = timeout
        self.http = httpx.AsyncClient(
            base_url=base_url, headers=headers, timeout=timeout, transport=transport
        )

    async def close(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> AsyncHttpClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        response = await self.http.request(method, url, **kwargs)
        await raise_for_error(response)
        return response

    async def _model(self, model: type[M], method: str, url: str, **kwargs: Any) -> M:
        return model.model_validate_json((await self._call(method, url, **kwargs)).content)

    # --- jobs --------------------------------------------------------------------------

    async def submit_job(
        self,
        *files: FileInput,
        type: str | None = None,
        metadata: dict[str, Any] | None = None,
        callback_url: str | None = None,
    ) -> JobAccepted:
        """Submit files (paths are streamed from disk; bytes or ``(name, bytes)`` too) as
        one job; each becomes a document of ``type`` (the server's default if None)."""
        if not files:
            raise ApiError(422, "validation", "files: at least one file is required")
        parts: list[tuple[str, tuple[str, IO[bytes] | bytes]]] = []
        with ExitStack() as opened:
            for number, item in enumerate(files, start=1):
                if isinstance(item, str | Path):
                    # httpx reads the open file in chunks as it sends: never whole in memory
                    handle: IO[bytes] = opened.enter_context(Path(item).open("rb"))  # noqa: ASYNC230
                    parts.append(("files", (Path(item).name, handle)))
                elif isinstance(item, bytes):
                    parts.append(("files", (f"file-{number}", item)))
                else:
                    parts.append(("files", item))
            data = {"type": type, "metadata": _json(metadata), "callback_url": callback_url}
            form = {k: v for k, v in data.items() if v is not None}
            return await self._model(JobAccepted, "POST", "/submit", files=parts, data=form)

    async def get_job_status(self, job_id: str, *, wait: float = 0) -> JobState:
        """The job's status; with ``wait``, the server holds the answer until the job has
        settled or ``wait`` seconds (at most 60) have passed."""
        wait = min(max(wait, 0.0), MAX_WAIT)
        return await self._model(
            JobState,
            "GET",
            f"/jobs/{job_id}",
            params={"wait": wait} if wait else None,
            timeout=self.timeout + wait,
        )

    async def get_job_results(self, job_id: str) -> JobResults | None:
        """Every file's outcome, or None while the job still runs."""
        response = await self._call("GET", f"/jobs/{job_id}/results")
        if response.status_code == 202:
            return None
        return JobResults.model_validate_json(response.content)

    async def submit_and_wait(
        self,
        *files: FileInput,
        type: str | None = None,
        metadata: dict[str, Any] | None = None,
        callback_url: str | None = None,
        poll_interval: float = 1.0,
        timeout: float = 300,
    ) -> JobResults:
        """Submit a job, wait until it settles (long-polling ``?wait``), return its results.

        Raises:
            TimeoutError: when it has not settled within ``timeout`` seconds.
        """
        job = await self.submit_job(*files, type=type, metadata=metadata, callback_url=callback_url)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            state = await self.get_job_status(job.job_id, wait=max(0.0, min(left, MAX_WAIT)))
            if state.status in ("completed", "failed"):
                results = await self.get_job_results(job.job_id)
                if results is not None:
                    return results
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"job {job.job_id} still {state.status} after {shown_seconds(timeout)}"
                )
            await asyncio.sleep(poll_interval)

    # --- objects -----------------------------------------------------------------------

    async def process(
        self,
        identifier: str,
        *,
        operations: builtins.list[str] | None = None,
        target: str | None = None,
        type: str | None = None,
        metadata: dict[str, Any] | None = None,
        content: Any = None,
        url: str | None = None,
        callback_url: str | None = None,
    ) -> ProcessAccepted:
        """Start an object through ``operations`` (or up to ``target``)."""
        body = {
            "identifier": identifier,
            "operations": operations,
            "target": target,
            "type": type,
            "metadata": metadata or {},
            "content": content,
            "url": url,
            "callback_url": callback_url,
        }
        return await self._model(ProcessAccepted, "POST", "/api/v1/process", json=body)

    async def progress(self, document_id: str) -> Progress:
        return await self._model(Progress, "GET", f"/api/v1/progress/{document_id}")

    async def stream_progress(
        self, document_id: str, *, last_event_id: int | None = None, max_reconnects: int = 5
    ) -> AsyncIterator[EventOut]:
        """The document's events as they happen, ending when it has ended.

        A dropped connection is resumed with ``Last-Event-ID``: no event is lost or
        repeated. ``max_reconnects`` failures in a row raise the last one.
        """
        last = last_event_id
        failures = 0
        while True:
            headers = {"Last-Event-ID": str(last)} if last is not None else {}
            url = f"/api/v1/progress/{document_id}/stream"
            try:
                async with aconnect_sse(
                    self.http, "GET", url, headers=headers, timeout=httpx.Timeout(None)
                ) as source:
                    await raise_for_error(source.response)
                    async for sse in source.aiter_sse():
                        failures = 0
                        if sse.event == "end":
                            return
                        if sse.event == "progress":
                            event = EventOut.model_validate_json(sse.data)
                            last = event.seq
                            yield event
            except (httpx.TransportError, httpx.RemoteProtocolError):
                failures += 1
                if failures > max_reconnects:
                    raise
                await asyncio.sleep(min(0.2 * 2**failures, 5.0))
                continue
            return  # the server closed the stream without an end event: it stopped

    async def get(self, document_id: str) -> ObjectOut:
        """One document's row."""
        return await self._model(ObjectOut, "GET", f"/api/v1/objects/{document_id}")

    async def list(
        self, /, *, cursor: str | None = None, limit: int = 100, **filters: str
    ) -> ObjectPage:
        """A page of documents (filters: type, state, status, parent)."""
        params = {**filters, "limit": limit, **({"cursor": cursor} if cursor else {})}
        return await self._model(ObjectPage, "GET", "/api/v1/objects", params=params)

    async def _act(self, document_id: str, action: str) -> ActionResult:
        return await self._model(ActionResult, "POST", f"/api/v1/objects/{document_id}/{action}")

    async def cancel(self, document_id: str) -> ActionResult:
        return await self._act(document_id, "cancel")

    async def retry(self, document_id: str) -> ActionResult:
        return await self._act(document_id, "retry")

    async def skip(self, document_id: str) -> ActionResult:
        return await self._act(document_id, "skip")

    async def pause(self, document_id: str) -> ActionResult:
        return await self._act(document_id, "pause")

    async def resume(self, document_id: str) -> ActionResult:
        return await self._act(document_id, "resume")

    async def delete(self, document_id: str) -> builtins.list[str]:
        """Delete an ended document and what was derived from it; the ids deleted."""
        response = await self._call("DELETE", f"/api/v1/objects/{document_id}")
        deleted: builtins.list[str] = response.json()["deleted"]
        return deleted

    # --- documents ---------------------------------------------------------------------

    async def content(self, document_id: str) -> AsyncIterator[bytes]:
        """The document's content, streamed."""
        async with self.http.stream("GET", f"/api/v1/documents/{document_id}/content") as r:
            await raise_for_error(r)
            async for chunk in r.aiter_bytes():
                yield chunk

    async def history(self, document_id: str) -> builtins.list[EventOut]:
        response = await self._call("GET", f"/api/v1/documents/{document_id}/history")
        return _EVENTS.validate_json(response.content)

    async def tree(self, document_id: str) -> builtins.list[ObjectOut]:
        response = await self._call("GET", f"/api/v1/documents/{document_id}/tree")
        return _OBJECTS.validate_json(response.content)

    async def children(self, document_id: str) -> builtins.list[ObjectOut]:
        response = await self._call("GET", f"/api/v1/documents/{document_id}/children")
        return _OBJECTS.validate_json(response.content)

    async def types(self) -> builtins.list[TypeOut]:
        """The document types workers have published."""
        response = await self._call("GET", "/api/v1/types")
        return TypeAdapter(builtins.list[TypeOut]).validate_json(response.content)


_EVENTS = TypeAdapter(list[EventOut])
_OBJECTS = TypeAdapter(list[ObjectOut])


def _json(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value)
