"""The serverless peer: the benchmark's 3-step shape as DBOS durable workflows on the same
PostgreSQL, no Temporal server (``pip install -e '.[bench-dbos]'``).

    python -m bench.dbos_arm --docs 300 [--database-url postgresql://...]

``python -m bench`` runs it as the ``dbos`` arm of its rotation when the extra is
installed. It runs in a process of its own (DBOS is a process-wide singleton with its own threads)
and prints one JSON object: documents per second, submit-to-result latency, and the CPU
seconds per document of its process, which does everything (there is no server). What
differs from the DocState arms: no projection is written (DBOS keeps its own workflow
and step tables in PostgreSQL), and nothing crosses a network but the database's.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import sys
import time
from typing import Any

from sqlalchemy.engine import make_url

from bench.measure import percentile

ARM = "dbos"

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
        "seconds": round(elapsed, 2),
        "docs_per_s": round(docs / elapsed, 2),
        "activities_per_s": round(docs * STEPS / elapsed, 1),
        "latency_p50_s": round(percentile(latencies, 0.5) or 0, 3),
        "latency_p99_s": round(percentile(latencies, 0.99) or 0, 3),
        "worker_cpu_s_per_doc": round(cpu / docs, 4),
    }


def installed() -> bool:
    """Whether the ``bench-dbos`` extra is there (the arm is skipped, and said so, if not)."""
    return importlib.util.find_spec("dbos") is not None


def system_database(postgres_url: str) -> str:
    """DBOS's own database beside the benchmark's: the same server, another database,
    in the plain ``postgresql://`` form DBOS takes."""
    url = make_url(postgres_url)
    return url.set(drivername="postgresql", database=f"{url.database}_dbos").render_as_string(
        hide_password=False
    )


async def arm(docs: int, postgres_url: str) -> dict[str, Any]:
    """One run in a fresh process (DBOS is a process-wide singleton), as a rotation arm."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.dbos_arm",
        "--docs",
        str(docs),
        "--database-url",
        system_database(postgres_url),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"the dbos arm failed: {err.decode().strip()[-2000:]}")
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.dbos_arm", description=__doc__)
    parser.add_argument("--docs", type=int, default=300)
    parser.add_argument("--database-url", default=SYSTEM_DATABASE)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.docs, args.database_url))))


if __name__ == "__main__":
    main()
