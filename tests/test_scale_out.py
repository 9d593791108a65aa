"""Scale-out on one machine: 3 worker processes and 2 API processes on one dev server and
PostgreSQL; 500 documents submitted through both APIs; one worker SIGKILLed and one
SIGTERMed midway. Every document completes exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import sqlalchemy as sa

from docstate import Status
from docstate.devserver import free_port
from docstate.projection.schema import document_events, documents
from tests.conftest import Harness

FILES_PER_JOB = 5
JOBS = 100  # 500 file documents, plus their 100 job documents
DOCSTATE = str(Path(sys.executable).parent / "docstate")


def stack_env(h: Harness) -> dict[str, str]:
    return {
        **os.environ,
        "DOCSTATE_TEMPORAL_ADDRESS": h.temporal.service_client.config.target_host,
        "DOCSTATE_TASK_QUEUE": h.settings.task_queue,
        "DOCSTATE_DATABASE_URL": h.settings.database_url,
        "DOCSTATE_BLOB_DIR": str(h.settings.blob_dir),
        "DOCSTATE_PIPELINES": "workflows.files",
        "DOCSTATE_SHUTDOWN_GRACE": "20",
    }


def start(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [DOCSTATE, *args], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=log.parent
        )


async def answering(http: httpx.AsyncClient, url: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        assert proc.poll() is None, f"the API at {url} exited"
        try:
            if (await http.get(f"{url}/health")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"the API at {url} did not answer")


async def completed_files(h: Harness) -> int:
    query = sa.select(sa.func.count()).where(
        documents.c.type == "file", documents.c.status == Status.COMPLETED.value
    )
    async with h.engine.connect() as conn:
        return int(await conn.scalar(query) or 0)


async def provisional_rows(h: Harness) -> int:
    query = sa.select(sa.func.count()).where(documents.c.closing.is_not(None))
    async with h.engine.connect() as conn:
        return int(await conn.scalar(query) or 0)


async def test_three_workers_and_two_apis_lose_nothing_when_workers_die(
    harness: Harness, tmp_path: Path
) -> None:
    env = stack_env(harness)
    workers = [start(env, tmp_path / f"worker-{i}.log", "worker") for i in range(3)]
    ports = [free_port(), free_port()]
    apis = [
        start(env, tmp_path / f"api-{i}.log", "api", "--host", "127.0.0.1", "--port", str(port))
        for i, port in enumerate(ports)
    ]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        async with httpx.AsyncClient(timeout=120) as http:
            for url, proc in zip(urls, apis, strict=True):
                await answering(http, url, proc)
            jobs: list[tuple[str, str]] = []  # (job id, the API that took it)
            for j in range(JOBS):
                url = urls[j % 2]
                files = [
                    ("files", (f"doc-{j}-{k}.txt", f"job {j} file {k} words".encode()))
                    for k in range(FILES_PER_JOB)
                ]
                response = await http.post(f"{url}/submit", files=files, data={"type": "file"})
                assert response.status_code == 200, response.text
                jobs.append((response.json()["job_id"], url))
            # Midway: one worker dies at once, another is stopped and drains.
            deadline = time.monotonic() + 300
            while await completed_files(harness) < JOBS * FILES_PER_JOB // 4:
                assert time.monotonic() < deadline, "no progress"
                await asyncio.sleep(0.2)
            workers[0].kill()
            workers[1].send_signal(signal.SIGTERM)
            assert workers[1].wait(60) == 0  # drained and stopped cleanly
            # Every job is followed through the other API than the one that took it.
            for job_id, took in jobs:
                other = urls[1 - urls.index(took)]
                while True:
                    state = (await http.get(f"{other}/jobs/{job_id}", params={"wait": 30})).json()
                    if state["status"] in ("completed", "failed"):
                        break
                    assert time.monotonic() < deadline, state
                assert state["status"] == "completed", state
            # Closed statuses the killed worker wrote but could not confirm with Temporal
            # stay provisional until the surviving worker adopts them (rows older than
            # 10 s, every 10 s): the projection catches up without anyone's help.
            while await provisional_rows(harness):
                assert time.monotonic() < deadline, "provisional rows were never adopted"
                await asyncio.sleep(0.5)
            workers[2].terminate()
            assert workers[2].wait(60) == 0  # the survivor, too, stops cleanly
    finally:
        for proc in [*apis, *workers]:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(60)

    async with harness.engine.connect() as conn:
        rows = (await conn.execute(sa.select(documents.c.type, documents.c.status))).all()
        events = (
            await conn.execute(
                sa.select(
                    document_events.c.document_id,
                    document_events.c.transition,
                    document_events.c.status,
                    document_events.c.error,
                    document_events.c.attempt,
                ).where(document_events.c.superseded.is_(False))
            )
        ).all()
    assert sorted({(t, s) for t, s in rows}) == [("file", "completed"), ("job", "completed")]
    assert sum(t == "file" for t, _ in rows) == JOBS * FILES_PER_JOB
    assert sum(t == "job" for t, _ in rows) == JOBS
    # Exactly one `completed` event per document, and one success per transition of each
    # (a success Temporal discarded is marked superseded, not counted).
    completed: dict[str, int] = {}
    successes: dict[tuple[str, str], int] = {}
    for document_id, transition, status, error, attempt in events:
        if status == Status.COMPLETED.value:
            completed[document_id] = completed.get(document_id, 0) + 1
        # an attempt's outcome (attempt >= 1), not a status the workflow recorded after it
        # (a fan-out's end names its transition too)
        if transition and attempt >= 1 and error is None and status in ("running", "completed"):
            key = (document_id, transition)
            successes[key] = successes.get(key, 0) + 1
    assert len(completed) == JOBS * (FILES_PER_JOB + 1)
    assert set(completed.values()) == {1}
    assert set(successes.values()) == {1}, {k: n for k, n in successes.items() if n > 1}
