"""Waiting on jobs: one query per tick for every request that waits (``?wait``).

Each waiting request registers here; a single task asks the projection, once per tick,
which of the waited-on jobs have nothing pending or running any more, and wakes their
requests, which then read their job once. So 300 requests waiting on 300 jobs cost one
grouped query per tick, not 300 reads each.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from docstate.document import Status
from docstate.projection.schema import documents

_MOVING = [Status.PENDING.value, Status.RUNNING.value]
_ENDED = [Status.COMPLETED.value, Status.FAILED.value, Status.CANCELLED.value]


class JobWatcher:
    """Wakes the requests waiting on a job once it may have settled.

    Args:
        engine: The projection.
        interval: Seconds between checks.
        on_read: Called at each check (one query): the API's metrics count them.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        interval: float = 0.25,
        on_read: Callable[[], None] | None = None,
    ) -> None:
        self.engine = engine
        self.interval = interval
        self.on_read = on_read
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._task: asyncio.Task[None] | None = None

    async def wait(self, job_id: str, timeout: float) -> None:
        """Return once job ``job_id`` may have settled, or after ``timeout`` seconds."""
        woken = asyncio.Event()
        self._waiters.setdefault(job_id, set()).add(woken)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._watch())
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(woken.wait(), timeout)
        finally:
            waiting = self._waiters.get(job_id, set())
            waiting.discard(woken)
            if not waiting:
                self._waiters.pop(job_id, None)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _watch(self) -> None:
        while self._waiters:
            await asyncio.sleep(self.interval)
            ids = list(self._waiters)
            if not ids:
                continue
            for job_id in await self._quiet(ids):
                for woken in self._waiters.get(job_id, ()):
                    woken.set()

    async def _quiet(self, ids: list[str]) -> set[str]:
        """The jobs among ``ids`` that may have settled: ended, or with files and none of
        them moving (a job's own row stays running while a file waits for a decision)."""
        is_file = documents.c.id != documents.c.root_id

        def count(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
            return sa.func.sum(sa.case((condition, 1), else_=0))

        query = (
            sa.select(
                documents.c.root_id,
                count(is_file),
                count(sa.and_(is_file, documents.c.status.in_(_MOVING))),
                count(sa.and_(~is_file, documents.c.status.in_(_ENDED))),
            )
            .where(documents.c.root_id.in_(ids))
            .group_by(documents.c.root_id)
        )
        if self.on_read is not None:
            self.on_read()
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return {root for root, files, moving, ended in rows if ended or (files and not moving)}
