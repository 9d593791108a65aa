"""The client's reading side (filters, pages, content) and URLs as content."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client as TemporalClient
from temporalio.client import (
    Interceptor,
    OutboundInterceptor,
    StartWorkflowInput,
    WorkflowHandle,
)
from temporalio.service import RPCError, RPCStatusCode

from docstate import ConfigurationError, ContentError, Status
from docstate.devserver import free_port
from docstate.errors import InvalidInput
from docstate.projection import ProjectionWrite
from docstate.protocol import workflow_id
from tests import pipelines as p
from tests.conftest import Harness
from tests.test_engine import new_id

T0 = datetime(2026, 1, 1, tzinfo=UTC)


async def seed(harness: Harness, count: int) -> None:
    await harness.writer.apply(
        [
            ProjectionWrite(
                document_id=f"d{i:02}",
                type="note",
                version=1000,
                state="new",
                status=Status.RUNNING,
                parent_id="root" if i % 2 else None,
                root_id="root",
                at=T0 + timedelta(minutes=i // 3),  # several documents share a timestamp
            )
            for i in range(count)
        ]
    )


async def test_pages_see_every_document_once(harness: Harness) -> None:
    await seed(harness, 25)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await harness.client.list_page(type="note", cursor=cursor, limit=10)
        seen += [r.id for r in page.records]
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [f"d{i:02}" for i in range(25)] and pages == 3
    children = await harness.client.list_page(parent_id="root", limit=100)
    assert [r.id for r in children.records] == [f"d{i:02}" for i in range(1, 25, 2)]
    assert children.next_cursor is None
    with pytest.raises(ConfigurationError, match="is not a page cursor"):
        await harness.client.list_page(cursor="garbage")


async def test_list_filters_by_parent_and_time(harness: Harness) -> None:
    await seed(harness, 12)
    recent = await harness.client.list(updated_after=T0 + timedelta(minutes=2, seconds=30))
    assert {r.id for r in recent} == {"d09", "d10", "d11"}
    early = await harness.client.list(updated_before=T0 + timedelta(minutes=1), parent_id="root")
    assert {r.id for r in early} == {"d01"}


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[str]:
    """A real HTTP server on loopback, serving tmp_path/www."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join()


async def test_urls_are_fetched_streamed_and_processed(
    harness: Harness, http_server: str, tmp_path: Path
) -> None:
    (tmp_path / "www" / "notes.txt").write_bytes(b"fetched over http " * 1000)
    harness.client.settings = harness.settings.model_copy(update={"fetch_allow_private": True})
    doc_id = new_id("url")
    async with harness.worker(*p.ALL):
        doc = await harness.client.submit(f"{http_server}/notes.txt", type="basic", id=doc_id)
        record = await harness.client.wait(doc_id, timeout=60)
        with_content = await harness.client.get(doc_id, with_content=True)
    assert doc.metadata == {"url": f"{http_server}/notes.txt", "filename": "notes.txt"}
    assert doc.content is None and doc.content_ref is not None  # 18 kB: by reference
    assert record.status is Status.COMPLETED
    assert with_content.content == b"FETCHED OVER HTTP " * 1000
    assert (await harness.client.get(doc_id)).content is None  # only when asked


async def test_bad_urls_are_named(harness: Harness, http_server: str) -> None:
    missing, refused = new_id("missing"), new_id("refused")
    with pytest.raises(ContentError, match=r"resolves to a non-public address \(127.0.0.1\)"):
        await harness.client.submit(f"{http_server}/missing.pdf", type="basic", id=missing)
    harness.client.settings = harness.settings.model_copy(update={"fetch_allow_private": True})
    with pytest.raises(ContentError, match=r"cannot fetch .*/missing.pdf: HTTP 404"):
        await harness.client.submit(f"{http_server}/missing.pdf", type="basic", id=missing)
    with pytest.raises(ContentError, match=r"cannot fetch http://127.0.0.1:9/x: "):
        await harness.client.submit("http://127.0.0.1:9/x", type="basic", id=refused)
    # Nothing was started: no worker runs, so only Temporal can tell (describe is exact,
    # where a listing may lag).
    for doc_id in (missing, refused):
        with pytest.raises(RPCError) as err:
            await harness.temporal.get_workflow_handle(workflow_id(doc_id)).describe()
        assert err.value.status == RPCStatusCode.NOT_FOUND


class StartRecorder(Interceptor):
    """Notes, per workflow id, whether its start asked for eager start."""

    def __init__(self) -> None:
        self.eager: dict[str, bool] = {}

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        recorder = self

        class Outbound(OutboundInterceptor):
            async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
                recorder.eager[input.id] = input.request_eager_start
                return await super().start_workflow(input)

        return Outbound(next)


async def test_documents_start_eagerly_unless_they_have_a_fairness_key(harness: Harness) -> None:
    recorder = StartRecorder()
    config = harness.temporal.config()
    config["interceptors"] = [recorder]
    temporal = TemporalClient(**config)
    h = Harness(temporal, harness.settings)
    plain, keyed = new_id("eager"), new_id("keyed")
    async with h.worker(*p.ALL):
        await h.client.submit(b"x", type="leaf", id=plain)
        await h.client.submit(b"y", type="leaf", id=keyed, fairness_key="tenant-a")
        for doc_id in (plain, keyed):
            assert (await h.client.wait(doc_id, timeout=60)).status is Status.COMPLETED
    await h.close()
    # A worker in the submitting process takes a document's first task from the start's
    # answer; a keyed document waits its turn in the task queue, as fairness needs.
    assert recorder.eager == {workflow_id(plain): True, workflow_id(keyed): False}


async def test_a_blank_fairness_key_is_refused_before_anything_is_submitted(
    harness: Harness,
) -> None:
    doc_id = new_id("blank")
    with pytest.raises(InvalidInput, match="fairness_key is blank"):
        await harness.client.submit(b"z", type="leaf", id=doc_id, fairness_key=" ")
    with pytest.raises(RPCError) as err:  # no workflow was started for it
        await harness.temporal.get_workflow_handle(workflow_id(doc_id)).describe()
    assert err.value.status == RPCStatusCode.NOT_FOUND
