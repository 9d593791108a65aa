"""The shipped PDF -> pages -> chunks pipeline, and content that travels by reference."""

from __future__ import annotations

import hashlib
from pathlib import Path

import boto3
from temporalio.client import Client as TemporalClient

from docstate import Settings, Status
from tests import pipelines as p
from tests.conftest import Harness
from tests.pdfgen import make_pdf
from tests.test_engine import _closed, new_id, wait_for
from workflows.pages import CHUNK, PAGE, PDF


def page_text(number: int, words: int) -> str:
    body = " ".join(f"w{number}x{i}" for i in range(words))
    # a line of text per 10 words keeps each line on the page
    parts = body.split()
    return "\n".join(" ".join(parts[i : i + 10]) for i in range(0, len(parts), 10))


async def test_a_pdf_fans_out_into_pages_and_chunks(harness: Harness, tmp_path: Path) -> None:
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(make_pdf([page_text(n, 130) for n in range(1, 21)]))  # 20 pages
    async with harness.worker(PDF, PAGE, CHUNK):
        doc = await harness.client.submit(pdf, type="pdf")
        root = await wait_for(lambda: _closed(harness, doc.id), timeout=300)
    assert root.status is Status.COMPLETED and root.metadata["derived"] == 20
    tree = await harness.client.tree(doc.id)
    pages = [r for r in tree if r.type == "page"]
    chunks = [r for r in tree if r.type == "chunk"]
    assert len(pages) == 20 and len(chunks) == 20 * 3  # 130 words: chunks of 60, 60, 10
    assert {r.status for r in tree} == {Status.COMPLETED}
    page7 = next(r for r in pages if r.id == f"{doc.id}/7")
    assert (page7.parent_id, page7.root_id, page7.metadata["page"]) == (doc.id, doc.id, 7)
    first = await harness.client.get(f"{doc.id}/7/c0")
    assert (first.parent_id, first.root_id, first.metadata["words"]) == (page7.id, doc.id, 60)
    text = b"".join([c async for c in harness.client.content(first.id)]).decode()
    assert text.split()[:2] == ["w7x0", "w7x1"]
    path = [r.id for r in await harness.client.path(first.id)]
    assert path == [doc.id, page7.id, first.id]


async def test_fifty_megabytes_travel_by_reference(harness: Harness, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    block = bytes(range(256)) * 4096  # 1 MiB
    with big.open("wb") as out:
        for _ in range(50):
            out.write(block)
    doc_id = new_id("big")
    async with harness.worker(*p.ALL):
        doc = await harness.client.submit(big, type="basic", id=doc_id)
        assert doc.content is None and doc.content_ref is not None  # not inline
        record = await wait_for(lambda: _closed(harness, doc_id), timeout=300)
        history = await harness.temporal.get_workflow_handle(f"doc:{doc_id}").fetch_history()
    assert record.status is Status.COMPLETED
    assert record.content_ref is not None and record.content_ref.size == 50 * 1024 * 1024
    digest = hashlib.sha256()
    async for chunk in harness.client.content(doc_id):
        digest.update(chunk)
    assert digest.hexdigest() == record.content_ref.sha256
    history_bytes = sum(e.ByteSize() for e in history.events)
    print(f"\n50 MiB document: {len(history.events)} history events, {history_bytes} bytes")
    assert history_bytes < 100_000  # the content never entered Temporal


async def test_the_same_pipeline_with_content_in_s3(
    temporal: TemporalClient, task_queue: str, tmp_path: Path, sqlite_url: str, s3_endpoint: str
) -> None:
    settings = Settings(
        task_queue=task_queue,
        database_url=sqlite_url,
        blob_store="s3",
        # the local store's folder, had the settings picked it: it must stay empty
        blob_dir=tmp_path / "blobs",
        s3_bucket="docstate",
        s3_prefix=f"{task_queue}/",
        s3_endpoint_url=s3_endpoint,
        inline_threshold=16,  # even small pages travel by reference here
    )
    h = Harness(temporal, settings)
    try:
        pdf = make_pdf(["one two three", "four five"])
        async with h.worker(PDF, PAGE, CHUNK):
            doc = await h.client.submit(pdf, type="pdf", metadata={"filename": "two.pdf"})
            root = await wait_for(lambda: _closed(h, doc.id), timeout=120)
        assert root.status is Status.COMPLETED
        assert len(await h.client.tree(doc.id)) == 1 + 2 + 2
        text = b"".join([c async for c in h.client.content(f"{doc.id}/2/c0")])
        assert text == b"four five"
        keys = boto3.client("s3", endpoint_url=s3_endpoint).list_objects_v2(
            Bucket="docstate", Prefix=f"{task_queue}/"
        )["KeyCount"]
        assert keys >= 4  # the PDF, page texts, chunk texts, manifests: all in S3
        assert settings.blob_dir == tmp_path / "blobs"
        assert not any(settings.blob_dir.glob("**/*"))  # nothing on local disk
    finally:
        await h.close()


async def test_a_missing_blob_leaves_the_document_waiting(harness: Harness) -> None:
    doc_id = new_id("lost")
    content = b"x" * 5000  # above the harness's inline threshold: it travels by reference
    doc = await harness.client.submit(content, type="basic", id=doc_id)
    assert doc.content is None and doc.content_ref is not None
    sha = doc.content_ref.sha256
    (harness.settings.blob_dir / sha[:2] / sha).unlink()  # lost before any worker ran
    async with harness.worker(*p.ALL):
        record = await harness.client.wait(doc_id, timeout=60)
    assert record.status is Status.WAITING
    assert record.error == f"ContentError: blob {sha} is missing from {harness.settings.blob_dir}"
