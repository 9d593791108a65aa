"""The benchmark's history and encryption arms.

History: how many bytes one document leaves in Temporal (``history_bytes_per_doc``,
beside ``events/doc``), for the shipped ``file`` pipeline on a 35 KB text (content
inline at most once) and on a text stored by reference. Encryption: the same
``docstate-pg`` work with and without ``DOCSTATE_ENCRYPTION_KEYS``, on the same server,
interleaved.
"""

from __future__ import annotations

import base64
import dataclasses
import statistics
import time
import uuid
from typing import Any

from temporalio.api.history.v1 import History
from temporalio.client import Client as TemporalClient

from bench import arms
from bench.measure import Sample
from docstate import Registry, Settings
from docstate.protocol import workflow_id
from docstate.temporal import connect_temporal

TEXT_BYTES = 35_149
"""The issue's licence text: 35,149 bytes, 4 steps through the ``file`` pipeline."""
BY_REFERENCE_BYTES = 500_000
"""Content far over any inline threshold: only its reference may travel."""


def text_of(size: int) -> bytes:
    """``size`` bytes of plain English-like text (the file pipeline detects it as text)."""
    words = b"licence grant permission copy modify merge publish distribute sublicense sell "
    return (words * (size // len(words) + 1))[:size]


async def history_bytes(temporal: TemporalClient, document_id: str) -> tuple[int, int]:
    """A finished document's history: its size as Temporal stores it (the serialized
    protobuf of every event, payloads included) and its number of events."""
    history = await temporal.get_workflow_handle(workflow_id(document_id)).fetch_history()
    return History(events=history.events).ByteSize(), len(history.events)


async def history_sizes(bench: arms.Bench, url: str) -> dict[str, dict[str, Any]]:
    """One document per case through the ``file`` pipeline, and its history's size."""
    from workflows.files import FILE  # the shipped pipeline, found as DocState finds it

    deployment = await arms.Deployment.on(bench, url)
    queue, client, engine = deployment.queue, deployment.client, deployment.engine
    results: dict[str, dict[str, Any]] = {}
    cases = {"history-file-35k": TEXT_BYTES, "history-by-reference": BY_REFERENCE_BYTES}
    async with deployment.worker(Registry([FILE])):
        for name, size in cases.items():
            doc_id = f"{queue}-{name}"
            sample = Sample(1, 3, bench.server_pid)
            await client.submit(text_of(size), type=FILE.name, id=doc_id)
            await bench.temporal.get_workflow_handle(workflow_id(doc_id)).result()
            await client.wait(doc_id, timeout=60)  # the projection confirms the close
            sample.latencies.append(time.perf_counter() - sample.started)
            size_bytes, events = await history_bytes(bench.temporal, doc_id)
            results[name] = sample.finish(
                content_bytes=size,
                history_bytes_per_doc=size_bytes,
                history_events_per_doc=events,
                history_vs_content=round(size_bytes / size, 3),
                check=await arms._check(engine, [doc_id], 1),
            )
    await deployment.close()
    return results


async def encryption_cost(
    bench: arms.Bench, address: str, url: str, docs: int, rounds: int
) -> dict[str, dict[str, Any]]:
    """``docstate-pg``'s work with payload encryption off and on, interleaved per round."""
    key = base64.b64encode(uuid.uuid4().bytes * 2).decode()
    encrypted = dataclasses.replace(
        bench,
        temporal=await connect_temporal(
            Settings(temporal_address=address, encryption_keys=f"bench:{key}")
        ),
    )
    runs: dict[str, list[float]] = {"plain": [], "encrypted": []}
    last: dict[str, dict[str, Any]] = {}
    for round_ in range(rounds):
        pair = [("plain", bench), ("encrypted", encrypted)]
        for name, b in pair if round_ % 2 == 0 else reversed(pair):
            last[name] = await arms.docstate(b, url, docs)
            runs[name].append(last[name]["docs_per_s"])
    results = {}
    for name, rates in runs.items():
        results[f"encryption-{name}"] = {**last[name], "docs_per_s": statistics.median(rates)}
    plain = results["encryption-plain"]["docs_per_s"]
    results["encryption-encrypted"]["ratio_vs_plain"] = round(
        results["encryption-encrypted"]["docs_per_s"] / plain, 3
    )
    return results


async def measure(
    bench: arms.Bench, address: str, url: str, docs: int, rounds: int
) -> dict[str, dict[str, Any]]:
    """Every arm of this module, by name (the benchmark's hook)."""
    return await history_sizes(bench, url) | await encryption_cost(
        bench, address, url, docs, rounds
    )
