"""The DocState-Async seed's API (AsyncDocStore) on the durable engine."""

from __future__ import annotations

import uuid
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from docstate import AsyncDocStore, Document, DocumentType, Settings, State, Status, Transition


async def download_document(doc: Document) -> Document:
    # ... an implementation that downloads content
    return doc.with_content(f"downloaded content of {doc.metadata['url']}")


async def parse_document(doc: Document) -> Document:
    return doc.with_content(doc.text.upper(), words=len(doc.text.split()))


link, download, parsed = State("link", initial=True), State("download"), State("parsed", final=True)
WEB = DocumentType(
    name="web",
    states=[link, download, parsed],
    transitions=[
        Transition(name="download", source="link", target="download", run=download_document),
        Transition(name="parse", source="download", target="parsed", run=parse_document),
    ],
)


def store_for(temporal_env: WorkflowEnvironment, tmp_path: Path, queue: str) -> AsyncDocStore:
    settings = Settings(
        temporal_address=temporal_env.client.service_client.config.target_host,
        task_queue=queue,
        blob_dir=tmp_path / "blobs",
    )
    return AsyncDocStore(
        connection_string=f"sqlite:///{tmp_path / 'docs.db'}",
        document_type=WEB,
        max_concurrency=5,  # process up to 5 documents in parallel
        settings=settings,
    )


async def test_the_seed_usage_example(temporal_env: WorkflowEnvironment, tmp_path: Path) -> None:
    store = store_for(temporal_env, tmp_path, f"seed-{uuid.uuid4().hex}")
    await store.initialize()
    doc = Document(id="example", type="web", metadata={"url": "https://example.com"})
    doc_id = await store.add(doc)
    assert doc_id == "example"
    assert (await store.client.get(doc_id)).status is Status.PAUSED  # held, nothing ran

    results = await store.next(doc)  # one transition
    assert [(d.id, d.state) for d in results] == [("example", "download")]
    assert results[0].content == b"downloaded content of https://example.com"
    assert (await store.client.get(doc_id)).status is Status.PAUSED  # held again

    final_docs = await store.finish(doc)  # to completion
    assert [(d.id, d.state) for d in final_docs] == [("example", "parsed")]
    assert final_docs[0].content == b"DOWNLOADED CONTENT OF HTTPS://EXAMPLE.COM"
    assert final_docs[0].metadata["words"] == 4
    assert await store.next(doc) == final_docs  # nothing more to do
    await store.dispose()


async def test_nothing_is_lost_when_the_process_goes_away(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    queue = f"seed-{uuid.uuid4().hex}"
    first = store_for(temporal_env, tmp_path, queue)
    await first.initialize()
    doc = Document(id="durable", type="web", metadata={"url": "https://example.org"})
    await first.add(doc)
    await first.next(doc)
    await first.dispose()  # the process "dies" after one step

    second = store_for(temporal_env, tmp_path, queue)  # a new process, same store
    await second.initialize()
    assert (await second.client.get("durable")).state == "download"
    final = await second.finish("durable")
    assert [(d.id, d.state) for d in final] == [("durable", "parsed")]
    history = [e.transition for e in await second.client.history("durable") if e.transition]
    assert history.count("download") == 1  # the first step did not run again
    await second.dispose()
