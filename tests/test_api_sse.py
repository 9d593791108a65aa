"""Server-Sent Events: ids are sequence numbers, Last-Event-ID resumes, keep-alives."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from httpx_sse import aconnect_sse

from docstate.devserver import free_port
from docstate.http import AsyncHttpClient
from tests.api_support import Api

OBJECT = {"identifier": "", "operations": ["export"], "content": {"id": 7, "aB": 1}}


async def _read(api: Api, doc_id: str, last: str | None = None, stop_after: int | None = None):
    events = []
    headers = {"Last-Event-ID": last} if last is not None else {}
    url = f"/api/v1/progress/{doc_id}/stream"
    async with aconnect_sse(api.http, "GET", url, headers=headers) as source:
        assert source.response.headers["content-type"].startswith("text/event-stream")
        async for sse in source.aiter_sse():
            events.append(sse)
            if stop_after is not None and len(events) == stop_after:
                break  # the connection is dropped here
    return events


async def test_a_stream_carries_every_event_once_and_ends(api: Api) -> None:
    await api.http.post("/api/v1/process", json={**OBJECT, "identifier": "sse-1"})
    events = await _read(api, "sse-1")
    history = await api.harness.client.history("sse-1")
    progress = [e for e in events if e.event == "progress"]
    assert [int(e.id) for e in progress] == [h.seq for h in history]
    assert [e.json()["to_state"] for e in progress] == [h.to_state for h in history]
    end = events[-1]
    assert end.event == "end" and end.json()["status"] == "completed"
    assert end.id == progress[-1].id


async def test_last_event_id_resumes_without_loss_or_duplicates(api: Api) -> None:
    await api.http.post("/api/v1/process", json={**OBJECT, "identifier": "sse-2"})
    first = await _read(api, "sse-2", stop_after=3)
    rest = await _read(api, "sse-2", last=first[-1].id)
    seqs = [int(e.id) for e in first + rest if e.event == "progress"]
    history = await api.harness.client.history("sse-2")
    assert seqs == [h.seq for h in history]
    assert rest[-1].event == "end"
    bad = await api.http.get("/api/v1/progress/sse-2/stream", headers={"Last-Event-ID": "x"})
    assert bad.status_code == 422


async def test_an_idle_stream_carries_keep_alive_comments(api: Api) -> None:
    job_id = await api.submit(("a.txt", b"zz"), type="sleeper", metadata='{"sleep": 60}')
    await api.harness.client.progress(f"{job_id}/1").__anext__()  # the file has started
    comments = 0
    url = f"/api/v1/progress/{job_id}/1/stream"
    async with api.http.stream("GET", url) as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line.startswith(":"):
                comments += 1  # api_keepalive is 0.5 s in the tests
                if comments == 2:
                    break
    assert comments == 2
    await api.http.post(f"/api/v1/objects/{job_id}/cancel")


@asynccontextmanager
async def dropping_proxy(target_port: int) -> AsyncIterator[tuple[str, list[asyncio.Event]]]:
    """A TCP proxy to the API whose connections the test can cut: setting a connection's
    event closes it."""
    cuts: list[asyncio.Event] = []

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", target_port)
        cut = asyncio.Event()
        cuts.append(cut)
        tasks = [
            asyncio.create_task(pipe(client_r, server_w)),
            asyncio.create_task(pipe(server_r, client_w)),
        ]
        waiter = asyncio.create_task(cut.wait())
        await asyncio.wait([*tasks, waiter], return_when=asyncio.FIRST_COMPLETED)
        for task in [*tasks, waiter]:
            task.cancel()
        client_w.close()
        server_w.close()

    port = free_port()
    server = await asyncio.start_server(handle, "127.0.0.1", port)
    try:
        yield f"http://127.0.0.1:{port}", cuts
    finally:
        server.close()
        await server.wait_closed()


async def test_the_client_stream_resumes_after_a_dropped_connection(api: Api) -> None:
    job_id = await api.submit(("a.txt", b"zz"), type="sleeper", metadata='{"sleep": 2}')
    doc_id = f"{job_id}/1"
    await api.harness.client.progress(doc_id).__anext__()  # the file has started
    api_port = int(api.url.rsplit(":", 1)[1])
    seen = []
    async with dropping_proxy(api_port) as (url, cuts), AsyncHttpClient(url) as client:
        async for event in client.stream_progress(doc_id):
            seen.append(event.seq)
            if len(cuts) == 1 and len(seen) == 1:
                cuts[0].set()  # drop the stream after its first event
        connections = len(cuts)
    history = await api.harness.client.history(doc_id)
    assert seen == [h.seq for h in history]
    assert history[-1].status.value == "completed"
    assert connections >= 2  # it did reconnect
