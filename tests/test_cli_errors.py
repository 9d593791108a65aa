"""Every failure a user can cause: one line, exit 1 (usage: 2), no hang, no abort at exit."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from temporalio.testing import WorkflowEnvironment

from docstate import AsyncDocStore, Document, Settings
from docstate.devserver import free_port
from docstate.errors import NoWorker
from docstate.projection import create_database, create_engine
from tests.conftest import process_env
from tests.test_cli import ROOT, Cli, serving, submitted_id, worker_log
from tests.test_docstore import WEB


@pytest.fixture(scope="module")
def cli(
    temporal_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cli]:
    tmp = tmp_path_factory.mktemp("cli-errors")
    env = process_env(temporal_env.client, tmp, "workflows.files,workflows.pages")
    env["DOCSTATE_SHUTDOWN_GRACE"] = "30"  # as the README's table writes it
    runner = Cli(env, tmp)
    runner.ok("db", "upgrade")
    with serving(runner):  # its DOCSTATE_SHUTDOWN_GRACE=30 is read at start
        yield runner


def with_env(cli: Cli, **extra: str) -> Cli:
    return Cli({**cli.env, **extra}, cli.tmp)


def test_ids_any_file_name_and_a_batch_with_every_name(cli: Cli) -> None:
    plain = cli.tmp / "plain.txt"
    plain.write_text("some words")
    rule = "is invalid: an id is 1 to 200 characters, each an ASCII letter"
    assert rule in cli.fails("submit", str(plain), "--type", "file", "--id", "a b")
    assert rule in cli.fails("submit", str(plain), "--type", "file", "--id", "x" * 250)
    assert rule in cli.fails("submit", str(plain), "--type", "file", "--id", "résumé")

    folder = cli.tmp / "names"
    folder.mkdir()
    for name in ("résumé.txt", "日本語.txt", "two words.txt", "straße.md"):
        (folder / name).write_text("words and more words")
    out = cli.ok("submit", str(folder / "*"), "--type", "file", "--wait", "--timeout", "60")
    ids = sorted(line.split()[1] for line in out.splitlines() if line.startswith("submitted "))
    assert [i.rsplit("-", 1)[0] for i in ids] == ["resume", "strasse", "two-words", "xn-wgv71a119e"]
    assert out.splitlines()[-1] == "4 documents: 4 completed"

    # Reading needs only the projection: every read command works with Temporal away.
    away = with_env(cli, DOCSTATE_TEMPORAL_ADDRESS=f"127.0.0.1:{free_port()}")
    assert ids[0] in away.ok("status", ids[0])
    for command in ("history", "tree", "children", "content"):
        away.ok(command, ids[0])
    assert all(i in away.ok("list", "--type", "file") for i in ids)
    refused = away.fails("submit", str(plain), "--type", "file")
    assert "cannot reach Temporal" in refused and "nothing listens there" in refused
    assert "tonic" not in refused  # the SDK core's own text is a Rust debug print


def test_flags_and_settings_are_one_line(cli: Cli) -> None:
    plain = cli.tmp / "flags.txt"
    plain.write_text("x")
    for bad in ("0", "-3"):
        line = cli.misused("submit", str(plain), "--type", "file", "--concurrency", bad)
        assert line.startswith("docstate submit: error: argument --concurrency:")
        assert f"must be at least 1, not {bad}" in line
    for bad in ("-1", "0", "nan"):
        line = cli.misused("wait", "some-id", "--timeout", bad)
        assert f"argument --timeout: must be more than 0 seconds, not {bad}" in line
    assert "is not a number of seconds" in cli.misused("wait", "x", "--timeout", "soon")
    line = cli.misused("dev", "--port", "99999")
    assert "argument --port: must be a port from 1 to 65535, not 99999" in line
    assert "argument --limit: must be at least 1, not 0" in cli.misused("list", "--limit", "0")
    assert "invalid choice: 'frob'" in cli.misused("frob")
    line = with_env(cli, DOCSTATE_INLINE_THRESHOLD="abc").fails("list")
    assert "DOCSTATE_INLINE_THRESHOLD=abc is invalid" in line
    line = with_env(cli, DOCSTATE_SHUTDOWN_GRACE="soon").fails("list")
    assert "DOCSTATE_SHUTDOWN_GRACE=soon is invalid" in line and "30s, 5m" in line
    # the flag named as typed (each address's reason: tests/test_client_errors.py)
    assert "--temporal-address=localhost is invalid: not host:port" in cli.fails(
        "--temporal-address", "localhost", "list"
    )
    (cli.tmp / "not-a-folder").write_text("x")
    blobs = with_env(cli, DOCSTATE_BLOB_DIR=str(cli.tmp / "not-a-folder" / "blobs"))
    line = blobs.fails("submit", str(plain), "--type", "file")
    assert "cannot store content under" in line and "DOCSTATE_BLOB_DIR" in line
    line = cli.fails("submit", str(cli.tmp), "--type", "file")
    assert f"{cli.tmp}: a folder, not a file" in line and f"'{cli.tmp}/*'" in line
    line = cli.misused("submit", str(plain), "--type", "file", "--meta", "oops")
    assert "argument --meta: 'oops' is not key=value" in line


def _drop(url: str) -> None:
    async def drop() -> None:
        target = make_url(url)
        admin = create_engine(target.set(database="postgres").render_as_string(hide_password=False))
        async with admin.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{target.database}"'))
        await admin.dispose()

    asyncio.run(drop())


def worker_fails(cli: Cli, url: str) -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / "worker.py")],
        env={**cli.env, "DOCSTATE_DATABASE_URL": url},
        cwd=cli.tmp,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("docstate: error: "), result.stderr
    return lines[0]


def test_a_database_down_missing_or_not_migrated(cli: Cli, postgres_url: str) -> None:
    base = make_url(postgres_url)
    down = base.set(port=free_port()).render_as_string(hide_password=False)
    for command in (["list"], ["status", "x"], ["history", "x"], ["db", "upgrade"]):
        line = cli.fails("--database-url", down, *command)
        assert "cannot reach the projection database" in line and "is it running?" in line
    assert "cannot reach the projection database" in worker_fails(cli, down)

    missing = base.set(database=f"docstate_missing_{uuid.uuid4().hex[:8]}")
    missing_url = missing.render_as_string(hide_password=False)
    for command in (["list"], ["status", "x"], ["db", "upgrade"]):
        line = cli.fails("--database-url", missing_url, *command)
        assert "does not exist" in line and "then run `docstate db upgrade`" in line
    assert "does not exist" in worker_fails(cli, missing_url)

    empty_url = base.set(database=f"docstate_empty_{uuid.uuid4().hex[:8]}").render_as_string(
        hide_password=False
    )
    asyncio.run(create_database(empty_url))
    try:
        for command in (["list"], ["status", "x"], ["tree", "x"]):
            line = cli.fails("--database-url", empty_url, *command)
            assert "has no DocState tables" in line and "run `docstate db upgrade`" in line
        assert "run `docstate db upgrade`" in worker_fails(cli, empty_url)
    finally:
        _drop(empty_url)

    nowhere = f"sqlite+aiosqlite:///{cli.tmp / 'elsewhere' / 'docstate.db'}"
    line = cli.fails("--database-url", nowhere, "list")
    assert "no projection at" in line and "`docstate dev` prints it" in line
    # a worker or the API started there: the same refusal, not an empty file created
    assert "no projection at" in worker_fails(cli, nowhere)
    assert "no projection at" in cli.fails("--database-url", nowhere, "api")
    assert not (cli.tmp / "elsewhere" / "docstate.db").exists()  # nothing created on the way
    # an existing file is found whatever the URL's query string says
    queried = f"sqlite+aiosqlite:///{cli.tmp / 'queried.db'}"
    cli.ok("--database-url", queried, "db", "upgrade")
    assert cli.ok("--database-url", f"{queried}?timeout=5", "list").startswith("ID")


def test_wait_on_an_unknown_id_says_not_found(cli: Cli) -> None:
    # no --timeout: before, this never returned (the subprocess timeout would fail it)
    assert "document 'no-such-id' not found" in cli.fails("wait", "no-such-id")


def test_waiting_with_no_worker_on_the_queue_says_so(cli: Cli) -> None:
    queue = f"nobody-{uuid.uuid4().hex}"
    nobody = with_env(cli, DOCSTATE_TASK_QUEUE=queue)
    lonely = cli.tmp / "lonely.txt"
    lonely.write_text("words nobody reads")
    note = f"docstate: note: no worker polls task queue {queue!r}"
    doc_id = f"lonely-{uuid.uuid4().hex[:8]}"
    waited = nobody(
        "submit", str(lonely), "--type", "file", "--id", doc_id, "--wait", "--timeout", "8"
    )
    assert waited.returncode == 1 and note in waited.stderr, waited.stderr
    # submitted all the same: it waits for a worker, and the output says so
    assert submitted_id(waited.stdout) == doc_id
    # the limit given, and the queue it waits in
    hint = f"(is `docstate worker` running for task queue {queue!r}?)"
    assert f"was not started by a worker within 8s {hint}" in waited.stdout
    assert waited.stdout.splitlines()[-1] == "1 document: 1 pending", waited.stdout
    waited = nobody("wait", doc_id, "--timeout", "7")
    assert waited.returncode == 1 and note in waited.stderr, waited.stderr


def test_status_and_actions_with_no_worker_say_so(cli: Cli) -> None:
    queue = f"nobody-{uuid.uuid4().hex}"
    nobody = with_env(cli, DOCSTATE_TASK_QUEUE=queue)
    unread = cli.tmp / "ünread file.txt"
    unread.write_text("words nobody reads yet")
    doc_id = submitted_id(nobody.ok("submit", str(unread), "--type", "file"))
    # submitted, no row yet: not "not found" but why, and what to check
    started = f"document {doc_id!r} was submitted but no worker has started it yet"
    for command in ("status", "tree", "history"):
        line = nobody.fails(command, doc_id)
        assert started in line and repr(queue) in line, (command, line)
    # an update would wait for a worker, silently: refused at once, nothing sent
    for command in ("pause", "retry", "step"):
        line = nobody.fails(command, doc_id)
        assert f"cannot {command} document {doc_id!r} now: no worker polls task queue" in line
        assert "nothing was sent" in line
    assert "document 'never-submitted' not found" in nobody.fails("status", "never-submitted")
    # Temporal away: an unrecorded id is simply not found, without waiting on it
    away = with_env(cli, DOCSTATE_TEMPORAL_ADDRESS=f"127.0.0.1:{free_port()}")
    assert f"document {doc_id!r} not found" in away.fails("status", doc_id)


def test_rebuild_and_verify_say_when_no_worker_answers(cli: Cli) -> None:
    nobody = with_env(cli, DOCSTATE_TASK_QUEUE=f"nobody-{uuid.uuid4().hex}")
    plain = cli.tmp / "unserved.txt"
    plain.write_text("x")
    doc_id = submitted_id(nobody.ok("submit", str(plain), "--type", "file"))
    query = f'WorkflowId = "doc:{doc_id}"'
    for command in ("rebuild", "verify"):
        line = nobody.fails("projection", command, "--query", query, "--query-timeout", "2")
        assert "no worker answered the snapshot query of 1 document workflows" in line


def test_binary_content_reaching_a_text_step_waits_with_a_reason(cli: Cli) -> None:
    corrupt = cli.tmp / "corrupt.pdf"
    corrupt.write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Broken \xff\xfe >>\n")
    out = cli("submit", str(corrupt), "--type", "file", "--wait", "--timeout", "60")
    doc_id = submitted_id(out.stdout)
    assert "corrupt PDF" in out.stdout
    # in the worker's log: one line, no stack (the fixture checks there is none)
    assert f"{doc_id}: extract_pdf failed for good: corrupt PDF" in worker_log(cli).read_text()
    assert cli.ok("skip", doc_id).startswith(f"{doc_id}: skipped extract_pdf; now ")
    assert cli("wait", doc_id, "--timeout", "60").returncode == 1  # waiting, not crashing
    status = json.loads(cli.ok("status", doc_id, "--json"))
    assert (status["state"], status["status"]) == ("extracted", "waiting")
    assert "not UTF-8 text but a PDF" in status["error"]
    history = json.loads(cli.ok("history", doc_id, "--json"))
    normalize = [h for h in history if h["transition"] == "normalize" and h["error"]]
    assert normalize and all(h["attempt"] <= 1 for h in normalize)  # never retried


async def test_the_store_refuses_when_its_worker_does_not_run(tmp_path: Path) -> None:
    store = AsyncDocStore(f"sqlite:///{tmp_path / 'docs.db'}", WEB, settings=Settings())
    with pytest.raises(NoWorker, match="initialize"):
        await store.add(Document(id="x", type="web"))


def test_dev_refuses_a_taken_port_and_names_its_holder(tmp_path: Path) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        for flags, what in (
            (["--port", str(port), "--ui-port", str(free_port())], "Temporal gRPC"),
            (["--port", str(free_port()), "--ui-port", str(port)], "Temporal web UI"),
        ):
            result = Cli(dict(os.environ), tmp_path)(
                "dev", "--once", *flags, "--data-dir", str(tmp_path / "state")
            )
            assert result.returncode == 1, result.stdout + result.stderr
            line = result.stderr.strip()
            assert f"port {port} ({what}) is taken by pid " in line, line
            assert "pytest" in line or "python" in line  # the holder: this test process
        api = Cli(dict(os.environ), tmp_path).fails("api", "--port", str(port))
        assert f"port {port} (HTTP API) is taken by pid " in api, api
    assert not (tmp_path / "state" / "temporal.db").exists()  # no server was started


ERROR_PATHS: list[tuple[list[str], dict[str, str], int]] = [
    (["list"], {"DOCSTATE_INLINE_THRESHOLD": "abc"}, 1),
    (["submit"], {}, 2),
    (["submit", __file__, "--type", "file", "--id", "a b"], {}, 1),
    (["submit", __file__, "--type", "file", "--concurrency", "0"], {}, 2),
    (["status", "ghost"], {}, 1),
    (["retry", "ghost"], {}, 1),
    (["wait", "ghost"], {}, 1),
    (["list", "--database-url", "postgresql+asyncpg://postgres@127.0.0.1:9/x"], {}, 1),
]


def test_every_error_path_exits_cleanly_twenty_times(cli: Cli) -> None:
    """temporalio's Rust core can abort a process at interpreter exit (sdk-python #300):
    each path, run 20 times, ends with its code, never with a signal or a crash."""

    def run(path: tuple[list[str], dict[str, str], int]) -> tuple[str, int, str]:
        args, extra, _ = path
        result = with_env(cli, **extra)(*args, timeout=120)
        return " ".join(args), result.returncode, result.stderr

    runs = [path for path in ERROR_PATHS for _ in range(20)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(run, runs))
    expected = {" ".join(args): code for args, _, code in ERROR_PATHS}
    wrong = [(cmd, code, err[-300:]) for cmd, code, err in outcomes if code != expected[cmd]]
    assert wrong == []
    for cmd, _, err in outcomes:
        assert "Traceback" not in err and "PyGILState" not in err and "panicked" not in err, cmd
        if expected[cmd] == 1:
            assert len(err.strip().splitlines()) == 1, (cmd, err)
