"""The README's HTTP API walk-throughs run as written (curl and the Python client)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from docstate.webhooks import WebhookSender
from tests.api_support import Api, Receiver, api_for
from tests.conftest import Harness
from tests.test_readme import block

README_URL = "http://127.0.0.1:8000"


def _files(where: Path) -> None:
    (where / "report.txt").write_text("Quarterly report: all good\n")
    (where / "notes.md").write_text("# Notes\n\nthree words here\n")


async def _run(*argv: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 180)
    assert proc.returncode == 0, err.decode() + out.decode()
    return out.decode()


async def test_the_curl_walk_through_runs(
    harness: Harness, receiver: Receiver, tmp_path: Path
) -> None:
    _files(tmp_path)
    sender = WebhookSender(harness.queries, "s3cret", allow_private=True)
    async with api_for(harness, webhooks=sender, webhook_allow_private=True) as api:
        script = block("bash", "curl -sf -F files=@report.txt").replace(README_URL, api.url)
        env = {"PATH": "/usr/bin:/bin", "LONG_TYPE": "sleeper", "HOOK_URL": receiver.url}
        run = _run("bash", "-euo", "pipefail", "-c", script, cwd=tmp_path, env=env)
        out = (await run).splitlines()
        for _ in range(100):  # delivered just after the job's end
            if receiver.calls:
                break
            await asyncio.sleep(0.1)
    assert out[0] == "completed"
    assert out[1:3] == ['["report.txt","completed",4]', '["notes.md","completed",4]']
    stream = [line for line in out[3:-2] if line]
    assert stream[0].startswith("id: ") and stream[1] == "event: progress"
    assert stream[2].startswith('data: {"document_id":')
    assert "event: end" in stream and '"status":"completed"' in stream[-1]
    assert out[-2:] == ["cancelled", "completed"]
    [(status, headers, body)] = receiver.calls
    namespace: dict[str, Any] = {}
    exec(block("python", "def verify(headers"), namespace)
    assert status == 204 and namespace["verify"](headers, body, "s3cret")
    assert json.loads(body)["counts"] == {"completed": 1}


async def test_the_python_client_walk_through_runs(api: Api, tmp_path: Path) -> None:
    _files(tmp_path)
    script = block("python", "from docstate.http import HttpClient").replace(README_URL, api.url)
    out = (await _run(sys.executable, "-c", script, cwd=tmp_path)).splitlines()
    assert out == ["2 [4, 4]", "completed normalized"]
