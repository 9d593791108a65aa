"""Jobs over HTTP: submit files, wait on the job, read its results."""

from __future__ import annotations

import asyncio
import json

from sqlalchemy import event

from tests.api_support import Api


async def test_a_job_of_two_files_runs_and_gives_results_per_file(api: Api) -> None:
    job_id = await api.submit(
        ("notes.txt", b"Hello  World\n"),
        ("page.html", b"<html><p>Hi <b>there</b></p></html>"),
        metadata=json.dumps({"batch": "b1"}),
    )
    state = (await api.http.get(f"/jobs/{job_id}", params={"wait": 60})).json()
    assert state["status"] == "completed", state
    assert state["total_files"] == 2 and state["counts"] == {"completed": 2}
    assert state["submitted_at"] <= state["started_at"] <= state["completed_at"]
    response = await api.http.get(f"/jobs/{job_id}/results")
    assert response.status_code == 200
    results = response.json()
    assert (results["total_files"], results["successful"], results["failed"]) == (2, 2, 0)
    assert results["total_processing_time_ms"] > 0
    by_name = {r["filename"]: r for r in results["results"]}
    assert set(by_name) == {"notes.txt", "page.html"}
    html = by_name["page.html"]
    assert html["metadata"]["format"] == "html" and html["metadata"]["batch"] == "b1"
    assert html["document_id"] == f"{job_id}/2" and html["state"] == "normalized"
    text = (await api.http.get(html["content_url"])).content
    assert text.decode().split() == ["Hi", "there"]
    # a document with no operations planned is all or nothing
    progress = (await api.http.get(f"/api/v1/progress/{job_id}/2")).json()
    assert (progress["status"], progress["percent"]) == ("completed", 100)
    # lineage: the files are the job's derived documents, in SQL and in Temporal
    tree = (await api.http.get(f"/api/v1/documents/{job_id}/tree")).json()
    assert [(d["id"], d["parent_id"]) for d in tree] == [
        (job_id, None),
        (f"{job_id}/1", job_id),
        (f"{job_id}/2", job_id),
    ]
    child = api.harness.temporal.get_workflow_handle(f"doc:{job_id}/1")
    description = await child.describe()
    assert description.parent_id == f"doc:{job_id}"


async def test_results_are_202_while_the_job_runs_and_a_failed_file_does_not_hide_the_others(
    api: Api,
) -> None:
    running = await api.submit(("a.txt", b"zz"), type="sleeper", metadata='{"sleep": 60}')
    response = await api.http.get(f"/jobs/{running}/results")
    assert response.status_code == 202
    assert response.json()["status"] in ("pending", "processing")
    short = (await api.http.get(f"/jobs/{running}", params={"wait": 0.5})).json()
    assert short["status"] in ("pending", "processing")
    assert (await api.http.post(f"/api/v1/objects/{running}/cancel")).status_code == 200

    assert (await api.harness.client.wait(running, timeout=60)).status.value == "cancelled"
    assert (await api.http.get(f"/jobs/{running}")).json()["status"] == "failed"


async def test_a_file_that_fails_does_not_hide_the_others(api: Api) -> None:
    job_id = await api.submit(("good.txt", b"fine"), ("broken.pdf", b"%PDF-1.4 garbage"))
    state = (await api.http.get(f"/jobs/{job_id}", params={"wait": 60})).json()
    # the corrupt PDF waits for a decision: the job has settled, reported failed
    assert state["status"] == "failed", state
    assert state["counts"] == {"completed": 1, "waiting": 1}
    assert f"1 of 2 files did not complete; {job_id}/2: " in state["error"]
    assert "corrupt PDF" in state["error"]
    results = (await api.http.get(f"/jobs/{job_id}/results")).json()
    assert (results["successful"], results["failed"]) == (1, 1)
    good, broken = results["results"]
    assert good["status"] == "completed" and good["metadata"]["words"] == 1
    assert broken["status"] == "waiting" and "corrupt PDF" in broken["error"]
    # skipping the failed step lets the file, and so the job, complete
    skipped = await api.http.post(f"/api/v1/objects/{job_id}/2/skip")
    assert skipped.status_code == 200, skipped.text
    # the answer says where the file is after the skip, not where it was before it
    assert skipped.json()["status"] != "waiting", skipped.json()
    state = (await api.http.get(f"/jobs/{job_id}", params={"wait": 60})).json()
    assert state["status"] == "completed" and state["counts"] == {"completed": 2}


async def test_submit_refuses_what_it_cannot_run(api: Api) -> None:
    empty = await api.http.post(
        "/submit", content=b"--b--\r\n", headers={"Content-Type": "multipart/form-data; boundary=b"}
    )
    assert empty.status_code == 422 and empty.json()["error"]["code"] == "validation"
    fields_only = await api.http.post(
        "/submit", files={"type": (None, b"file")}, headers={"X-Test": "1"}
    )
    assert fields_only.status_code == 422
    assert fields_only.json()["error"]["message"] == "files: at least one file is required"
    unknown = await api.http.post(
        "/submit", files={"files": ("a.txt", b"x")}, data={"type": "nope"}
    )
    assert unknown.status_code == 422
    error = unknown.json()["error"]
    assert error["code"] == "unknown_type" and "file" in error["details"]["known"]
    bad_meta = await api.http.post(
        "/submit", files={"files": ("a.txt", b"x")}, data={"metadata": "{not json"}
    )
    assert bad_meta.status_code == 422 and "metadata" in bad_meta.json()["error"]["message"]
    not_multipart = await api.http.post("/submit", json={"files": []})
    assert not_multipart.status_code == 422
    assert (await api.http.get("/jobs/job-unknown")).status_code == 404
    assert (await api.http.get("/jobs/job-unknown/results")).json()["error"]["code"] == "not_found"
    assert (await api.http.get("/jobs/x", params={"wait": 61})).status_code == 422


async def test_waiting_requests_share_one_query_per_tick(api: Api) -> None:
    jobs = [
        await api.submit(("a.txt", b"zz"), type="sleeper", metadata='{"sleep": 60}')
        for _ in range(12)
    ]
    statements: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    engine = api.harness.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        answers = await asyncio.gather(
            *(api.http.get(f"/jobs/{job}", params={"wait": 2}) for job in jobs)
        )
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert {a.json()["status"] for a in answers} == {"processing"}
    grouped = [s for s in statements if "GROUP BY documents.root_id" in s]
    # one grouped query per 0.25 s tick for all twelve, however many wait
    assert 1 <= len(grouped) <= 2 / 0.25 + 2
    # each request reads its job (row and files) when it starts and when its time is up
    reads = [s for s in statements if s.startswith("SELECT") and s not in grouped]
    assert len(reads) <= 4 * len(jobs)
    for job in jobs:
        await api.http.post(f"/api/v1/objects/{job}/cancel")
