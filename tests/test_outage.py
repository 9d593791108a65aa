"""PostgreSQL stopped for 30 s mid-run, on a cluster of the test's own (never the shared one):
every document completes, read commands say one line, and the worker's log stays short."""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from docstate.devserver import free_port
from docstate.projection import create_database, upgrade
from tests.conftest import process_env
from tests.test_cli import ROOT, Cli

BINARIES = sorted(glob.glob("/usr/lib/postgresql/*/bin"))


@dataclass
class Cluster:
    """A PostgreSQL cluster of one test: its own data folder and loopback port."""

    data: Path
    port: int
    bin: Path

    def _run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.data / "log"),
                  "-w", "start")  # fmt: skip

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/docstate"


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    if not BINARIES:
        pytest.fail("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
    root = Path(tempfile.mkdtemp(prefix="docstate-pg-"))
    data = root / "data"
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(data, "postgres")
    c = Cluster(data, free_port(), Path(BINARIES[-1]))
    c._run("initdb", "-D", str(data), "-A", "trust", "-U", "postgres")
    c.start()
    yield c
    subprocess.run(  # whatever state the test left it in
        ["runuser", "-u", "postgres", "--", str(c.bin / "pg_ctl"), "-D", str(data), "-m",
         "immediate", "stop"] if os.geteuid() == 0 else
        [str(c.bin / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
        capture_output=True, timeout=60,
    )  # fmt: skip
    shutil.rmtree(root, ignore_errors=True)


READS = (["list"], ["status", "{id}"], ["history", "{id}"], ["tree", "{id}"],
         ["children", "{id}"], ["content", "{id}"])  # fmt: skip


def test_a_database_outage_mid_run(
    temporal_env: WorkflowEnvironment, cluster: Cluster, tmp_path: Path
) -> None:
    asyncio.run(create_database(cluster.url))
    asyncio.run(upgrade(cluster.url))
    env = process_env(temporal_env.client, tmp_path, "tests.pipelines")
    env["DOCSTATE_DATABASE_URL"] = cluster.url
    cli = Cli(env, tmp_path)
    log = tmp_path / "worker.log"
    with log.open("w") as sink:
        worker = subprocess.Popen(
            [sys.executable, str(ROOT / "worker.py")],
            env=env, cwd=tmp_path, stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        docs = 12
        inbox = tmp_path / "inbox"
        inbox.mkdir()
        for n in range(docs):
            (inbox / f"doc{n}.txt").write_text(f"outage {n}")
        out = cli.ok(
            "submit", str(inbox / "*"), "--type", "slow", "--meta", "sleep=4",
            "--concurrency", str(docs),
        )  # fmt: skip
        ids = [line.split()[1] for line in out.splitlines() if line.startswith("submitted ")]
        assert len(ids) == docs
        time.sleep(1)  # all of them are in their first (4 s) step
        cluster.stop()
        down_at = time.monotonic()
        for command in READS:
            line = cli.fails(*(arg.format(id=ids[0]) for arg in command))
            assert "cannot reach the projection database" in line, (command, line)
        time.sleep(max(0.0, 30 - (time.monotonic() - down_at)))
        cluster.start()
        for doc_id in ids:
            assert cli("wait", doc_id, "--timeout", "180", timeout=200).returncode == 0, doc_id
        assert cli.ok("list", "--type", "slow", "--status", "completed").count("slow") == docs
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)
    lines = log.read_text().splitlines()
    # A line per document (its first failed write), one when the outage ends, and the
    # worker's own start and stop: not one per retry, and never a stack trace.
    assert len(lines) <= 2 * docs + 10, "\n".join(lines[:40])
    assert not [line for line in lines if "Traceback" in line], "\n".join(lines[:40])
    failing = [line for line in lines if "retrying until the database answers" in line]
    assert len(failing) > docs // 2, "\n".join(lines)  # most were caught mid-step
    assert any("the outage is over" in line for line in lines)
