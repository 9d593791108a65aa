"""`docstate setup` prepares a deployment once per release; `docstate health` probes it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.testing import WorkflowEnvironment

from docstate.devserver import free_port, temporal_binary
from tests.conftest import spawn

ROOT = Path(__file__).parent.parent


@pytest.fixture
async def bare_server() -> AsyncIterator[WorkflowEnvironment]:
    """A dev server on which nobody has registered DocState's search attributes."""
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=str(temporal_binary()))
    yield env
    await env.shutdown()


def _env(tmp: Path, address: str, db: str = "p.db") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCSTATE_")}
    return env | {
        "DOCSTATE_TEMPORAL_ADDRESS": address,
        "DOCSTATE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / db}",
    }


def docstate(
    tmp: Path, address: str, *args: str, db: str = "p.db"
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "starter.py"), *args],
        env=_env(tmp, address, db),
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def _worker_start_log(tmp: Path, address: str) -> str:
    """What ``worker.py`` logs until it is ready (then it is stopped)."""
    worker = spawn([str(ROOT / "worker.py")], _env(tmp, address), tmp)
    assert worker.stdout is not None
    lines = []
    for line in worker.stdout:  # ends at "worker ready" or when the worker exits
        lines.append(line)
        if "worker ready" in line:
            break
    worker.send_signal(signal.SIGTERM)
    worker.communicate(timeout=60)
    assert worker.returncode == 0, lines
    return "".join(lines)


async def test_setup_migrates_and_registers_the_search_attributes_once(
    bare_server: WorkflowEnvironment, tmp_path: Path
) -> None:
    address = bare_server.client.service_client.config.target_host
    listed = await bare_server.client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace="default")
    )
    assert "DocState" not in listed.custom_attributes
    # Before setup: health and submit each say what is missing and what to run.
    assert docstate(tmp_path, address, "db", "upgrade").returncode == 0
    unready = docstate(tmp_path, address, "health")
    assert unready.returncode == 1 and unready.stderr.count("\n") == 1, unready.stderr
    assert "search attributes DocState, DocStatus, DocType are not registered" in unready.stderr
    assert "run `docstate setup`" in unready.stderr
    (tmp_path / "a.txt").write_text("x")
    refused = docstate(tmp_path, address, "submit", "a.txt", "--type", "file")
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1, refused.stderr
    assert "search attribute DocType" in refused.stderr
    assert "run `docstate setup` once for this namespace" in refused.stderr
    (tmp_path / "b c.txt").write_text("y")
    several = docstate(tmp_path, address, "submit", "a.txt", "b c.txt", "--type", "file")
    assert several.returncode == 1, several.stderr
    # the reason, once for both, then the count
    lines = several.stdout.splitlines()
    assert lines[0].startswith("not submitted (2 files): Temporal at ") and "setup" in lines[0]
    assert lines[1:] == ["2 documents: 2 not submitted"]
    # a worker would serve, but says why nothing will come (a warning, by its level)
    started = _worker_start_log(tmp_path, address).splitlines()
    warned = [line for line in started if "are not registered in namespace 'default'" in line]
    assert len(warned) == 1 and " WARNING docstate.worker " in warned[0], started
    first = docstate(tmp_path, address, "setup")
    assert first.returncode == 0, first.stderr
    assert "added DocState, DocStatus, DocType" in first.stdout
    listed = await bare_server.client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace="default")
    )
    assert {"DocType", "DocState", "DocStatus"} <= set(listed.custom_attributes)
    again = docstate(tmp_path, address, "setup")
    assert again.returncode == 0 and "already registered" in again.stdout, again.stderr
    health = docstate(tmp_path, address, "health")
    assert health.returncode == 0 and health.stdout.startswith("ok: "), health.stderr
    assert "search attributes registered" in health.stdout
    accepted = docstate(tmp_path, address, "submit", "a.txt", "--type", "file")
    assert accepted.returncode == 0 and accepted.stdout.startswith("submitted "), accepted.stderr


def test_health_fails_in_one_line_when_a_dependency_is_missing(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    address = temporal_env.client.service_client.config.target_host
    not_migrated = docstate(tmp_path, address, "health", db="empty.db")
    assert not_migrated.returncode == 1
    assert not_migrated.stderr.count("\n") == 1 and "docstate db upgrade" in not_migrated.stderr
    assert not (tmp_path / "empty.db").exists()  # a probe creates nothing
    assert docstate(tmp_path, address, "db", "upgrade").returncode == 0
    no_server = docstate(tmp_path, f"127.0.0.1:{free_port()}", "health")
    assert no_server.returncode == 1
    assert no_server.stderr.startswith("docstate: error: cannot reach Temporal at 127.0.0.1:")
    assert no_server.stderr.count("\n") == 1
