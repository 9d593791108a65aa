"""A benchmark worker in a process of its own, as a deployment runs one beside its API.

``python -m bench.worker_process ADDRESS QUEUE DATABASE_URL BLOB_DIR OUT`` runs the
benchmark's pipelines on ``QUEUE`` with a :class:`~bench.measure.LagWriter`, prints
``ready`` once its worker polls, and on a ``stop`` line (or the end of its input) drains,
then writes to ``OUT`` (JSON) when each row was committed:
``[[document_id, version, time.time()], ...]``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from temporalio.client import Client as TemporalClient

from bench import pipelines
from bench.measure import LagWriter
from docstate import Registry, Settings
from docstate.blobs import LocalBlobStore
from docstate.engine import build_worker
from docstate.projection import create_engine
from docstate.temporal import connect_temporal


@asynccontextmanager
async def lag_worker(
    temporal: TemporalClient, queue: str, url: str, blobs: LocalBlobStore
) -> AsyncIterator[LagWriter]:
    """A worker of the benchmark's pipelines on ``queue`` while the block runs, writing
    through a :class:`LagWriter` (yielded: when it committed each row)."""
    engine = create_engine(url)
    writer = LagWriter(engine)
    try:
        async with build_worker(
            temporal,
            task_queue=queue,
            registry=Registry(pipelines.ALL),
            writer=writer,
            blobs=blobs,
        ):
            yield writer
    finally:
        await writer.close()
        await engine.dispose()


async def serve(address: str, queue: str, url: str, blob_dir: Path) -> list[list[object]]:
    """Run until told to stop; when each row was committed."""
    temporal = await connect_temporal(Settings(temporal_address=address))
    loop = asyncio.get_running_loop()
    async with lag_worker(temporal, queue, url, LocalBlobStore(blob_dir)) as writer:
        print("ready", flush=True)
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line or line.strip() == "stop":
                break
    return [[doc, version, at] for (doc, version), at in writer.committed.items()]


USAGE = "usage: python -m bench.worker_process ADDRESS QUEUE DATABASE_URL BLOB_DIR OUT"


def main() -> None:
    if len(sys.argv) != 6:
        sys.exit(USAGE)
    address, queue, url, blob_dir, out = sys.argv[1:]
    try:
        Path(out).write_text("[]")  # before any work: the run's results must have a place
    except OSError as err:
        sys.exit(f"bench.worker_process: cannot write {out}: {err.strerror}")
    committed = asyncio.run(serve(address, queue, url, Path(blob_dir)))
    Path(out).write_text(json.dumps(committed))


if __name__ == "__main__":
    main()
