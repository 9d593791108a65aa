"""The README's examples run as written."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from docstate import Document, DocumentType, Status, Transition
from docstate.graph import to_mermaid
from tests.conftest import Harness
from workflows.files import FILE

README = (Path(__file__).parent.parent / "README.md").read_text()


def block(language: str, containing: str) -> str:
    blocks: list[str] = re.findall(rf"```{language}\n(.*?)```", README, re.S)
    return next(b for b in blocks if containing in b)


def test_the_two_setup_commands_come_first() -> None:
    first = re.search(r"```bash\n(.*?)```", README, re.S)
    assert first is not None
    commands = [line.split("#")[0].strip() for line in first.group(1).splitlines()]
    assert commands == ["scripts/demo", "scripts/test"]
    ci = (Path(__file__).parent.parent / ".ci" / "run").read_text()
    assert "exec scripts/test" in ci


def test_the_pipeline_example_builds() -> None:
    namespace: dict[str, object] = {}
    exec(block("python", "INVOICE = DocumentType("), namespace)
    invoice = namespace["INVOICE"]
    assert isinstance(invoice, DocumentType)
    assert invoice.spec().next_transition("routed", {"size": "large"}).name == "review"  # type: ignore[union-attr]


def test_the_shown_graph_is_the_shipped_pipeline() -> None:
    assert block("mermaid", "stateDiagram-v2") == to_mermaid(FILE)


async def test_the_client_example_runs(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    s = harness.settings
    monkeypatch.setenv(
        "DOCSTATE_TEMPORAL_ADDRESS", harness.temporal.service_client.config.target_host
    )
    monkeypatch.setenv("DOCSTATE_TASK_QUEUE", s.task_queue)
    monkeypatch.setenv("DOCSTATE_DATABASE_URL", s.database_url)
    monkeypatch.setenv("DOCSTATE_BLOB_DIR", str(s.blob_dir))
    code = "async def example():\n" + textwrap.indent(block("python", "Client.connect"), "    ")
    code += "    return record, events\n"
    namespace: dict[str, object] = {}
    exec(code, namespace)
    async with harness.worker(FILE):
        record, events = await namespace["example"]()  # type: ignore[operator]
    assert record.status is Status.COMPLETED
    assert record.metadata["format"] == "text"
    assert [e.transition for e in events][-1] == "normalize"


def test_the_fan_out_example_derives_pages() -> None:
    namespace: dict[str, object] = {}
    exec(block("python", "SPLIT = Transition("), namespace)
    split = namespace["SPLIT"]
    assert isinstance(split, Transition) and split.fan_out.window == 50
    pages = split.run(Document(id="r", type="pdf", content=b"one\ftwo"))
    assert [(p.id, p.type, p.text, p.parent_id) for p in pages] == [
        ("r/1", "page", "one", "r"),
        ("r/2", "page", "two", "r"),
    ]


async def test_the_batch_example_runs(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in ("a.txt", "b.md", "c.html"):
        (inbox / name).write_text(f"<p>{name}</p>" if name.endswith("html") else name)
    monkeypatch.chdir(tmp_path)
    code = "async def example(ds):\n" + textwrap.indent(block("python", "submit_many("), "    ")
    code += "    return results, failed\n"
    namespace: dict[str, object] = {}
    exec(code, namespace)
    async with harness.worker(FILE):
        results, failed = await namespace["example"](harness.client)  # type: ignore[operator]
    assert len(results) == 3 and failed == []
    assert {r.status for r in results} == {Status.COMPLETED}


async def test_the_sync_example_runs_as_a_script(harness: Harness, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(block("python", "SyncClient.connect()"))
    out = await harness.run_script(script, FILE)
    assert out.strip() == "completed b'hello\\n'"


def test_the_operations_example_plans() -> None:
    namespace: dict[str, object] = {}
    exec(block("python", "OperationsPipeline.build("), namespace)  # its asserts run too
    assert namespace["metadata"] == {"operations": ["export"]}


def test_the_key_command_makes_a_key_the_settings_accept() -> None:
    import subprocess
    import sys

    from docstate import Settings
    from docstate.keys import load_keys

    line = block("bash", "os.urandom(32)").splitlines()[0].split("#")[0].strip()
    assert line.startswith("python -c ")
    code = line.removeprefix("python -c ").strip("'")
    key = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    keys = load_keys(Settings(encryption_keys=f"k1:{key.strip()}"))
    assert keys is not None and keys.current_id == "k1"
