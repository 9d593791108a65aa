"""Hints the command line prints while it waits, so a wait never looks like a hang."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Awaitable
from typing import TypeVar

from docstate.client import Client
from docstate.client.pollers import workflow_pollers

T = TypeVar("T")

NO_WORKER_AFTER = 5.0
"""Seconds of waiting before the command checks that some worker polls the queue."""


async def pollers(ds: Client) -> int | None:
    """Workers that polled the task queue for document workflows lately (the server
    remembers pollers for a few minutes); None when Temporal does not say."""
    temporal = await ds.temporal_client()
    return await workflow_pollers(temporal, ds.settings.namespace, ds.settings.task_queue)


async def note_when_no_worker(ds: Client, after: float = NO_WORKER_AFTER) -> None:
    """After ``after`` seconds, say on stderr (once) if no worker polls the task queue:
    documents then wait until one starts, and the user should know why."""
    await asyncio.sleep(after)
    if await pollers(ds) == 0:
        print(
            f"docstate: note: no worker polls task queue {ds.settings.task_queue!r}; the "
            "documents wait until one starts (`docstate worker` with the same settings)",
            file=sys.stderr,
            flush=True,
        )


async def with_worker_hint(ds: Client, waiting: Awaitable[T]) -> T:
    """Await ``waiting`` while :func:`note_when_no_worker` watches for a missing worker."""
    note = asyncio.create_task(note_when_no_worker(ds))
    try:
        return await waiting
    finally:
        note.cancel()
        # a hint is best effort: its failure (Temporal away) is the wait's to report
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await note
