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
from pathlib import Path

from bench import pipelines
from bench.measure import LagWriter
from docstate import Registry, Settings
from docstate.blobs import LocalBlobStore
from docstate.engine import build_worker
from docstate.projection import create_engine
from docstate.temporal import connect_temporal


async def serve(address: str, queue: str, url: str, blob_dir: Path) -> list[list[object]]:
    """Run until told to stop; when each row was committed."""
    temporal = await connect_temporal(Settings(temporal_address=address))
    engine = create_engine(url)
    writer = LagWriter(engine)
    worker = build_worker(
        temporal,
        task_queue=queue,
        registry=Registry(pipelines.ALL),
        writer=writer,
        blobs=LocalBlobStore(blob_dir),
    )
    loop = asyncio.get_running_loop()
    async with worker:
        print("ready", flush=True)
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line or line.strip() == "stop":
                break
    await writer.close()
    await engine.dispose()
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
