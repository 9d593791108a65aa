"""The `docstate` command and `worker.py` as people run them: subprocesses, exit codes."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from docstate.devserver import free_port
from tests.conftest import process_env
from tests.pdfgen import make_pdf
from tests.test_readme import README

ROOT = Path(__file__).parent.parent


@dataclass
class Cli:
    env: dict[str, str]
    tmp: Path

    def __call__(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(ROOT / "starter.py"), *args],
            env=self.env,
            cwd=self.tmp,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def ok(self, *args: str) -> str:
        result = self(*args)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def fails(self, *args: str) -> str:
        """Run a command that must fail: exit 1 and exactly one line on stderr."""
        result = self(*args)
        assert result.returncode == 1, (result.stdout, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("docstate: error: "), result.stderr
        return lines[0]

    def misused(self, *args: str) -> str:
        """Run a command with bad arguments: exit 2 and one line naming the argument."""
        result = self(*args)
        assert result.returncode == 2, (result.stdout, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and ": error: " in lines[0], result.stderr
        assert lines[0].startswith("docstate"), result.stderr
        return lines[0]


@pytest.fixture(scope="module")
def cli(
    temporal_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cli]:
    tmp = tmp_path_factory.mktemp("cli")
    env = process_env(
        temporal_env.client,
        tmp,
        "workflows.files,workflows.pages,tests.pipelines",
    )
    runner = Cli(env, tmp)
    assert "is up to date" in runner.ok("db", "upgrade")
    with serving(runner):
        yield runner


@contextlib.contextmanager
def serving(cli: Cli) -> Iterator[None]:
    """A `worker.py` process for ``cli``'s deployment, drained (SIGTERM) at the end; its
    output goes to ``worker_log(cli)``."""
    with worker_log(cli).open("w") as log:
        worker = subprocess.Popen(
            [sys.executable, str(ROOT / "worker.py")],
            env=cli.env,
            cwd=cli.tmp,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    yield
    worker.send_signal(signal.SIGTERM)
    worker.wait(timeout=60)
    output = worker_log(cli).read_text()
    assert worker.returncode == 0, output
    assert "draining" in output and "worker stopped" in output
    # A corrupt file is a business outcome: one line (see the tests that submit one), no
    # stack in the worker's log.
    assert "docstate.errors.PermanentError" not in output, output


def worker_log(cli: Cli) -> Path:
    return cli.tmp / "worker.log"


def submitted_id(stdout: str) -> str:
    line = next(line for line in stdout.splitlines() if line.startswith("submitted "))
    return line.split()[1]


def test_submit_wait_status_list_history(cli: Cli) -> None:
    (cli.tmp / "report.pdf").write_bytes(make_pdf(["Hello PDF world"]))
    out = cli.ok(
        "submit", str(cli.tmp / "report.pdf"), "--type", "file", "--wait", "--timeout", "60"
    )
    doc_id = submitted_id(out)
    assert "normalized" in out and "completed" in out

    status = json.loads(cli.ok("status", doc_id, "--json"))
    assert (status["state"], status["status"]) == ("normalized", "completed")
    assert status["metadata"]["format"] == "pdf" and status["metadata"]["words"] == 3
    assert f"id:        {doc_id}" in cli.ok("status", doc_id)

    listed = cli.ok("list", "--type", "file", "--state", "normalized")
    assert doc_id in listed and listed.splitlines()[0].split()[:4] == [
        "ID",
        "TYPE",
        "STATE",
        "STATUS",
    ]
    assert doc_id not in cli.ok("list", "--status", "waiting")

    history = json.loads(cli.ok("history", doc_id, "--json"))
    assert [h["transition"] for h in history] == [None, "detect", "extract_pdf", "normalize"]
    assert "extract_pdf" in cli.ok("history", doc_id)


def test_waiting_document_retry_skip_and_exit_codes(cli: Cli) -> None:
    (cli.tmp / "broken.pdf").write_bytes(b"%PDF-1.7 truncated")
    out = cli("submit", str(cli.tmp / "broken.pdf"), "--type", "file", "--wait", "--timeout", "60")
    assert out.returncode == 1  # settled, but not completed
    doc_id = submitted_id(out.stdout)
    assert "waiting" in out.stdout and "corrupt PDF" in out.stdout

    assert cli.ok("retry", doc_id).startswith(f"{doc_id}: retried extract_pdf; now ")
    assert cli("wait", doc_id, "--timeout", "60").returncode == 1  # fails again: waiting
    assert "only a pending or running document can be paused" in cli.fails("pause", doc_id)
    assert cli.ok("skip", doc_id).startswith(f"{doc_id}: skipped extract_pdf; now ")
    assert cli("wait", doc_id, "--timeout", "60").returncode == 0
    assert "has already ended" in cli.fails("retry", doc_id)


def test_pause_resume_and_cancel(cli: Cli) -> None:
    out = cli.ok("submit", __file__, "--type", "slow", "--meta", "sleep=6")
    doc_id = submitted_id(out)
    assert cli.ok("pause", doc_id).startswith(f"{doc_id}: paused")
    held = cli("wait", doc_id, "--timeout", "60")
    assert held.returncode == 1 and "paused in state s1" in held.stdout
    assert json.loads(cli.ok("status", doc_id, "--json"))["status"] == "paused"
    assert cli.ok("resume", doc_id).startswith(f"{doc_id}: resumed; now ")
    assert cli("wait", doc_id, "--timeout", "60").returncode == 0

    long_id = submitted_id(cli.ok("submit", __file__, "--type", "slow", "--meta", "sleep=60"))
    assert "not paused" in cli.fails("resume", long_id)
    assert "cancellation requested" in cli.ok("cancel", long_id)
    assert cli("wait", long_id, "--timeout", "60").returncode == 1
    assert json.loads(cli.ok("status", long_id, "--json"))["status"] == "cancelled"
    assert "already ended" in cli.fails("cancel", long_id)


def _started(cli: Cli, *args: str) -> subprocess.Popen[str]:
    """A `docstate` command left running, its stdout and stderr read apart."""
    return subprocess.Popen(
        [sys.executable, str(ROOT / "starter.py"), *args],
        env=cli.env,
        cwd=cli.tmp,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_ctrl_c_in_submit_wait_leaves_the_ids_and_cancels_nothing(cli: Cli) -> None:
    name = "größe 1.txt"
    (cli.tmp / name).write_text("slow")
    waiting = _started(cli, "submit", name, "--type", "slow", "--meta", "sleep=60", "--wait")
    assert waiting.stdout is not None
    # The id is on the screen while the wait goes on, not only at its end.
    first = waiting.stdout.readline()
    assert first.startswith("submitted ") and first.rstrip().endswith(f"({name})"), first
    waiting.send_signal(signal.SIGINT)
    out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 130, (out, err)
    assert err.strip().splitlines() == [
        "docstate: interrupted; documents already submitted (each listed above as "
        "`submitted ID`) are not cancelled: `docstate wait ID` follows one"
    ]
    doc_id = submitted_id(first)
    assert json.loads(cli.ok("status", doc_id, "--json"))["status"] in ("pending", "running")
    # The same for a plain wait.
    waiting = _started(cli, "wait", doc_id, "--timeout", "60")
    time.sleep(3)  # started, connected and waiting (no line to wait for: it prints at the end)
    waiting.send_signal(signal.SIGINT)
    out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 130, (out, err)
    assert err.strip().splitlines()[-1:] == [
        f"docstate: stopped waiting; the document is not cancelled (`docstate wait {doc_id}` "
        "waits again)"
    ]
    assert "cancellation requested" in cli.ok("cancel", doc_id)


def test_bad_input_gets_one_clear_line(cli: Cli) -> None:
    assert "unknown document type 'invoice'" in cli.fails("submit", __file__, "--type", "invoice")
    assert "no such file: nope.pdf" in cli.fails("submit", "nope.pdf", "--type", "file")
    line = cli.fails("submit", "nope.pdf", "inbox/**/*.md", "--type", "file")
    assert line.endswith("no such file: nope.pdf; no file matches inbox/**/*.md")
    assert "'oops' is not key=value" in cli.misused(
        "submit", __file__, "--type", "file", "--meta", "oops"
    )
    assert "document 'ghost' not found" in cli.fails("status", "ghost")
    assert "document 'ghost' not found" in cli.fails("retry", "ghost")
    assert "document 'ghost' not found" in cli.fails("history", "ghost")
    assert "driver 'mysql' is not supported" in cli.fails("list", "--database-url", "mysql://x/y")
    assert "cannot reach Temporal at 127.0.0.1:1" in cli.fails(
        "--temporal-address", "127.0.0.1:1", "retry", "x"
    )
    first = cli.ok("submit", __file__, "--type", "file", "--id", "dup-1")
    assert submitted_id(first) == "dup-1"
    assert "document 'dup-1' already exists" in cli.fails(
        "submit", __file__, "--type", "file", "--id", "dup-1"
    )
    assert "required" in cli.misused("submit")


def test_tree_children_and_content(cli: Cli) -> None:
    (cli.tmp / "three.pdf").write_bytes(make_pdf(["alpha beta", "gamma delta", "epsilon"]))
    out = cli.ok("submit", str(cli.tmp / "three.pdf"), "--type", "pdf", "--id", "three")
    assert submitted_id(out) == "three"
    assert cli("wait", "three", "--timeout", "60").returncode == 0
    tree = cli.ok("tree", "three").splitlines()
    assert tree[0] == "three  pdf  paged  completed"
    assert tree[1] == "├── three/1  page  chunked  completed"
    assert tree[2] == "│   └── three/1/c0  chunk  indexed  completed"
    assert tree[-2] == "    └── three/3/c0  chunk  indexed  completed"
    assert tree[-1] == "7 documents: 7 completed"
    children = cli.ok("children", "three")
    assert sorted(line.split()[0] for line in children.splitlines()[1:]) == [
        "three/1",
        "three/2",
        "three/3",
    ]
    assert cli.ok("children", "three/3/c0").splitlines() == [
        "ID  TYPE  STATE  STATUS  UPDATED  ERROR"
    ]
    assert cli.ok("content", "three/2/c0") == "gamma delta"
    assert "three/2/c0" in cli.ok("list", "--type", "chunk", "--state", "indexed")
    cli.ok("content", "three", "-o", str(cli.tmp / "copy.pdf"))
    assert (cli.tmp / "copy.pdf").read_bytes() == (cli.tmp / "three.pdf").read_bytes()
    rebuilt = cli.ok("projection", "rebuild", "--query", 'WorkflowId STARTS_WITH "doc:three"')
    assert rebuilt.strip() == "rebuilt 7 documents from 7 workflow runs (18 events)"
    assert "document 'nope' not found" in cli.fails("tree", "nope")
    assert "document 'nope' not found" in cli.fails("children", "nope")
    assert "document 'nope' not found" in cli.fails("content", "nope", "-o", str(cli.tmp / "x"))
    assert not (cli.tmp / "x").exists() and not (cli.tmp / "x.partial").exists()


def test_batch_submit_with_summary_and_watch(cli: Cli) -> None:
    inbox = cli.tmp / "inbox" / "nested"
    inbox.mkdir(parents=True)
    for i in range(6):
        (inbox / f"note{i}.md").write_text(f"# Note {i}\n\nSome *text* number {i}.")
    (inbox / "broken.pdf").write_bytes(b"%PDF-1.7 cut short")
    pattern = str(cli.tmp / "inbox" / "**" / "*")
    out = cli(
        "submit", pattern, "--type", "file", "--wait", "--concurrency", "3", "--timeout", "60"
    )
    assert out.returncode == 1, out.stderr  # one document is waiting, not completed
    lines = out.stdout.splitlines()
    assert len([line for line in lines if line.startswith("submitted ")]) == 7
    assert lines[-1] == "7 documents: 6 completed, 1 waiting"
    broken = next(line for line in lines if "broken.pdf" in line and "waiting" in line)
    assert "corrupt PDF" in broken
    counts = cli.ok("watch", "--type", "file", "--count", "1")
    assert counts.splitlines()[0].split() == ["TYPE", "STATE", "STATUS", "COUNT"]
    assert any(line.split()[:3] == ["file", "detected", "waiting"] for line in counts.splitlines())


def test_graph(cli: Cli) -> None:
    mermaid = cli.ok("graph", "file")
    assert mermaid.startswith("stateDiagram-v2\n    [*] --> received\n")
    assert "detected --> extracted: extract_pdf [format=pdf]" in mermaid
    assert '"normalized" [shape=doublecircle];' in cli.ok("graph", "file", "--format", "dot")
    assert "unknown document type 'nope'" in cli.fails("graph", "nope")


def output_shape(text: str) -> list[str]:
    """Each line's first words before any value, the rows of documents left out."""
    lines = [line for line in text.splitlines() if line.strip()]
    return [
        " ".join(re.split(r"[=:(]", line)[0].split()[:3])
        for line in lines
        if not re.match(r"\S+-[0-9a-f]{12}\s", line)
    ]


def test_dev_demo_runs_the_samples_end_to_end(tmp_path: Path) -> None:
    api_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCSTATE_")}
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "starter.py"),
            "dev",
            "--demo",
            "--once",
            "--port",
            str(free_port()),
            "--ui-port",
            str(free_port()),
            "--data-dir",
            str(tmp_path / "state"),
            "--api-port",
            str(api_port),
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    rows = {
        line.split()[1]: line.split()[2:4]
        for line in out.splitlines()
        if line.split()[1:2] and line.split()[1].endswith((".txt", ".md", ".html", ".pdf"))
    }
    assert rows == {
        "broken.pdf": ["detected", "waiting"],
        "guide.md": ["normalized", "completed"],
        "hello.txt": ["normalized", "completed"],
        "page.html": ["normalized", "completed"],
        "report.pdf": ["normalized", "completed"],
    }
    # the README's sample shows the same lines, in the same order (ids, ports and paths
    # aside; "Ctrl-C stops." is for a demo that keeps serving)
    start = README.index("\nTemporal dev server at")
    shown = README[start : README.index("```", start)].replace("Ctrl-C stops.\n", "")
    assert output_shape(shown) == output_shape(out)
    assert "corrupt PDF" in out
    api = f"http://127.0.0.1:{api_port}"  # printed once its /health answered
    assert f"HTTP API at {api} (OpenAPI docs: {api}/docs)" in out
    assert out.rstrip().splitlines()[-1].startswith("Temporal web UI: http://127.0.0.1:")
    for kept in (
        "temporal.db",
        "docstate.db",
        "blobs",
        "worker.log",
        "api.log",
    ):  # all under --data-dir
        assert (tmp_path / "state" / kept).exists(), kept
    # The banner's exports point a command run anywhere else at this stack's projection.
    exported = dict(
        line.removeprefix("export ").split("=", 1)
        for line in out.splitlines()
        if line.startswith("export DOCSTATE_")
    )
    assert set(exported) >= {
        "DOCSTATE_TEMPORAL_ADDRESS",
        "DOCSTATE_DATABASE_URL",
        "DOCSTATE_BLOB_DIR",
        "DOCSTATE_TASK_QUEUE",
        "DOCSTATE_NAMESPACE",
        "DOCSTATE_PIPELINES",
    }
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    listed = Cli({**env, **exported}, elsewhere).ok("list", "--type", "file")
    assert listed.count("completed") == 4 and "waiting" in listed
