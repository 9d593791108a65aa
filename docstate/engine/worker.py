"""Building and running a DocState worker: the document workflow and its activities.

``run_worker(settings, stop)`` is what ``docstate worker`` (and the repository's
``worker.py``) runs: it loads the pipelines the settings name, checks the projection is
migrated, serves until ``stop`` is set, then drains.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client as TemporalClient
from temporalio.runtime import Runtime
from temporalio.worker import Interceptor, Worker

from docstate.blobs import BlobStore, make_blob_store
from docstate.config import Settings
from docstate.engine.closing import ClosingConfirmer, ConfirmingWriter
from docstate.engine.leasing import LeaseActivities
from docstate.engine.limits import rate_queue
from docstate.engine.outage import quiet_runtime
from docstate.engine.retention import (
    RetentionSweeper,
    RetentionWorkflow,
    ensure_retention_schedule,
)
from docstate.engine.runs import LocalRuns
from docstate.engine.support import WorkflowActivities
from docstate.engine.transitions import TransitionActivities
from docstate.engine.workflow import DocumentWorkflow
from docstate.errors import ConfigurationError
from docstate.jobs import with_jobs
from docstate.model import KeyLimits
from docstate.observability.metrics import (
    MeteredWriter,
    MeterGauges,
    ProjectionGauges,
    TransitionMetrics,
    prometheus_config,
)
from docstate.observability.tracing import TracedWriter
from docstate.projection import (
    CoalescingWriter,
    ProjectionQueries,
    ProjectionWriter,
    Writer,
    create_engine,
    ensure_current,
)
from docstate.projection.catalog import publish_types
from docstate.projection.leases import KeyLeases
from docstate.provision import check_search_attributes
from docstate.registry import Registry
from docstate.temporal import connect_temporal
from docstate.webhooks import WebhookSender, webhook_sender

log = logging.getLogger("docstate.worker")


def build_worker(
    client: TemporalClient,
    *,
    task_queue: str,
    registry: Registry,
    writer: Writer,
    blobs: BlobStore,
    inline_threshold: int = 1024,
    max_concurrent_activities: int = 100,
    max_concurrent_workflow_tasks: int = 100,
    shutdown_grace: timedelta = timedelta(seconds=30),
    interceptors: Sequence[Interceptor] = (),
    webhooks: WebhookSender | None = None,
    retention: RetentionSweeper | None = None,
    leases: KeyLeases | None = None,
    key_limits: KeyLimits | None = None,
) -> DocumentWorker:
    """A Temporal worker running ``registry``'s pipelines on ``task_queue``.

    Args:
        client: A Temporal client made by :func:`docstate.temporal.connect_temporal`
            (or with ``pydantic_data_converter``).
        task_queue: Where its document workflows and transitions are scheduled.
        registry: The pipelines it runs.
        writer: The projection writer its activities write through.
        blobs: The blob store content lives in.
        inline_threshold: Content up to this size also travels inside payloads.
        max_concurrent_activities: Task-queue and local activity slots (each).
        max_concurrent_workflow_tasks: Documents whose workflow code runs at once; the
            rest wait in the task queue, where fairness keys take turns.
        shutdown_grace: How long running transitions get to finish when it stops.
        interceptors: Worker interceptors (metrics); the client's come along anyway.
        webhooks: Delivers callback URLs' webhooks; by default none are sent (each
            attempt is recorded as not sent).
        retention: Runs the retention sweeps (see :mod:`docstate.engine.retention`).
        leases: The projection's lease table, for documents whose fairness key is limited
            (see :mod:`docstate.engine.limits`); needed with ``key_limits``.
        key_limits: How many transitions of one fairness key run at once; the documents
            this worker starts keep them.

    Raises:
        ValueError: when ``key_limits`` are given without ``leases``.
    """
    if key_limits is not None and key_limits.any and leases is None:
        raise ValueError("key_limits need leases (the projection's lease table)")
    confirmer = ClosingConfirmer(client, writer)
    writer = ConfirmingWriter(writer, confirmer)
    # Plain transition functions get threads of their own (see TransitionActivities): one
    # per slot, task-queue and local, so a function never queues for a thread.
    executor = ThreadPoolExecutor(
        max_workers=2 * max_concurrent_activities, thread_name_prefix="docstate-transition"
    )
    transitions = TransitionActivities(registry, writer, blobs, inline_threshold, executor)
    own = WorkflowActivities(registry, writer, blobs, key_limits)
    runs = LocalRuns(transitions, own)
    leasing = LeaseActivities(leases) if leases is not None else None
    # A rate-limited transition's own queue: the server dispatches its activities no
    # faster than the rate this (and every) worker's poller asks for.
    companions = [
        Worker(
            client,
            task_queue=rate_queue(task_queue, name),
            activities=[definition],
            max_concurrent_activities=max_concurrent_activities,
            max_task_queue_activities_per_second=rate,
            graceful_shutdown_timeout=shutdown_grace,
            interceptors=interceptors,
        )
        for name, rate, definition in transitions.rate_limited()
    ]
    return DocumentWorker(
        client,
        confirmer=confirmer,
        executor=executor,
        companions=companions,
        task_queue=task_queue,
        workflows=[DocumentWorkflow, RetentionWorkflow],
        activities=[
            *transitions.definitions(),
            runs.run,
            own.begin,
            own.start,
            own.record,
            own.derived,
            (webhooks or WebhookSender()).deliver,
            *([retention.sweep] if retention else []),
            *([leasing.acquire, leasing.renew, leasing.release] if leasing else []),
        ],
        max_concurrent_activities=max_concurrent_activities,
        max_concurrent_local_activities=max_concurrent_activities,
        max_concurrent_workflow_tasks=max_concurrent_workflow_tasks,
        graceful_shutdown_timeout=shutdown_grace,
        interceptors=interceptors,
    )


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    """Run a worker for the pipelines ``settings`` name until ``stop`` is set, then drain.

    With ``metrics_port`` set it serves Prometheus metrics; with ``tracing``, traces.

    Raises:
        ConfigurationError: when the pipelines cannot be loaded.
        DocStateError: when the projection is not migrated or Temporal does not answer.
    """
    registry = with_jobs(Registry.from_modules(settings.pipelines))
    engine = create_engine(settings.database_url)
    metrics = prometheus_config(settings)
    runtime = quiet_runtime(metrics)
    writer: Writer = CoalescingWriter(ProjectionWriter(engine))
    if settings.tracing:
        writer = TracedWriter(writer)
    interceptors: list[Interceptor] = []
    if metrics is not None:
        writer = MeteredWriter(writer, runtime.metric_meter)
        interceptors.append(TransitionMetrics(runtime.metric_meter))
    try:
        await ensure_current(engine)
        await publish_types(engine, registry)  # so processes without pipeline code know them
        client = await connect_temporal(settings, runtime=runtime)
        try:
            await check_search_attributes(client, settings.namespace)
        except ConfigurationError as err:  # it would serve, but no document can start
            log.warning("%s", err)
        blobs = make_blob_store(settings)
        worker = build_worker(
            client,
            task_queue=settings.task_queue,
            registry=registry,
            writer=writer,
            blobs=blobs,
            inline_threshold=settings.inline_threshold,
            max_concurrent_activities=settings.max_concurrent_activities,
            max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
            shutdown_grace=settings.shutdown_grace,
            interceptors=interceptors,
            webhooks=webhook_sender(
                settings, engine, runtime.metric_meter if metrics is not None else None
            ),
            retention=RetentionSweeper(engine, blobs) if settings.retention else None,
            leases=KeyLeases(engine),
            key_limits=settings.key_limits,
        )
        if settings.retention:
            created = await ensure_retention_schedule(
                client, settings.task_queue, settings.retention, settings.retention_interval
            )
            log.info("retention schedule %s", "created" if created else "already there")
        # Rows a stopped (or killed) worker left provisional are confirmed by this one.
        worker.confirmer.watch_orphans(ProjectionQueries(engine).provisional)
        gauges = _gauges(engine, runtime if metrics else None, settings.metrics_interval)
        async with worker, gauges:
            log.info(
                "worker ready: task queue %r, pipelines %s",
                settings.task_queue,
                ", ".join(registry.names),
            )
            await stop.wait()
            log.info("draining: finishing running transitions")
        log.info("worker stopped")
    finally:
        await writer.close()
        await engine.dispose()


def _gauges(
    engine: AsyncEngine, runtime: Runtime | None, interval: timedelta
) -> AbstractAsyncContextManager[Any]:
    """Projection gauges while the worker runs, when it exports metrics."""
    if runtime is None:
        return contextlib.nullcontext()
    queries = ProjectionQueries(engine)
    return ProjectionGauges(queries, MeterGauges(runtime.metric_meter), interval.total_seconds())


class DocumentWorker(Worker):
    """A Temporal worker that also confirms the closed statuses it wrote (see
    :mod:`docstate.engine.closing`);
    built by :func:`~docstate.engine.build_worker`."""

    def __init__(
        self,
        *args: Any,
        confirmer: ClosingConfirmer,
        executor: Executor,
        companions: Sequence[Worker] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.confirmer = confirmer
        self.executor = executor  # the plain transition functions' threads
        # Workers on queues of their own (rate-limited transitions): they run and stop
        # with this one.
        self.companions = tuple(companions)

    async def run(self) -> None:
        """Run the worker, its companions and the confirmer; once stopped, confirm what
        just closed."""
        confirming = asyncio.create_task(self.confirmer.run())
        companions = [asyncio.create_task(c.run()) for c in self.companions]
        try:
            await super().run()
        finally:
            await asyncio.gather(*(c.shutdown() for c in self.companions))
            await asyncio.gather(*companions, return_exceptions=True)
            confirming.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await confirming
            await self.confirmer.drain()
            # A function still running past the grace period keeps its thread until it
            # returns (Python cannot stop a thread); nothing waits for it here.
            self.executor.shutdown(wait=False, cancel_futures=True)
