"""Fixtures for the HTTP API: a real uvicorn on a free loopback port, in front of the
test's harness (real Temporal dev server, PostgreSQL) and a worker for the API's types."""

from __future__ import annotations

import asyncio
import http.server
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from temporalio.client import Client as TemporalClient

from docstate import Client, DocumentType, Registry, Settings
from docstate.api import create_app
from docstate.devserver import free_port
from docstate.engine import build_worker
from docstate.jobs import JOB
from docstate.projection import Writer
from docstate.projection.catalog import publish_types
from docstate.webhooks import WebhookSender
from tests import pipelines as p
from tests.conftest import Harness
from workflows.files import FILE
from workflows.objects import OBJECT

API_TYPES: tuple[DocumentType, ...] = (JOB, FILE, OBJECT, p.SLEEPER, p.BASIC, p.SLOW)


@asynccontextmanager
async def running_api(settings: Settings, client: Client | None = None) -> AsyncIterator[str]:
    """Serve the API on a free loopback port; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(
        create_app(settings, client), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            await task
            raise RuntimeError("uvicorn stopped before it started")
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@dataclass
class Api:
    """A running API and a plain HTTP client for it."""

    harness: Harness
    url: str
    http: httpx.AsyncClient
    settings: Settings

    async def submit(self, *files: tuple[str, bytes], **form: Any) -> str:
        response = await self.http.post("/submit", files=[("files", f) for f in files], data=form)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "pending"
        return str(body["job_id"])


@asynccontextmanager
async def api_for(
    harness: Harness,
    webhooks: WebhookSender | None = None,
    *,
    temporal: TemporalClient | None = None,
    writer: Writer | None = None,
    **overrides: Any,
) -> AsyncIterator[Api]:
    """The API over ``harness``, with a worker running :data:`API_TYPES` (and sending
    webhooks through ``webhooks``); both on ``temporal`` and ``writer`` when given (a
    traced client and writer), else the harness's."""
    settings = harness.settings.model_copy(update={"api_keepalive": 0.5, **overrides})
    temporal = temporal or harness.temporal
    client = Client(temporal, settings, harness.queries, harness.blobs)
    await publish_types(harness.engine, API_TYPES)
    worker = build_worker(
        temporal,
        task_queue=settings.task_queue,
        registry=Registry(API_TYPES),
        writer=writer or harness.writer,
        blobs=harness.blobs,
        inline_threshold=settings.inline_threshold,
        webhooks=webhooks,
    )
    async with (
        worker,
        running_api(settings, client) as url,
        httpx.AsyncClient(base_url=url, timeout=90) as http,
    ):
        yield Api(harness, url, http, settings)


@pytest.fixture
async def api(harness: Harness) -> AsyncIterator[Api]:
    async with api_for(harness) as running:
        yield running


@dataclass
class Receiver:
    url: str
    failures_left: int = 0
    calls: list[tuple[int, dict[str, str], bytes]] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on loopback: answers 500 ``failures_left`` times, then 204."""
    state = Receiver(url="")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            status = 500 if state.failures_left > 0 else 204
            state.failures_left -= 1
            state.calls.append((status, dict(self.headers), body))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    yield state
    server.shutdown()
    thread.join()
