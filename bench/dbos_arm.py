"""The serverless peer: the benchmark's 3-step shape as DBOS durable workflows on the same
PostgreSQL, no Temporal server (``pip install -e '.[bench-dbos]'``).

    python -m bench.dbos_arm --docs 300 [--database-url postgresql://...]

It runs in a process of its own (DBOS is a process-wide singleton with its own threads)
and prints one JSON object: documents per second, submit-to-result latency, and the CPU
seconds per document of its process, which does everything (there is no server). What
differs from the DocState arms: no projection is written (DBOS keeps its own workflow
and step tables in PostgreSQL), and nothing crosses a network but the database's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from typing import Any

from bench.measure import percentile

SYSTEM_DATABASE = "postgresql://postgres@127.0.0.1:5432/docstate_bench_dbos"
STEPS = 3


async def run(docs: int, database_url: str) -> dict[str, Any]:
    """Start ``docs`` workflows of ``STEPS`` no-op steps at once and wait for them all."""
    from dbos import DBOS, DBOSConfig

    config: DBOSConfig = {
        "name": "docstate-bench",
        "system_database_url": database_url,
        "log_level": "WARNING",
    }
    DBOS(config=config)

    @DBOS.step()
    async def step(value: int) -> int:
        return value + 1

    @DBOS.workflow()
    async def pipeline(value: int) -> int:
        for _ in range(STEPS):
            value = await step(value)
        return value

    DBOS.launch()
    try:
        cpu_before, started = sum(os.times()[:2]), time.monotonic()
        latencies: list[float] = []

        async def one(i: int) -> int:
            handle = await DBOS.start_workflow_async(pipeline, i)
            result: int = await handle.get_result()
            latencies.append(time.monotonic() - started)
            return result

        results = await asyncio.gather(*(one(i) for i in range(docs)))
        elapsed = time.monotonic() - started
        cpu = sum(os.times()[:2]) - cpu_before
    finally:
        DBOS.destroy()
    return {
        "docs": docs,
        "check": "ok" if results == [i + STEPS for i in range(docs)] else "wrong results",
        "docs_per_s": round(docs / elapsed, 2),
        "activities_per_s": round(docs * STEPS / elapsed, 1),
        "latency_p50_s": round(percentile(latencies, 0.5) or 0, 3),
        "latency_p99_s": round(percentile(latencies, 0.99) or 0, 3),
        "worker_cpu_s_per_doc": round(cpu / docs, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.dbos_arm", description=__doc__)
    parser.add_argument("--docs", type=int, default=300)
    parser.add_argument("--database-url", default=SYSTEM_DATABASE)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.docs, args.database_url))))


if __name__ == "__main__":
    main()
