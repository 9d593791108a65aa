"""What a deployment shows of itself: a worker's /metrics after a run, a document's
trace from submit to projection write, JSON logs with document ids."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest
import yaml
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from docstate import Client, Registry, Settings, Status
from docstate.devserver import free_port
from docstate.engine import build_worker
from docstate.observability.tracing import TracedWriter
from docstate.temporal import connect_temporal
from tests import pipelines as p
from tests.api_support import Receiver, api_for, running_api
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
        match = re.match(rf"^{name}(?:\{{(.*)\}})? (\S+)$", line)
        if match and all(f'{k}="{v}"' in (match.group(1) or "") for k, v in labels.items()):
            return float(match.group(2))
    return 0.0


def exported(metrics: str) -> set[str]:
    """The metric names of a scrape."""
    return {line.split("{")[0].split(" ")[0] for line in metrics.splitlines()}


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
        "DOCSTATE_WEBHOOK_SECRET": "s3cret",
        "DOCSTATE_WEBHOOK_ALLOW_PRIVATE": "true",
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
        waiting = value(metrics, "docstate_documents", doc_type="file", status="waiting")
        # both gauges come from one refresh, but a scrape may fall between their updates
        if waiting == 1 and value(metrics, "docstate_oldest_waiting_seconds") > 0:
            break
        assert time.monotonic() < deadline, metrics
        time.sleep(0.2)
    assert value(metrics, "docstate_documents", doc_type="file", status="completed") == 1
    ok = {"doc_type": "file", "transition": "normalize", "outcome": "ok"}
    assert value(metrics, "docstate_transition_attempts", **ok) == 1
    pdf = {"doc_type": "file", "transition": "extract_pdf"}
    assert value(metrics, "docstate_transition_failures", **pdf, error_type="PermanentError") == 1
    assert value(metrics, "docstate_transition_duration_seconds_count", **pdf) == 1
    assert value(metrics, "docstate_projection_write_lag_seconds_count") >= 8
    assert "temporal_worker_task_slots_available" in metrics  # the SDK's own
    scraped = exported(metrics)
    dashboards = watched_metrics()
    # the API's own, and the webhook counter (exported once a webhook went out)
    for watched in dashboards - api_only(dashboards) - {WEBHOOKS}:
        assert watched in scraped, f"{watched} (alerts or dashboard) is not exported"


WEBHOOKS = "docstate_webhook_deliveries"


def test_a_worker_counts_its_webhook_deliveries(worker_process, receiver: Receiver) -> None:
    env, port, tmp = worker_process
    receiver.failures_left = 1
    (tmp / "note.txt").write_text("called back")
    hook = f"callback_url={receiver.url}"
    submit = ["submit", "note.txt", "--id", "hooked-1", "--type", "file", "--meta", hook]
    docstate(env, tmp, *submit, "--wait")  # the worker is up (and its metrics) by then
    deadline = time.monotonic() + 60
    while True:  # the delivery follows the end, 1 s after the failed attempt
        metrics = scrape(port)
        if value(metrics, WEBHOOKS, outcome="delivered") == 1:
            break
        assert time.monotonic() < deadline, metrics
        time.sleep(0.2)
    assert value(metrics, WEBHOOKS, outcome="retrying") == 1
    assert WEBHOOKS in watched_metrics()  # the dashboard shows it
    assert [status for status, _, _ in receiver.calls] == [500, 204]


def api_only(names: set[str]) -> set[str]:
    """The metrics among ``names`` that only the API exports."""
    return {n for n in names if n.startswith(("docstate_http_", "docstate_watcher_"))}


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


def traced_settings(harness: Harness) -> Settings:
    """The harness's settings with tracing on, naming its Temporal server (so a client
    connected from them carries the tracing interceptor)."""
    return harness.settings.model_copy(
        update={
            "tracing": True,
            "temporal_address": harness.temporal.service_client.config.target_host,
        }
    )


async def test_a_document_is_one_trace_from_submit_to_projection_write(
    harness: Harness, spans: InMemorySpanExporter
) -> None:
    settings = traced_settings(harness)
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


async def test_the_api_serves_metrics_of_its_requests_watcher_and_documents(
    harness: Harness,
) -> None:
    async with api_for(harness, api_keys=[SecretStr("k1")]) as api:
        assert (await api.http.get("/metrics")).status_code == 401  # keyed like the rest
        api.http.headers["X-Api-Key"] = "k1"
        # a file that naps 1 s: the stream is watching before the job ends
        job_id = await api.submit(("a.txt", b"x"), type="sleeper", metadata='{"sleep": 1}')

        async def streamed() -> list[str]:
            async with api.http.stream("GET", f"/api/v1/progress/{job_id}/stream") as stream:
                return [line async for line in stream.aiter_lines()]

        # followed both ways at once: a progress stream, and a long poll
        lines, waited = await asyncio.gather(
            streamed(), api.http.get(f"/jobs/{job_id}", params={"wait": 30})
        )
        assert "event: end" in lines
        assert waited.json()["status"] == "completed"
        assert (await api.http.get("/no/such/page")).status_code == 404
        del api.http.headers["X-Api-Key"]
        bearer = {"Authorization": "Bearer k1"}  # what Prometheus' `authorization` sends
        response = await api.http.get("/metrics", headers=bearer)
    assert response.status_code == 200, response.text
    metrics = response.text
    requests = "docstate_http_requests_total"
    assert value(metrics, requests, method="POST", route="/submit", status="200") == 1
    assert value(metrics, requests, route="/jobs/{job_id}", status="200") == 1
    assert value(metrics, requests, route="unmatched", status="404") == 1
    assert value(metrics, requests, route="/metrics", status="401") == 1
    duration = "docstate_http_request_duration_seconds_count"
    assert value(metrics, duration, method="POST", route="/submit") == 1
    assert value(metrics, duration, route="/api/v1/progress/{document_id:path}/stream") == 1
    assert value(metrics, "docstate_watcher_reads_total", watcher="documents") >= 1
    assert value(metrics, "docstate_watcher_reads_total", watcher="jobs") >= 1
    # the job's end and its file's changes reached the stream while it watched
    assert value(metrics, "docstate_watcher_lag_seconds_count") >= 1
    # (the projection may hold earlier tests' documents too)
    assert value(metrics, "docstate_documents", doc_type="sleeper", status="completed") >= 1
    assert value(metrics, "docstate_documents", doc_type="job", status="completed") >= 1
    for watched in api_only(watched_metrics()):
        assert watched in exported(metrics), f"{watched} (dashboard) is not exported"


async def test_an_api_request_is_the_root_of_its_documents_trace(
    harness: Harness, spans: InMemorySpanExporter
) -> None:
    settings = traced_settings(harness)
    spans.clear()  # earlier tests' requests were traced too (the provider is global)
    traced = await connect_temporal(settings)
    writer = TracedWriter(harness.writer)
    async with api_for(harness, temporal=traced, writer=writer, tracing=True) as api:
        job_id = await api.submit(("a.txt", b"one two"))
        state = (await api.http.get(f"/jobs/{job_id}", params={"wait": 60})).json()
    assert state["status"] == "completed"
    finished = spans.get_finished_spans()
    start = next(
        s
        for s in finished
        if s.name == "StartWorkflow:DocumentWorkflow"
        and s.attributes
        and s.attributes["temporalWorkflowID"] == f"doc:{job_id}"
    )
    request = ancestors(start, finished)[-1]  # the trace's root
    assert request.name == "POST /submit" and request.kind is trace.SpanKind.SERVER
    assert request.attributes and request.attributes["http.route"] == "/submit"
    assert request.attributes["http.response.status_code"] == 200
    same_trace = [s for s in finished if s.context.trace_id == request.context.trace_id]
    names = {s.name for s in same_trace}
    assert {"RunWorkflow:DocumentWorkflow", "RunActivity:file.normalize"} <= names, names
    written = {
        s.attributes["docstate.document_id"]
        for s in same_trace
        if s.name == "docstate.projection.write" and s.attributes
    }
    assert job_id in written and len(written) == 2  # the job and its file


def ancestors(span: ReadableSpan, spans: Sequence[ReadableSpan]) -> list[ReadableSpan]:
    """``span``'s parent, its parent's parent, ... up to the root."""
    by_id = {s.context.span_id: s for s in spans}
    chain = []
    while span.parent is not None:
        span = by_id[span.parent.span_id]
        chain.append(span)
    return chain


async def test_the_api_metrics_may_be_served_without_a_key(harness: Harness) -> None:
    settings = harness.settings.model_copy(
        update={"api_keys": [SecretStr("k1")], "api_metrics_public": True}
    )
    async with (
        running_api(settings, harness.client) as url,
        httpx.AsyncClient(base_url=url) as http,
    ):
        assert (await http.get("/metrics")).status_code == 200
        assert (await http.get("/jobs/j-1")).status_code == 401  # the rest still keyed
