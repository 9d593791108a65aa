"""Run a DocState worker: document workflows, transition activities, projection writes.

    python worker.py [--task-queue Q] [--pipelines mod1,mod2] [--database-url URL]

Settings come from ``DOCSTATE_*`` environment variables, overridden by flags. SIGTERM
or SIGINT drains: no new work is taken, running transitions get ``shutdown_grace`` to
finish, then the worker exits.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from datetime import timedelta

from temporalio.client import Client as TemporalClient
from temporalio.worker import Worker

from activities import TransitionActivities, WorkflowActivities
from docstate.blobstore import BlobStore, make_blob_store
from docstate.config import Settings
from docstate.errors import DocStateError
from docstate.process import hard_exit, stop_on_signals
from docstate.projection import CoalescingWriter, ProjectionWriter, create_engine, ensure_current
from docstate.registry import Registry
from docstate.temporal import connect_temporal
from workflows.document import DocumentWorkflow

log = logging.getLogger("docstate.worker")


def build_worker(
    client: TemporalClient,
    *,
    task_queue: str,
    registry: Registry,
    writer: ProjectionWriter,
    blobs: BlobStore,
    inline_threshold: int = 64 * 1024,
    max_concurrent_activities: int = 100,
    shutdown_grace: timedelta = timedelta(seconds=30),
) -> Worker:
    """A Temporal worker running ``registry``'s pipelines on ``task_queue``."""
    transitions = TransitionActivities(registry, writer, blobs, inline_threshold)
    own = WorkflowActivities(registry, writer, blobs)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[DocumentWorkflow],
        activities=[
            *transitions.definitions(),
            own.begin,
            own.start,
            own.record,
            own.derived,
        ],
        max_concurrent_activities=max_concurrent_activities,
        max_concurrent_local_activities=max_concurrent_activities,
        graceful_shutdown_timeout=shutdown_grace,
    )


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    """Run until ``stop`` is set, then drain."""
    registry = Registry.from_modules(settings.pipelines)
    engine = create_engine(settings.database_url)
    writer = CoalescingWriter(engine)
    try:
        await ensure_current(engine)
        client = await connect_temporal(settings)
        worker = build_worker(
            client,
            task_queue=settings.task_queue,
            registry=registry,
            writer=writer,
            blobs=make_blob_store(settings),
            inline_threshold=settings.inline_threshold,
            max_concurrent_activities=settings.max_concurrent_activities,
            shutdown_grace=settings.shutdown_grace,
        )
        async with worker:
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


def parse_settings(argv: Sequence[str] | None) -> Settings:
    parser = argparse.ArgumentParser(prog="worker.py", description=__doc__.splitlines()[0])
    parser.add_argument("--temporal-address")
    parser.add_argument("--namespace")
    parser.add_argument("--task-queue")
    parser.add_argument("--database-url")
    parser.add_argument("--pipelines", help="comma-separated modules defining DocumentTypes")
    args = parser.parse_args(argv)
    return Settings(**{k: v for k, v in vars(args).items() if v is not None})


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = parse_settings(argv)

    async def serve() -> None:
        stop = asyncio.Event()
        stop_on_signals(stop)
        await run_worker(settings, stop)

    try:
        asyncio.run(serve())
    except DocStateError as err:
        print(f"worker: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    hard_exit(main())
