"""What a deployment shows of itself: a worker's /metrics after a run, a document's
trace from submit to projection write, JSON logs with document ids."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.testing import WorkflowEnvironment

from docstate import Client, Registry, Status
from docstate.devserver import free_port
from docstate.engine import build_worker
from docstate.observability.tracing import TracedWriter
from docstate.temporal import connect_temporal
from tests import pipelines as p
from tests.conftest import Harness, process_env
from tests.pdfgen import make_pdf

ROOT = Path(__file__).parent.parent


def docstate(env: dict[str, str], cwd: Path, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / "starter.py"), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=90,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode in (0, 1), result.stderr
    return result.stdout


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text: str = response.read().decode()
        return text


def value(metrics: str, name: str, **labels: str) -> float:
    """The sample of ``name`` whose labels include ``labels`` (0 when there is none)."""
    for line in metrics.splitlines():
        match = re.match(rf"^{name}\{{(.*)\}} (\S+)$", line)
        if match and all(f'{k}="{v}"' in match.group(1) for k, v in labels.items()):
            return float(match.group(2))
    return 0.0


@pytest.fixture
def worker_process(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> Iterator[tuple[dict[str, str], int, Path]]:
    """A `docstate worker` subprocess with metrics on and JSON logs."""
    port = free_port()
    env = process_env(temporal_env.client, tmp_path, "workflows.files")
    env |= {
        "DOCSTATE_METRICS_PORT": str(port),
        "DOCSTATE_METRICS_INTERVAL": "PT0.5S",
        "DOCSTATE_LOG_FORMAT": "json",
    }
    docstate(env, tmp_path, "db", "upgrade")
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [sys.executable, str(ROOT / "worker.py")],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    yield env, port, tmp_path
    worker.send_signal(signal.SIGTERM)
    worker.wait(60)
    log.close()


def test_a_worker_serves_metrics_of_its_transitions_and_documents(worker_process) -> None:
    env, port, tmp = worker_process
    (tmp / "note.txt").write_text("counted words here")
    (tmp / "broken.pdf").write_bytes(make_pdf(["page"])[:200])  # truncated: corrupt
    docstate(env, tmp, "submit", "note.txt", "--id", "ok-1", "--type", "file", "--wait")
    docstate(env, tmp, "submit", "broken.pdf", "--id", "bad-1", "--type", "file", "--wait")
    deadline = time.monotonic() + 30
    while True:  # the gauges refresh every 0.5 s here
        metrics = scrape(port)
        if value(metrics, "docstate_documents", doc_type="file", status="waiting") == 1:
            break
        assert time.monotonic() < deadline, metrics
        time.sleep(0.2)
    assert value(metrics, "docstate_documents", doc_type="file", status="completed") == 1
    assert value(metrics, "docstate_oldest_waiting_seconds") > 0
    ok = {"doc_type": "file", "transition": "normalize", "outcome": "ok"}
    assert value(metrics, "docstate_transition_attempts", **ok) == 1
    pdf = {"doc_type": "file", "transition": "extract_pdf"}
    assert value(metrics, "docstate_transition_failures", **pdf, error_type="PermanentError") == 1
    assert value(metrics, "docstate_transition_duration_seconds_count", **pdf) == 1
    assert value(metrics, "docstate_projection_write_lag_seconds_count") >= 8
    assert "temporal_worker_task_slots_available" in metrics  # the SDK's own
    scraped = {line.split("{")[0].split(" ")[0] for line in metrics.splitlines()}
    for watched in watched_metrics():
        assert watched in scraped, f"{watched} (alerts or dashboard) is not exported"


def watched_metrics() -> set[str]:
    """Every metric the shipped alert rules and Grafana dashboard query."""
    rules = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())
    exprs = [r["expr"] for group in rules["groups"] for r in group["rules"]]
    dashboard = json.loads((ROOT / "deploy/grafana/docstate-dashboard.json").read_text())
    exprs += [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    names = {n for e in exprs for n in re.findall(r"\b((?:docstate|temporal)_[a-z_]+)", e)}
    assert len(names) >= 8, names
    return names


def test_json_logs_name_the_document(worker_process) -> None:
    env, _, tmp = worker_process
    (tmp / "broken.pdf").write_bytes(make_pdf(["page"])[:200])
    docstate(env, tmp, "submit", "broken.pdf", "--id", "logged-1", "--type", "file", "--wait")
    lines = [json.loads(line) for line in (tmp / "worker.log").read_text().splitlines()]
    assert any(line["message"].startswith("worker ready") for line in lines)
    failed = [line for line in lines if line.get("document_id") == "logged-1"]
    assert failed and failed[0]["workflow_id"] == "doc:logged-1" and failed[0]["run_id"]


@pytest.fixture(scope="module")
def spans() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)  # the application's own: DocState uses it
    return exporter


async def test_a_document_is_one_trace_from_submit_to_projection_write(
    harness: Harness, spans: InMemorySpanExporter
) -> None:
    settings = harness.settings.model_copy(
        update={
            "tracing": True,
            "temporal_address": harness.temporal.service_client.config.target_host,
        }
    )
    traced = await connect_temporal(settings)
    client = Client(traced, settings, harness.queries, harness.blobs)
    worker = build_worker(
        traced,
        task_queue=settings.task_queue,
        registry=Registry([p.BASIC]),
        writer=TracedWriter(harness.writer),
        blobs=harness.blobs,
    )
    async with worker:
        await client.submit(b"traced", type="basic", id="traced-1")
        record = await client.wait("traced-1", timeout=60)
    assert record.status is Status.COMPLETED
    finished = spans.get_finished_spans()
    start = next(s for s in finished if s.name == "StartWorkflow:DocumentWorkflow")
    assert start.attributes and start.attributes["temporalWorkflowID"] == "doc:traced-1"
    same_trace = [s for s in finished if s.context.trace_id == start.context.trace_id]
    names = {s.name for s in same_trace}
    assert {"RunWorkflow:DocumentWorkflow", "RunActivity:basic.parse"} <= names, names
    writes = [s for s in same_trace if s.name == "docstate.projection.write"]
    assert writes and all(
        s.attributes and s.attributes["docstate.document_id"] == "traced-1" for s in writes
    )
