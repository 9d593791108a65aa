"""The client raises DocState errors only, and a batch gives every item a result."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from temporalio import workflow
from temporalio.worker import Worker

from docstate import Client, Settings
from docstate.blobs import make_blob_store
from docstate.client import actions
from docstate.client.batch import Submission
from docstate.client.ingest import Content
from docstate.config import load_settings
from docstate.devserver import free_port
from docstate.errors import (
    BlobStoreError,
    ConfigurationError,
    DocStateError,
    InvalidDocumentId,
    InvalidInput,
    NoWorker,
    ProjectionUnavailable,
    TemporalUnavailable,
    WaitTimeout,
)
from docstate.projection import ProjectionQueries, create_engine
from docstate.temporal import connect_temporal, plain_cause
from tests import pipelines as p
from tests.conftest import Harness
from tests.test_engine import new_id


async def test_a_batch_gives_every_item_a_result_whatever_fails(harness: Harness) -> None:
    good = new_id("ok")
    items: list[Content | Submission] = [
        Submission(content=b"first", id=good),
        Submission(content=b"second", id="has a space"),
        Path("/nowhere/missing.txt"),
        Submission(content=b"third", metadata={"filename": "résumé.txt"}),
        Submission(content=b"fourth", id=good),  # a duplicate
    ]
    async with harness.worker(*p.ALL):
        results = await harness.client.submit_many(items, type="basic", concurrency=1)
    assert [r.index for r in results] == [0, 1, 2, 3, 4]
    assert [r.ok for r in results] == [True, False, False, True, False]
    assert "an id is 1 to 200 characters" in (results[1].error or "")
    assert "missing.txt" in (results[2].error or "")
    assert (results[3].document_id or "").startswith("resume-")
    assert "already exists" in (results[4].error or "")
    with pytest.raises(InvalidInput, match="at least 1"):
        await harness.client.submit_many([b"x"], type="basic", concurrency=0)


async def test_submit_and_wait_raise_only_docstate_errors(
    harness: Harness, tmp_path: Path, s3_endpoint: str
) -> None:
    ds = harness.client
    with pytest.raises(InvalidDocumentId, match="no spaces"):
        await ds.submit(b"x", type="basic", id="a b")
    with pytest.raises(InvalidInput, match="metadata"):
        await ds.submit(b"x", type="basic", metadata={"k": object()})  # not JSON
    doc = await ds.submit(b"x", type="basic", id=new_id("nw"))  # no worker: never settles
    with pytest.raises(WaitTimeout) as timed_out:
        await ds.wait(doc.id, timeout=0.5)
    assert isinstance(timed_out.value, TimeoutError)  # code that catches that still works
    async with harness.worker(*p.ALL):
        await ds.wait(doc.id, timeout=30)

    s = harness.settings
    no_bucket = s.model_copy(
        update={"blob_store": "s3", "s3_bucket": "no-such-bucket", "s3_endpoint_url": s3_endpoint}
    )
    s3_client = Client(harness.temporal, no_bucket, harness.queries, make_blob_store(no_bucket))
    with pytest.raises(BlobStoreError):
        await s3_client.submit(b"x", type="basic")

    away = Settings(temporal_address=f"127.0.0.1:{free_port()}", database_url=s.database_url)
    lazy = Client(None, away, harness.queries, harness.blobs)
    assert (await lazy.get(doc.id)).id == doc.id  # reading needs no Temporal
    with pytest.raises(TemporalUnavailable, match="cannot reach Temporal"):
        await lazy.submit(b"x", type="basic")

    down_url = make_url(s.database_url).set(port=free_port()).render_as_string(False)
    engine = create_engine(down_url)
    down = Client(harness.temporal, s.model_copy(update={"database_url": down_url}),
                  ProjectionQueries(engine), harness.blobs)  # fmt: skip
    try:
        for call in (down.get(doc.id), down.list(), down.wait(doc.id, timeout=1)):
            with pytest.raises(ProjectionUnavailable, match="cannot reach the projection"):
                await call
    finally:
        await engine.dispose()
    assert issubclass(ProjectionUnavailable, DocStateError)


@workflow.defn(name="tests.SomethingElse", sandboxed=False)
class SomethingElse:
    """A worker of this polls the queue but cannot run a document workflow."""

    @workflow.run
    async def run(self) -> None:
        await workflow.sleep(timedelta(seconds=1))


async def test_an_action_nobody_takes_ends_with_no_worker(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds = harness.client
    doc = await ds.submit(b"x", type="basic", id=new_id("untaken"))
    # nobody polls: refused before anything is sent
    queue = harness.settings.task_queue
    with pytest.raises(NoWorker, match="no worker polls task queue") as nobody:
        await ds.pause(doc.id)
    assert (nobody.value.task_queue, nobody.value.sent) == (queue, False)
    # somebody polls, but nothing answers for the document (a worker that cannot run it;
    # as a worker killed a moment ago, still listed): refused, nothing sent
    monkeypatch.setattr(actions, "QUERY_PATIENCE", 2.0)
    monkeypatch.setattr(actions, "ACTION_PATIENCE", 2.0)
    async with Worker(
        harness.temporal, task_queue=harness.settings.task_queue, workflows=[SomethingElse]
    ):
        with pytest.raises(NoWorker, match="no worker answered for it within 2s") as silent:
            await ds.pause(doc.id)
        assert (silent.value.task_queue, silent.value.sent) == (queue, False)

        # past that check, an update nobody takes still ends in time, and says so
        async def present(*_: object) -> str:
            return queue

        monkeypatch.setattr(actions.DocumentActions, "_require_worker", present)
        untaken = f"no worker took the pause of document '{doc.id}'"
        with pytest.raises(NoWorker, match=untaken) as sent:
            await ds.pause(doc.id)
        assert (sent.value.task_queue, sent.value.sent) == (queue, True)


def test_a_malformed_temporal_address_is_refused_when_settings_load(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for address, why in (
        ("localhost", "not host:port"),
        ("", "not host:port"),
        ("http://127.0.0.1:7233", "host:port without a scheme"),
        ("127.0.0.1:99999", "port '99999' is not a number from 1 to 65535"),
    ):
        monkeypatch.setenv("DOCSTATE_TEMPORAL_ADDRESS", address)
        with pytest.raises(ConfigurationError) as refused:
            load_settings()
        assert str(refused.value).startswith(
            f"DOCSTATE_TEMPORAL_ADDRESS={address} is invalid: {why}"
        ), refused.value
    for address in ("127.0.0.1:7233", "[::1]:7233", "ns.acct.tmprl.cloud:7233"):
        monkeypatch.setenv("DOCSTATE_TEMPORAL_ADDRESS", address)
        assert load_settings().temporal_address == address


async def test_a_failed_connection_is_said_in_plain_words() -> None:
    async def connect(address: str) -> str:
        with pytest.raises(TemporalUnavailable) as failed:
            await connect_temporal(Settings(temporal_address=address))
        line = str(failed.value)
        assert line.startswith(f"cannot reach Temporal at {address} (namespace 'default'): ")
        assert "tonic" not in line and "Status {" not in line  # the core's debug print
        return line

    assert "connection refused, nothing listens there" in await connect(f"127.0.0.1:{free_port()}")
    # .invalid never resolves (RFC 2606)
    assert "its host name does not resolve" in await connect("docstate-test.invalid:7233")

    async def http_1(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    port = free_port()
    server = await asyncio.start_server(http_1, "127.0.0.1", port)
    try:
        assert "something answers there, but not Temporal's gRPC frontend" in await connect(
            f"127.0.0.1:{port}"
        )
    finally:
        server.close()
        await server.wait_closed()
    # Anything else is passed on as the core said it; over TLS, a connection closed after
    # it was made is the handshake's business (tests/test_tls.py: a client certificate).
    assert plain_cause("Status { code: PermissionDenied, message: no }") is None
    closed = "`get_system_info` call error after connection: Status { code: Unknown, ... }"
    assert plain_cause(closed) is not None and plain_cause(closed, tls=True) is None
