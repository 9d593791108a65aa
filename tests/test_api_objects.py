"""Objects with operations, documents, actions, delete, status and types over HTTP."""

from __future__ import annotations

import httpx
import pytest

from docstate import Client
from docstate.document import Status
from docstate.projection import ProjectionQueries, create_engine
from tests.api_support import Api, running_api


async def test_process_adds_prerequisites_and_reports_progress(api: Api) -> None:
    body = {
        "identifier": "order-1",
        "operations": ["analyze"],
        "content": {"id": 1, "unitPrice": 3, "quantity": 4},
        "metadata": {"source": "shop"},
    }
    accepted = await api.http.post("/api/v1/process", json=body)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["progress_url"].endswith("/api/v1/progress/order-1")
    record = await api.harness.client.wait("order-1", timeout=60)
    assert record.status is Status.COMPLETED
    progress = (await api.http.get("/api/v1/progress/order-1")).json()
    assert progress["planned_operations"] == ["validate", "transform", "enrich", "analyze"]
    assert progress["completed_operations"] == progress["planned_operations"]
    assert progress["percent"] == 100 and progress["status"] == "completed"
    got = (await api.http.get("/api/v1/objects/order-1")).json()
    assert got["metadata"]["total"] == 8 and got["metadata"]["source"] == "shop"
    content = await api.http.get(got["content"]["url"])
    assert content.headers["content-length"] == str(got["content"]["size"])
    assert b'"unit_price": 3' in content.content
    history = (await api.http.get("/api/v1/documents/order-1/history")).json()
    assert [e["transition"] for e in history if e["status"] == "running"][:2] == [None, "plan"]
    assert (await api.http.get("/api/v1/documents/order-1/children")).json() == []
    path = (await api.http.get("/api/v1/documents/order-1/path")).json()
    assert [d["id"] for d in path] == ["order-1"]


async def test_process_refuses_bad_requests_at_once(api: Api) -> None:
    typo = await api.http.post(
        "/api/v1/process", json={"identifier": "o-2", "operations": ["analyse"], "content": {}}
    )
    assert typo.status_code == 422
    error = typo.json()["error"]
    assert error["code"] == "unknown_operation" and error["details"]["unknown"] == ["analyse"]
    assert "analyze" in error["details"]["known"]
    nothing = await api.http.post("/api/v1/process", json={"identifier": "o-3"})
    assert nothing.json()["error"]["code"] == "unknown_operation"
    kind = await api.http.post(
        "/api/v1/process", json={"identifier": "o-4", "target": "x", "type": "nope"}
    )
    assert kind.status_code == 422 and kind.json()["error"]["code"] == "unknown_type"
    malformed = await api.http.post(
        "/api/v1/process", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert malformed.status_code == 422 and malformed.json()["error"]["code"] == "validation"
    bad_id = await api.http.post("/api/v1/process", json={"identifier": "a b", "target": "x"})
    assert bad_id.status_code == 422
    assert bad_id.json()["error"]["message"].startswith("body.identifier:")
    assert await api.harness.client.list() == []  # nothing was started
    body = {"identifier": "dup", "target": "validate", "content": {"id": 1}}
    assert (await api.http.post("/api/v1/process", json=body)).status_code == 200
    again = await api.http.post("/api/v1/process", json=body)
    assert again.status_code == 409 and again.json()["error"]["code"] == "duplicate"


async def test_private_urls_are_refused_unless_allowed(api: Api) -> None:
    body = {"identifier": "u-1", "target": "validate", "url": "http://127.0.0.1:9/x.json"}
    refused = await api.http.post("/api/v1/process", json=body)
    assert refused.status_code == 422
    assert "non-public address (127.0.0.1)" in refused.json()["error"]["message"]


async def test_actions_listing_and_delete(api: Api) -> None:
    job_id = await api.submit(("a.txt", b"zz"), type="sleeper", metadata='{"sleep": 60}')
    doc_id = f"{job_id}/1"
    await api.harness.client.progress(doc_id).__anext__()  # it has started
    pause = await api.http.post(f"/api/v1/objects/{doc_id}/resume")
    assert pause.status_code == 409
    error = pause.json()["error"]
    assert error["code"] == "invalid_state" and error["details"]["status"] == "running"
    assert error["details"]["reason"] == error["message"] and "paused" in error["message"]
    busy = await api.http.delete(f"/api/v1/objects/{job_id}")
    assert busy.status_code == 409 and busy.json()["error"]["details"]["status"] == "running"
    cancelled = await api.http.post(f"/api/v1/objects/{job_id}/cancel")
    assert cancelled.status_code == 200
    await api.harness.client.wait(job_id, timeout=60)
    await api.harness.client.wait(doc_id, timeout=60)
    again = await api.http.post(f"/api/v1/objects/{job_id}/cancel")
    assert again.status_code == 409 and again.json()["error"]["details"]["status"] == "cancelled"
    page = (await api.http.get("/api/v1/objects", params={"parent": job_id})).json()
    assert [d["id"] for d in page["items"]] == [doc_id] and page["next_cursor"] is None
    first = (await api.http.get("/api/v1/objects", params={"limit": 1})).json()
    rest = (await api.http.get("/api/v1/objects", params={"cursor": first["next_cursor"]})).json()
    assert {d["id"] for d in first["items"] + rest["items"]} == {job_id, doc_id}
    by_status = (await api.http.get("/api/v1/objects", params={"status": "cancelled"})).json()
    assert {d["id"] for d in by_status["items"]} == {job_id, doc_id}
    bad_cursor = await api.http.get("/api/v1/objects", params={"cursor": "zzz"})
    assert bad_cursor.status_code == 422
    bad_status = await api.http.get("/api/v1/objects", params={"status": "asleep"})
    assert bad_status.status_code == 422
    blob = api.harness.blobs.path((await api.harness.client.get(doc_id)).content_ref.sha256)  # type: ignore[attr-defined,union-attr]
    assert blob.exists()
    deleted = (await api.http.delete(f"/api/v1/objects/{job_id}")).json()
    assert deleted == {"deleted": [job_id, doc_id], "blobs_deleted": 1}
    assert not blob.exists()
    assert (await api.http.get(f"/api/v1/objects/{doc_id}")).status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/objects/nope",
        "/api/v1/progress/nope",
        "/api/v1/progress/nope/stream",
        "/api/v1/documents/nope/history",
        "/api/v1/documents/nope/tree",
        "/api/v1/documents/nope/children",
        "/api/v1/documents/nope/path",
        "/api/v1/documents/nope/content",
        "/api/v1/types/nope",
    ],
)
async def test_unknown_ids_are_404(api: Api, path: str) -> None:
    response = await api.http.get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_unknown_ids_in_actions_are_404(api: Api) -> None:
    for action in ("cancel", "retry", "skip", "pause", "resume"):
        response = await api.http.post(f"/api/v1/objects/nope/{action}")
        assert response.status_code == 404, (action, response.text)
    assert (await api.http.delete("/api/v1/objects/nope")).status_code == 404
    assert (await api.http.post("/api/v1/objects/nope/explode")).status_code == 422


async def test_status_health_ready_and_types(api: Api) -> None:
    assert (await api.http.get("/health")).json() == {
        "status": "ok",
        "temporal": None,
        "database": None,
    }
    ready = await api.http.get("/ready")
    assert ready.status_code == 200 and ready.json()["temporal"] is True
    await api.http.post(
        "/api/v1/process", json={"identifier": "s-1", "target": "validate", "content": {"id": 1}}
    )
    await api.harness.client.wait("s-1", timeout=60)
    status = (await api.http.get("/api/v1/status")).json()
    assert status["temporal"] and status["database"]
    assert status["counts"]["object"] == {"completed": 1}
    types = {t["name"]: t for t in (await api.http.get("/api/v1/types")).json()}
    assert {"job", "file", "object", "sleeper", "basic"} <= set(types)
    file_spec = types["file"]["spec"]
    assert file_spec["states"][0]["name"] == "received"
    assert {"name": "analyze", "requires": ["enrich"]} in types["object"]["spec"]["operations"]
    assert len(types["file"]["version"]) == 64


async def test_ready_is_503_while_the_database_does_not_answer(api: Api) -> None:
    h = api.harness
    broken = create_engine("postgresql+asyncpg://postgres@127.0.0.1:9/none")
    client = Client(h.temporal, api.settings, ProjectionQueries(broken), h.blobs)
    try:
        async with running_api(api.settings, client) as url, httpx.AsyncClient() as http:
            ready = await http.get(f"{url}/ready")
            assert (await http.get(f"{url}/health")).status_code == 200
    finally:
        await broken.dispose()
    assert ready.status_code == 503
    assert ready.json() == {"status": "unavailable", "temporal": True, "database": False}
