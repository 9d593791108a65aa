"""Payload encryption against a real, file-backed dev server: what Temporal stores is
ciphertext; the codec server decrypts it; keys rotate; a missing key is one clear line."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import WorkflowHandle

from docstate import Document, DocumentType, PermanentError, Settings, State, Status, Transition
from docstate.devserver import free_port, start_dev_server
from docstate.protocol import workflow_id
from tests.conftest import Harness
from tests.pipelines import QUICK
from tests.secure import appears, codec_server, database_files, new_key, show_history
from tests.test_engine import wait_for

ROOT = Path(__file__).parent.parent
refused: set[str] = set()
"""Document ids whose ``judge`` step refuses them once."""


def error_marker(doc: Document) -> str:
    return f"errmark-{doc.metadata['salt'][::-1]}"


async def annotate(doc: Document) -> Document:  # a local activity
    return doc.with_content((doc.content or b"") + b" annotated", note=f"{doc.metadata['salt']}!")


async def judge(doc: Document) -> Document:  # a task-queue activity
    if doc.id in refused:
        refused.discard(doc.id)
        raise PermanentError(f"refused: {error_marker(doc)}")
    return doc


PRIVATE = DocumentType(
    name="private",
    states=[State("new", initial=True), "annotated", State("done", final=True)],
    transitions=[
        Transition(name="annotate", source="new", target="annotated", run=annotate),
        Transition(
            name="judge", source="annotated", target="done", run=judge, local=False, retry=QUICK
        ),
    ],
)


@dataclass
class FileServer:
    address: str
    db_file: Path


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FileServer]:
    """A dev server of its own, keeping its state in a file the test can read."""
    db_file = tmp_path_factory.mktemp("temporal") / "temporal.db"
    dev = await start_dev_server(db_file, headless=True)
    yield FileServer(dev.address, db_file)
    dev.stop()


@asynccontextmanager
async def deployment(
    server: FileServer, tmp_path: Path, database_url: str, keys: str | None, queue: str
) -> AsyncIterator[Harness]:
    """A harness whose Temporal client is built like every DocState process's."""
    settings = Settings(
        temporal_address=server.address,
        task_queue=queue,
        database_url=database_url,
        blob_dir=tmp_path / "blobs",
        inline_threshold=1024,
        encryption_keys=keys,
    )
    h = await Harness.connect(settings)
    try:
        yield h
    finally:
        await h.close()


async def run_private(h: Harness) -> tuple[str, list[str]]:
    """One document through PRIVATE, refused once, then retried; returns its id and the
    markers of its content, its metadata and its error."""
    salt = uuid.uuid4().hex
    content, meta = f"contentmark-{salt[:12]}", f"metamark-{salt[12:]}"
    doc = await h.client.submit(
        f"private text {content}", type="private", metadata={"salt": salt, "secret": meta}
    )
    refused.add(doc.id)
    async with h.worker(PRIVATE):
        waiting = await h.client.wait(doc.id, timeout=60)
        assert waiting.status is Status.WAITING and waiting.error
        err = error_marker(doc)
        assert err in waiting.error  # the projection (our own database) keeps the message
        await h.client.retry(doc.id)
        done = await h.client.wait(doc.id, timeout=60)
    assert done.status is Status.COMPLETED, done
    return doc.id, [content, meta, err]


async def test_temporal_stores_only_ciphertext_and_the_codec_server_decrypts(
    server: FileServer, tmp_path: Path, pg_url: str
) -> None:
    queue = f"tq-{uuid.uuid4().hex}"
    keys = f"k1:{new_key()}"
    letter = tmp_path / "salary-review.txt"
    letter.write_text("a file whose name says too much")
    async with deployment(server, tmp_path, pg_url, keys, queue) as h:
        named = await h.client.submit(letter, type="private", metadata={"salt": "s"})
        assert "salary" not in named.id  # with encryption on, ids do not carry file names
        secret_id, secret_marks = await run_private(h)
    # The same pipeline without encryption: the very same checks find its markers, so
    # they would find a leak.
    async with deployment(server, tmp_path, pg_url, None, f"{queue}-plain") as h:
        named = await h.client.submit(letter, type="private", metadata={"salt": "s"})
        assert named.id.startswith("salary-review-")
        plain_id, plain_marks = await run_private(h)

    assert "doc:" + secret_id == workflow_id(secret_id)
    secret_history = await show_history(server.address, workflow_id(secret_id))
    plain_history = await show_history(server.address, workflow_id(plain_id))
    assert "encryption-key-id" in secret_history
    for mark in secret_marks:
        assert not appears(mark, secret_history), mark
    for mark in plain_marks:
        assert appears(mark, plain_history), mark
    blobs = b"".join(f.read_bytes() for f in (tmp_path / "blobs").rglob("*") if f.is_file())
    assert not appears(secret_marks[0], blobs) and appears(plain_marks[0], blobs)
    stored = database_files(server.db_file)
    for mark in secret_marks:
        assert not appears(mark, stored), mark
    for mark in plain_marks:
        assert appears(mark, stored), mark

    token = f"tok-{uuid.uuid4().hex}"
    codec_settings = Settings(encryption_keys=keys, codec_tokens=token)
    async with codec_server(codec_settings) as url:
        decoded = await show_history(
            server.address,
            workflow_id(secret_id),
            "--codec-endpoint",
            url,
            "--codec-auth",
            f"Bearer {token}",
        )
        for mark in secret_marks:
            assert appears(mark, decoded), mark
        async with httpx.AsyncClient(base_url=url) as http:
            body: dict[str, list[object]] = {"payloads": []}
            assert (await http.post("/decode", json=body)).status_code == 401
            wrong = {"Authorization": "Bearer not-the-token"}
            assert (await http.post("/decode", json=body, headers=wrong)).status_code == 401
            right = {"Authorization": f"Bearer {token}"}
            other = {**right, "X-Namespace": "elsewhere"}
            assert (await http.post("/decode", json=body, headers=other)).status_code == 403
            assert (await http.post("/decode", json={"x": 1}, headers=right)).status_code == 400
            answer = await http.post("/decode", json=body, headers=right)
            assert answer.status_code == 200 and answer.json() == {}


async def test_codec_server_cors_for_the_web_ui_origin() -> None:
    origin = "http://127.0.0.1:8233"
    settings = Settings(
        encryption_keys=f"k1:{new_key()}", codec_tokens="t", codec_cors_origins=origin
    )
    async with codec_server(settings) as url, httpx.AsyncClient(base_url=url) as http:
        preflight = {
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
        }
        allowed = await http.options("/decode", headers=preflight)
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == origin
        refused_origin = await http.options(
            "/decode", headers={**preflight, "Origin": "http://evil.example"}
        )
        assert "access-control-allow-origin" not in refused_origin.headers
        encoded = await http.post(
            "/encode",
            json={"payloads": [{"metadata": {"encoding": "anNvbi9wbGFpbg=="}, "data": "MQ=="}]},
            headers={"Authorization": "Bearer t", "Origin": origin},
        )
        assert encoded.headers["access-control-allow-origin"] == origin
        [payload] = encoded.json()["payloads"]
        assert payload["metadata"]["encoding"] == "YmluYXJ5L2VuY3J5cHRlZA=="  # binary/encrypted


async def test_rotation_and_a_process_without_the_key(
    server: FileServer, tmp_path: Path, pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    queue = f"tq-{uuid.uuid4().hex}"
    key_a, key_b, key_c = f"ka:{new_key()}", f"kb:{new_key()}", f"kc:{new_key()}"
    salt = uuid.uuid4().hex
    async with deployment(server, tmp_path, pg_url, key_a, queue) as h:
        doc = await h.client.submit(b"rotate me", type="private", metadata={"salt": salt})
        refused.add(doc.id)
        async with h.worker(PRIVATE):
            assert (await h.client.wait(doc.id, timeout=60)).status is Status.WAITING
    # Key B becomes current; the worker restarts with "B,A" and the document finishes.
    async with deployment(server, tmp_path, pg_url, f"{key_b},{key_a}", queue) as h:
        async with h.worker(PRIVATE):
            await h.client.retry(doc.id)
            assert (await h.client.wait(doc.id, timeout=60)).status is Status.COMPLETED
            later = await h.client.submit(
                b"written under B", type="private", metadata={"salt": salt}
            )
            assert (await h.client.wait(later.id, timeout=60)).status is Status.COMPLETED
        history = await show_history(server.address, workflow_id(doc.id))
        assert '"ZW5jcnlwdGlvbi1rZXktaWQ"' not in history  # metadata keys are plain text
        assert history.count('"a2E="') and history.count('"a2I="')  # ids "ka" and "kb"

        # A command line with neither key: one line, exit 1 (the worker answers its query).
        env = {
            **_env(h, server),
            "DOCSTATE_ENCRYPTION_KEYS": key_c,
        }
        async with h.worker(PRIVATE):
            proc = await asyncio.to_thread(
                subprocess.run,
                [
                    sys.executable,
                    str(ROOT / "starter.py"),
                    "projection",
                    "rebuild",
                    "--query",
                    f'WorkflowId = "{workflow_id(doc.id)}"',
                ],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
        assert proc.returncode == 1, proc.stderr
        assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
        assert proc.stderr.startswith("docstate: error: ")
        assert "key 'kb', which this process does not have (its keys: kc)" in proc.stderr

    # A worker with neither key: one log line for the workflow, not a stack per retry.
    async with deployment(server, tmp_path, pg_url, key_b, queue) as h:
        stuck = await h.client.submit(b"undecryptable", type="private", metadata={"salt": salt})
    caplog.set_level(logging.INFO)
    async with deployment(server, tmp_path, pg_url, key_c, queue) as h, h.worker(PRIVATE):
        handle = h.temporal.get_workflow_handle(workflow_id(stuck.id))
        await _task_attempts_reach(handle, 3)
    failed = await show_history(server.address, workflow_id(stuck.id))
    assert "which this process does not have (its keys: kc)" in failed  # readable in the UI
    lines = [r for r in caplog.records if stuck.id in r.getMessage()]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    assert lines[0].exc_info is None
    assert "key 'kb', which this process does not have" in lines[0].getMessage()
    assert not [r for r in caplog.records if r.exc_info and "kb" in str(r.exc_info[1])]


def _env(h: Harness, server: FileServer) -> dict[str, str]:
    return {
        **os.environ,
        "DOCSTATE_TEMPORAL_ADDRESS": server.address,
        "DOCSTATE_TASK_QUEUE": h.settings.task_queue,
        "DOCSTATE_DATABASE_URL": h.settings.database_url,
        "DOCSTATE_BLOB_DIR": str(h.settings.blob_dir),
        "PYTHONPATH": str(ROOT),
    }


async def _task_attempts_reach(handle: WorkflowHandle[Any, Any], attempts: int) -> None:
    async def attempt() -> bool:
        described = await handle.describe()
        pending = described.raw_description.pending_workflow_task
        return bool(pending and pending.attempt >= attempts)

    await wait_for(attempt, timeout=120, interval=0.5)


async def test_dev_stack_points_its_web_ui_at_a_codec_server(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DOCSTATE_")},
        "PYTHONPATH": str(ROOT),
        "DOCSTATE_ENCRYPTION_KEYS": f"k1:{new_key()}",
    }
    ui_port = free_port()
    dev = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "starter.py"),
        "dev",
        "--port",
        str(free_port()),
        "--ui-port",
        str(ui_port),
        "--data-dir",
        str(tmp_path / "state"),
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert dev.stdout is not None
    lines: list[str] = []
    try:
        while not lines or not lines[-1].startswith("Temporal web UI:"):
            line = await asyncio.wait_for(dev.stdout.readline(), 120)
            assert line, "".join(lines)
            lines.append(line.decode().strip())
        [codec] = [ln.split(": ", 1)[1].split()[0] for ln in lines if ln.startswith("codec server")]
        origin = f"http://127.0.0.1:{ui_port}"
        async with httpx.AsyncClient() as http:
            settings = (await http.get(f"{origin}/api/v1/settings")).json()
            assert settings["Codec"]["Endpoint"] == codec
            answer = await http.post(
                f"{codec}/decode",
                json={"payloads": []},
                headers={"Origin": origin, "X-Namespace": "default"},
            )
            assert answer.status_code == 200
            assert answer.headers["access-control-allow-origin"] == origin
    finally:
        dev.send_signal(signal.SIGINT)
        await asyncio.wait_for(dev.wait(), 60)
    assert dev.returncode == 0
