"""The large-content arms: a 200 MB document through transitions that do not read it,
and through one that streams it. What counts is the worker's peak RSS over idle."""

from __future__ import annotations

import gc
import os
import time
from pathlib import Path
from typing import Any

from bench import pipelines
from bench.arms import Bench, Deployment, _warm_up
from bench.measure import current_rss_mib, peak_rss_mib, reset_peak_rss
from docstate import Registry, Status

MIB = 1024 * 1024


def _big_file(workdir: Path, mib: int) -> Path:
    """A file of ``mib`` MiB of random bytes, written a MiB at a time."""
    path = workdir / f"big-{mib}.bin"
    if not path.exists():
        with path.open("wb") as f:
            for _ in range(mib):
                f.write(os.urandom(MIB))
    return path


async def big_document(bench: Bench, url: str, mib: int, *, stream: bool) -> dict[str, Any]:
    """One ``mib`` MiB document (submitted from a file, streamed into the blob store)
    through three transitions: none reads it, or the first streams it into new content.
    The worker, the client and the benchmark share this process, so its peak RSS bounds
    the worker's."""
    deployment = await Deployment.on(bench, url)
    queue, client = deployment.queue, deployment.client
    path = _big_file(bench.workdir, mib)
    type_name = (pipelines.BIG_STREAM if stream else pipelines.BIG_SKIP).name
    async with deployment.worker(Registry(pipelines.ALL)):
        await _warm_up(bench, client, queue)
        gc.collect()
        idle = current_rss_mib()
        reset_peak_rss()
        started = time.perf_counter()
        doc = await client.submit(path, type=type_name)
        record = await client.wait(doc.id, timeout=900)
        seconds = time.perf_counter() - started
        peak = peak_rss_mib()
    problems = []
    if record.status is not Status.COMPLETED:
        problems.append(f"{record.status.value}: {record.error}")
    if record.content_ref is None or record.content_ref.size != mib * MIB:
        problems.append(f"content {record.content_ref} is not the {mib} MiB submitted")
    if stream and record.metadata.get("sha256_seen") != (
        record.content_ref and record.content_ref.sha256
    ):
        problems.append("the streaming transition did not see the whole content")
    await deployment.close()
    return {
        "docs": 1,
        "seconds": round(seconds, 2),
        "docs_per_s": round(1 / seconds, 3),
        "content_mib": mib,
        "idle_rss_mib": round(idle, 1),
        "peak_rss_mib": round(peak, 1),
        "peak_over_idle_mib": round(peak - idle, 1),
        "check": "ok" if not problems else "; ".join(problems),
    }
