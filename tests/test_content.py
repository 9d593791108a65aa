"""Transitions load only what they use: content by reference is read on first access,
or streamed in chunks both ways (``doc.open()``, ``doc.writer()``)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
from collections.abc import AsyncIterator

from docstate import ContentRef, Document, DocumentType, State, Status, Transition
from docstate.blobs import LocalBlobStore
from tests.conftest import Harness
from tests.test_engine import new_id

BIG = os.urandom(3 * 1024 * 1024 + 17)  # by reference (the harness inlines up to 1 KiB)
INVERT = bytes(255 - i for i in range(256))


class CountingStore(LocalBlobStore):
    """The real local store, counting the blobs it is asked to read."""

    opened: list[str] = []

    def open(self, ref: ContentRef) -> AsyncIterator[bytes]:
        self.opened.append(ref.sha256)
        return super().open(ref)


def _pipeline(name: str, *funcs: object) -> DocumentType:
    states = [f"s{i}" for i in range(len(funcs) + 1)]
    return DocumentType(
        name=name,
        states=[State(states[0], initial=True), *states[1:-1], State(states[-1], final=True)],
        transitions=[
            Transition(name=f"t{i}", source=states[i], target=states[i + 1], run=f)
            for i, f in enumerate(funcs)
        ],
    )


def touch_metadata(doc: Document) -> Document:
    return doc.model_copy(update={"metadata": {**doc.metadata, "seen": True}})


async def stream_upper(doc: Document) -> Document:
    """Reads in chunks, writes in chunks: never the whole content at once."""
    digest = hashlib.sha256()
    async with doc.writer() as out:
        async for chunk in doc.open():
            digest.update(chunk)
            await out.write(chunk.upper())
    return doc.with_ref(out.ref, input_sha256=digest.hexdigest())


def stream_in_thread(doc: Document) -> Document:
    """The same from a plain function (a worker thread)."""
    size = 0
    with doc.writer() as out:
        for chunk in doc.open():
            size += len(chunk)
            out.write_sync(chunk.translate(INVERT))
    return doc.with_ref(out.ref, size_seen=size)


def read_whole(doc: Document) -> Document:
    return doc.model_copy(update={"metadata": {**doc.metadata, "sha": _sha(doc.content)}})


async def read_whole_async(doc: Document) -> Document:
    data = await doc.read()
    return doc.model_copy(update={"metadata": {**doc.metadata, "async_sha": _sha(data)}})


def _sha(data: bytes | None) -> str:
    return hashlib.sha256(data or b"").hexdigest()


SKIP = _pipeline("skip3", touch_metadata, touch_metadata, touch_metadata)
STREAM = _pipeline("stream", stream_upper, stream_in_thread, read_whole, read_whole_async)


async def _run(harness: Harness, store: CountingStore, doctype: DocumentType) -> str:
    doc_id = new_id()
    async with harness.worker(doctype, blobs=store):
        await harness.client.submit(BIG, type=doctype.name, id=doc_id)
        record = await harness.client.wait(doc_id, timeout=120)
    assert record.status is Status.COMPLETED, record.error
    return doc_id


async def test_transitions_that_do_not_read_content_never_load_it(harness: Harness) -> None:
    store = CountingStore(harness.settings.blob_dir)
    store.opened.clear()
    doc_id = await _run(harness, store, SKIP)
    record = await harness.client.get(doc_id)
    assert record.metadata["seen"] is True
    assert record.content_ref == ContentRef(sha256=_sha(BIG), size=len(BIG))
    assert store.opened == []  # three transitions, not one read of the 3 MB


async def test_a_transition_streams_content_in_and_out(harness: Harness) -> None:
    store = CountingStore(harness.settings.blob_dir)
    doc_id = await _run(harness, store, STREAM)
    record = await harness.client.get(doc_id, with_content=True)
    expected = BIG.upper().translate(INVERT)
    assert record.content == expected
    assert record.metadata["input_sha256"] == _sha(BIG)
    assert record.metadata["size_seen"] == len(BIG)
    # read whole, lazily, by a plain function and by an async one
    assert record.metadata["sha"] == record.metadata["async_sha"] == _sha(expected)


AT_ONCE = 8  # more than the event loop's default executor has threads here (cores + 4)
SMALL = [os.urandom(2048) for _ in range(AT_ONCE)]  # by reference, each its own blob


async def test_plain_functions_holding_their_threads_still_read_content(
    harness: Harness,
) -> None:
    """Plain functions that hold their thread a while (blocking I/O, a slow parse), all at
    once, then read ``doc.content``. The read waits on the blob store, whose file I/O runs
    in the loop's default executor: were the functions in that executor too, they would
    hold every thread and wait for good (the scale-out test's files timed out so, and the
    worker then never exited)."""
    together = threading.Barrier(AT_ONCE, timeout=30)

    def hold_then_read(doc: Document) -> Document:
        together.wait()  # every function holds a thread at the same time
        return read_whole(doc)

    doctype = _pipeline("hold_then_read", hold_then_read)
    ids = [new_id() for _ in range(AT_ONCE)]
    async with harness.worker(doctype):
        for doc_id, data in zip(ids, SMALL, strict=True):
            await harness.client.submit(data, type=doctype.name, id=doc_id)
        records = await asyncio.gather(*(harness.client.wait(i, timeout=90) for i in ids))
    assert [r.status for r in records] == [Status.COMPLETED] * AT_ONCE, [r.error for r in records]
    assert [r.metadata["sha"] for r in records] == [_sha(data) for data in SMALL]


def test_an_attached_document_serialises_as_before(tmp_path: object) -> None:
    doc = Document(id="d", type="t", content_ref=ContentRef(sha256="a" * 64, size=5))
    copy = doc.with_ref(ContentRef(sha256="b" * 64, size=6), k=1)
    assert set(doc.model_dump()) == set(copy.model_dump())
    assert "_source" not in doc.model_dump_json()
    assert Document.model_validate_json(copy.model_dump_json()) == copy


async def test_the_readme_streaming_example_runs(harness: Harness) -> None:
    from tests.test_readme import block

    namespace: dict[str, object] = {}
    exec(block("python", "async def checksum_and_copy"), namespace)
    doctype = _pipeline("readme_stream", namespace["checksum_and_copy"], namespace["measure"])
    store = CountingStore(harness.settings.blob_dir)
    doc_id = await _run(harness, store, doctype)
    record = await harness.client.get(doc_id, with_content=True)
    assert record.content == BIG.upper()
    assert record.metadata["sha256_in"] == _sha(BIG) and record.metadata["size"] == len(BIG)
