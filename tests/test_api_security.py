"""API keys and limits: 401 without a key, 413 over the upload cap, never a 500."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from tests.api_support import api_for
from tests.conftest import Harness

KEYS = "first-key,second-key"


async def test_api_keys_guard_every_endpoint_but_health(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    keys = [SecretStr(k) for k in KEYS.split(",")]
    async with api_for(harness, api_keys=keys) as api:
        http = api.http
        assert (await http.get("/health")).status_code == 200
        schema = (await http.get("/openapi.json", headers={"X-Api-Key": "second-key"})).json()
        guarded = [
            (method, path)
            for path, ops in schema["paths"].items()
            for method in ops
            if path != "/health"
        ]
        assert len(guarded) >= 18
        guarded += [("get", "/openapi.json"), ("get", "/docs")]
        for method, path in guarded:
            url = path.replace("{document_id}", "x").replace("{job_id}", "x")
            url = url.replace("{action}", "cancel").replace("{name}", "x")
            response = await http.request(method.upper(), url)
            assert response.status_code == 401, (method, path, response.text)
            assert response.json()["error"]["code"] == "unauthorized"
        wrong = await http.get("/api/v1/types", headers={"X-Api-Key": "first-kez"})
        assert wrong.status_code == 401
        for key in KEYS.split(","):
            ok = await http.get("/api/v1/types", headers={"X-Api-Key": key})
            assert ok.status_code == 200
        docs = await http.get("/docs", headers={"X-Api-Key": "first-key"})
        assert docs.status_code == 200 and "/openapi.json" in docs.text
    assert "first-key" not in caplog.text and "second-key" not in caplog.text


async def test_uploads_over_the_cap_are_413(harness: Harness) -> None:
    def stored() -> set[Path]:
        return set(harness.settings.blob_dir.rglob("*"))

    async with api_for(harness, api_max_upload=10_000) as api:
        before = stored()
        big = await api.http.post("/submit", files={"files": ("big.bin", b"x" * 20_000)})
        assert big.status_code == 413
        assert big.json()["error"] == {
            "code": "too_large",
            "message": "the upload is larger than 10000 bytes",
            "details": {"limit": 10000},
        }

        # no Content-Length: the cap is enforced while reading
        async def chunks() -> AsyncIterator[bytes]:
            yield b"--b\r\nContent-Disposition: form-data; name=files; filename=a\r\n\r\n"
            for _ in range(30):
                yield b"y" * 1000
            yield b"\r\n--b--\r\n"

        streamed = await api.http.post(
            "/submit",
            content=chunks(),
            headers={"Content-Type": "multipart/form-data; boundary=b"},
        )
        assert streamed.status_code == 413
        assert stored() == before  # nothing of a refused upload is left behind
        small = await api.http.post("/submit", files={"files": ("s.txt", b"small")})
        assert small.status_code == 200
        assert len(stored() - before) >= 1


async def test_garbage_is_never_a_500(harness: Harness) -> None:
    async with api_for(harness) as api:
        cases: list[tuple[str, str, dict[str, Any]]] = [
            ("POST", "/submit", {"content": b"\x00\xff", "headers": {"Content-Type": "x/y"}}),
            (
                "POST",
                "/submit",
                {
                    "content": b"--b\r\ngarbage",
                    "headers": {"Content-Type": "multipart/form-data; boundary=b"},
                },
            ),
            ("POST", "/api/v1/process", {"content": b"[1,2]"}),
            ("POST", "/api/v1/process", {"json": {"identifier": "x", "content": 5}}),
            ("GET", "/api/v1/objects", {"params": {"limit": "-1"}}),
            ("GET", "/api/v1/objects/" + "x" * 300, {}),
            ("GET", "/jobs/a%20b", {}),
        ]
        for method, url, kwargs in cases:
            response = await api.http.request(method, url, **kwargs)
            assert 400 <= response.status_code < 500, (url, response.status_code, response.text)
            assert set(response.json()["error"]) == {"code", "message", "details"}


async def test_unknown_routes_and_methods_keep_the_error_shape(harness: Harness) -> None:
    async with api_for(harness) as api:
        missing = await api.http.get("/nowhere")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
        wrong = await api.http.put("/health")
        assert wrong.status_code == 405
        assert wrong.json()["error"]["code"] == "method_not_allowed"
