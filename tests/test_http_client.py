"""The HTTP clients against a real server: every method, and refusals raised as the
embedded client's exceptions."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from docstate import (
    Client,
    DocumentNotFound,
    DocumentNotStarted,
    DuplicateDocument,
    InvalidTransition,
    NoWorker,
    UnknownDocumentType,
    UnknownOperation,
)
from docstate.errors import ApiError
from docstate.http import AsyncHttpClient, HttpClient
from tests.api_support import Api


async def test_jobs_through_the_async_client(api: Api, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("one two three")
    async with AsyncHttpClient(api.url) as client:
        results = await client.submit_and_wait(
            tmp_path / "a.txt", ("b.md", b"# four"), b"x y", metadata={"k": 1}, timeout=60
        )
        assert results.total_files == 3 and results.successful == 3
        assert [r.filename for r in results.results] == ["a.txt", "b.md", "file-3"]
        assert [r.metadata["words"] for r in results.results] == [3, 1, 2]
        assert all(r.metadata["k"] == 1 for r in results.results)
        first = results.results[0].document_id
        text = b"".join([chunk async for chunk in client.content(first)])
        assert text.decode().split() == ["one", "two", "three"]
        job_id = first.rsplit("/", 1)[0]
        state = await client.get_job_status(job_id, wait=5)
        assert state.status == "completed" and state.counts == {"completed": 3}
        assert sorted(d.id for d in await client.children(job_id)) == [
            f"{job_id}/1",
            f"{job_id}/2",
            f"{job_id}/3",
        ]
        assert len(await client.tree(job_id)) == 4
        assert (await client.history(first))[-1].status.value == "completed"

        slow = await client.submit_job(b"zz", type="sleeper", metadata={"sleep": 60})
        assert await client.get_job_results(slow.job_id) is None
        with pytest.raises(TimeoutError, match=r"still (pending|processing) after 1s") as late:
            await client.submit_and_wait(
                b"zz", type="sleeper", metadata={"sleep": 60}, timeout=1, poll_interval=0.1
            )
        await client.cancel(str(late.value).split()[1])
        cancelled = await client.cancel(slow.job_id)
        assert cancelled.status.value == "cancelled"
        with pytest.raises(InvalidTransition) as refused:
            await client.cancel(slow.job_id)
        assert refused.value.status == "cancelled"
        with pytest.raises(UnknownDocumentType) as unknown:
            await client.submit_job(b"x", type="nope")
        assert "file" in unknown.value.known


async def test_objects_through_the_async_client(api: Api) -> None:
    async with AsyncHttpClient(api.url) as client:
        accepted = await client.process("obj-1", target="analyze", content={"id": 1, "n": 2})
        assert accepted.operations == ["analyze"]
        events = [e async for e in client.stream_progress("obj-1")]
        assert events[-1].status.value == "completed"
        progress = await client.progress("obj-1")
        assert progress.percent == 100 and progress.completed_operations[-1] == "analyze"
        got = await client.get("obj-1")
        assert got.metadata["total"] == 3 and got.content is not None
        page = await client.list(type="object", limit=10)
        assert [d.id for d in page.items] == ["obj-1"]
        assert "object" in {t.name for t in await client.types()}
        with pytest.raises(UnknownOperation) as typo:
            await client.process("obj-2", operations=["analyse"])
        assert typo.value.unknown == ["analyse"] and typo.value.pipeline == "object"
        with pytest.raises(DuplicateDocument):
            await client.process("obj-1", target="validate", content={"id": 1})
        with pytest.raises(DocumentNotFound):
            await client.get("missing")
        for act in (client.retry, client.skip, client.pause, client.resume):
            with pytest.raises(InvalidTransition):
                await act("obj-1")
        assert await client.delete("obj-1") == ["obj-1"]
        with pytest.raises(DocumentNotFound):
            await client.progress("obj-1")


async def test_pause_and_resume_through_the_client(api: Api) -> None:
    async with AsyncHttpClient(api.url) as client:
        # "slow": a 2 s step, then another; paused during the first, it holds before the next
        job = await client.submit_job(b"zz", type="slow", metadata={"sleep": 2})
        doc_id = f"{job.job_id}/1"
        await api.harness.client.progress(doc_id).__anext__()
        assert (await client.pause(doc_id)).action == "pause"
        held = await api.harness.client.wait(doc_id, timeout=60)
        assert held.status.value == "paused" and held.state == "s1"
        assert (await client.get_job_status(job.job_id)).status == "processing"
        assert (await client.resume(doc_id)).action == "resume"
        final = await client.get_job_status(job.job_id, wait=60)
        assert final.status == "completed"


async def test_an_action_with_no_worker_is_503_no_worker(api: Api) -> None:
    h = api.harness
    # a document on a queue nobody serves: the API's action must not hang on it
    nobody = h.settings.model_copy(update={"task_queue": f"nobody-{h.settings.task_queue}"})
    doc = await Client(h.temporal, nobody, h.queries, h.blobs).submit(b"x", type="basic")
    response = await api.http.post(f"/api/v1/objects/{doc.id}/pause")
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "no_worker"
    # what to start a worker for, and that nothing was sent
    assert error["details"] == {"task_queue": nobody.task_queue, "sent": False}
    async with AsyncHttpClient(api.url) as client:
        with pytest.raises(NoWorker, match="no worker polls task queue 'nobody-") as refused:
            await client.pause(doc.id)
    assert (refused.value.task_queue, refused.value.sent) == (nobody.task_queue, False)
    # Its row: none yet; the answer says it was submitted and which queue wants a worker.
    unread = await api.http.get(f"/api/v1/objects/{doc.id}")
    assert unread.status_code == 404 and unread.json()["error"]["code"] == "not_found"
    assert unread.json()["error"]["details"] == {
        "document_id": doc.id,
        "task_queue": nobody.task_queue,
    }
    async with AsyncHttpClient(api.url) as client:
        with pytest.raises(DocumentNotStarted, match="no worker has started it yet") as unstarted:
            await client.get(doc.id)
    assert unstarted.value.task_queue == nobody.task_queue


async def test_the_api_key_and_other_refusals(api: Api) -> None:
    async with AsyncHttpClient(api.url, api_key="unused") as client:
        assert await client.types()  # no keys configured: any key is fine
    async with AsyncHttpClient(api.url) as client:
        with pytest.raises(ApiError) as empty:
            await client.submit_job()
        assert empty.value.code == "validation"


async def test_the_blocking_client(api: Api) -> None:
    def use() -> tuple[int, list[int], str]:
        with HttpClient(api.url) as client:
            results = client.submit_and_wait(b"a b", timeout=60)
            doc_id = results.results[0].document_id
            seqs = [e.seq for e in client.stream_progress(doc_id)]
            content = b"".join(client.content(doc_id)).decode()
            with pytest.raises(DocumentNotFound):
                client.get("missing")
            return results.successful, seqs, content

    successful, seqs, content = await asyncio.to_thread(use)
    assert successful == 1 and seqs == sorted(seqs) and len(seqs) >= 3
    assert content.split() == ["a", "b"]
