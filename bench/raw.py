"""The raw-SDK baseline: the same shape written directly on Temporal, default settings."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow


@activity.defn(name="raw.noop")
async def noop(step: int) -> int:
    return step


@workflow.defn(name="RawPipeline")
class RawPipeline:
    """K no-op activities in a row: what a hand-written pipeline does per document."""

    @workflow.run
    async def run(self, steps: int) -> int:
        for step in range(steps):
            await workflow.execute_activity(
                noop, step, start_to_close_timeout=timedelta(seconds=30)
            )
        return steps
