"""The raw-SDK baselines: the same shapes written directly on Temporal, default settings.

The benchmark runs them unsandboxed and starts them eagerly, as DocState does (see
``bench.arms.raw``).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import activity, workflow

TIMEOUT = timedelta(seconds=30)


@activity.defn(name="raw.noop")
async def noop(step: int) -> int:
    return step


@activity.defn(name="raw.io_wait")
async def io_wait(step: int) -> int:
    await asyncio.sleep(0.1)  # the same 100 ms call as DocState's I/O-bound transitions
    return step


@workflow.defn(name="RawPipeline")
class RawPipeline:
    """K no-op activities in a row: what a hand-written pipeline does per document."""

    @workflow.run
    async def run(self, steps: int) -> int:
        for step in range(steps):
            await workflow.execute_activity(noop, step, start_to_close_timeout=TIMEOUT)
        return steps


@workflow.defn(name="RawLocalPipeline")
class RawLocalPipeline:
    """K no-op local activities in a row: what DocState does for short transitions."""

    @workflow.run
    async def run(self, steps: int) -> int:
        for step in range(steps):
            await workflow.execute_local_activity(noop, step, start_to_close_timeout=TIMEOUT)
        return steps


@workflow.defn(name="RawIOPipeline")
class RawIOPipeline:
    """K local activities that each await 100 ms: the best the SDK does for short I/O."""

    @workflow.run
    async def run(self, steps: int) -> int:
        for step in range(steps):
            await workflow.execute_local_activity(io_wait, step, start_to_close_timeout=TIMEOUT)
        return steps
