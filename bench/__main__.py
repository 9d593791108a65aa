"""DocState's benchmark: ``python -m bench [--quick] [--json PATH]``.

Starts its own file-backed dev server and runs, interleaved over rounds and side by side,
the raw-SDK baselines (task-queue and local activities, unsandboxed and started eagerly
as DocState's workflows are) and the same shape through DocState (PostgreSQL and SQLite
projections; awaited on Temporal, or through ``submit_many(wait=True)``), an I/O-bound
pipeline at several concurrencies beside its hand-written counterpart, a fan-out, 1,000
progress streams at once (the worker in the same process, and apart), a 200 MB
document, jobs over the HTTP API, history sizes, the cost of encryption, and (with the
``bench-dbos`` extra) DBOS on the same PostgreSQL. The rotation is balanced: over the
rounds, each throughput arm runs once in each position. Empty workflows give the
machine's ceiling. After each DocState arm it checks the projection: every row
completed at its newest version, exact counts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import temporalio

from bench import api_arm, arms, content, dbos_arm, history_arm, watchers
from bench.measure import median_of
from docstate.config import Settings
from docstate.devserver import start_dev_server
from docstate.projection import create_database
from docstate.temporal import connect_temporal

T = TypeVar("T")
Arm = Callable[[], Awaitable[dict[str, Any]]]
POSTGRES = os.environ.get(
    "DOCSTATE_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/docstate_bench"
)
# Each arm against the arm that does the same work (see the README's Performance section).
SAME_WORK = {
    "docstate-pg": "raw-local",  # 3 no-op local activities per document, unsandboxed
    "docstate-sqlite": "raw-local",
    "docstate-pg-queued": "raw",  # 3 no-op task-queue activities per document
    "docstate-pg-wait": "docstate-pg",  # the same documents, waited on through the watcher
}
COLUMNS = [
    ("docs/s", "docs_per_s"),
    ("act/s", "activities_per_s"),
    ("lat p50", "latency_p50_s"),
    ("lat p99", "latency_p99_s"),
    ("lag p50", "projection_lag_p50_s"),
    ("lag p99", "projection_lag_p99_s"),
    ("cpu/doc w", "worker_cpu_s_per_doc"),
    ("cpu/doc s", "server_cpu_s_per_doc"),
    ("rss MiB", "peak_rss_mib"),
    ("closed p50", "closed_lag_p50_s"),
    ("rss+ MiB", "peak_over_idle_mib"),
    ("w q/s", "watcher_queries_per_s"),
    ("dlv p50", "delivery_lag_p50_s"),
    ("dlv p99", "delivery_lag_p99_s"),
    ("events/doc", "history_events_per_doc"),
    ("bytes/doc", "history_bytes_per_doc"),
    ("vs (same work)", "ratio"),
    ("check", "check"),
]


def _rotated(items: list[T], by: int) -> list[T]:
    by %= len(items)
    return items[by:] + items[:by]


def plan(args: argparse.Namespace) -> dict[str, Any]:
    quick = args.quick
    docs = args.docs or (60 if quick else 300)
    return {
        "docs": docs,
        "io": {1: 10 if quick else 20, 5: 25 if quick else 50, 50: 100 if quick else 200},
        "children": 200 if quick else 1000,
        # one round per throughput arm: each runs once in each position
        "rounds": args.rounds or (1 if quick else THROUGHPUT_ARMS),
        "streams": 200 if quick else 1000,
        "big_mib": 20 if quick else 200,
    }


THROUGHPUT_ARMS = 9  # with the dbos arm


async def run(args: argparse.Namespace) -> dict[str, Any]:
    p = plan(args)
    await create_database(POSTGRES)
    with tempfile.TemporaryDirectory(prefix="docstate-bench-") as tmp:
        work = Path(tmp)
        server = await start_dev_server(work / "temporal.db", headless=True)
        try:
            temporal = await connect_temporal(Settings(temporal_address=server.address))
            bench = arms.Bench(temporal, server.address, server.process.pid, work)
            sqlite = f"sqlite+aiosqlite:///{work / 'projection.db'}"
            runs: dict[str, list[dict[str, Any]]] = {}

            def note(name: str, result: dict[str, Any]) -> None:
                runs.setdefault(name, []).append(result)
                print(
                    f"  {name:16} {result['docs_per_s']:7.2f} docs/s  {result.get('check', '')}",
                    file=sys.stderr,
                    flush=True,
                )

            docs = p["docs"]
            throughput: list[tuple[str, Arm]] = [
                ("raw", partial(arms.raw, bench, docs)),
                ("raw-local", partial(arms.raw, bench, docs, local=True)),
                ("raw-empty", partial(arms.raw, bench, docs, steps=0)),
                ("docstate-pg", partial(arms.docstate, bench, POSTGRES, docs)),
                ("docstate-pg-wait", partial(arms.docstate, bench, POSTGRES, docs, wait=True)),
                # the docstate-pg arm's work, as one-file jobs over HTTP
                ("api", partial(api_arm.api, bench, POSTGRES, docs)),
                ("docstate-sqlite", partial(arms.docstate, bench, sqlite, docs)),
                (
                    "docstate-pg-queued",
                    partial(arms.docstate, bench, POSTGRES, docs, type_name="bench_noop_queue"),
                ),
            ]
            if dbos_arm.installed():  # the serverless peer, on the same PostgreSQL
                throughput.append((dbos_arm.ARM, partial(dbos_arm.arm, docs, POSTGRES)))
            else:
                print("dbos arm skipped: pip install -e '.[bench-dbos]'", file=sys.stderr)
            for round_ in range(p["rounds"]):
                print(f"round {round_ + 1}/{p['rounds']}", file=sys.stderr, flush=True)
                # The dev server spends more CPU per workflow as it fills up, so an arm
                # that always ran first would be favoured: each round starts elsewhere.
                for name, arm in _rotated(throughput, round_):
                    note(name, await arm())
                if round_ >= p["rounds"] - p["rounds"] % 2 and round_ > 0:
                    continue  # the pairs below: an even number of rounds keeps them balanced
                for c, count in p["io"].items():
                    pair: list[tuple[str, Arm]] = [
                        (
                            f"io-bound-{c}",
                            partial(
                                arms.docstate,
                                bench,
                                POSTGRES,
                                count,
                                type_name="bench_io",
                                concurrency=c,
                            ),
                        ),
                        (f"raw-io-{c}", partial(arms.raw, bench, count, io=True, concurrency=c)),
                    ]
                    for name, arm in _rotated(pair, round_):
                        note(name, await arm())
            note("fan-out", await arms.fan_out(bench, POSTGRES, p["children"]))
            note("watchers-pg", await watchers.watchers(bench, POSTGRES, p["streams"]))
            note(
                "watchers-pg-apart",
                await watchers.watchers(bench, POSTGRES, p["streams"], apart=True),
            )
            note("watchers-sqlite", await watchers.watchers(bench, sqlite, p["streams"]))
            big = p["big_mib"]
            note("big-skip", await content.big_document(bench, POSTGRES, big, stream=False))
            note("big-stream", await content.big_document(bench, POSTGRES, big, stream=True))
            extra = await history_arm.measure(bench, server.address, POSTGRES, docs, p["rounds"])
            for name, result in extra.items():
                note(name, result)
        finally:
            server.stop()
    results = {name: median_of(r) for name, r in runs.items()}
    for name, base in SAME_WORK.items():
        ratio = results[name]["docs_per_s"] / results[base]["docs_per_s"]
        results[name].update(ratio=f"{ratio:.2f} vs {base}", ratio_value=round(ratio, 2))
    # Different work, named: each API job is two workflows (the job and its one file).
    api_ratio = results["api"]["docs_per_s"] / results["docstate-pg"]["docs_per_s"]
    results["api"].update(
        ratio=f"{api_ratio:.2f} vs docstate-pg (a job + its file per document)",
        ratio_value=round(api_ratio, 2),
    )
    # Different work, named: DBOS writes no projection and has no server to talk to.
    if dbos_arm.ARM in results:
        dbos_ratio = results["docstate-pg"]["docs_per_s"] / results[dbos_arm.ARM]["docs_per_s"]
        results[dbos_arm.ARM].update(
            ratio=f"docstate-pg is {dbos_ratio:.2f}x (dbos: no projection, no server)",
            ratio_value=round(dbos_ratio, 2),
        )
    for prefix in ("io-bound", "raw-io"):
        base = results[f"{prefix}-1"]["docs_per_s"]
        for c in (5, 50):
            results[f"{prefix}-{c}"]["speedup_vs_1"] = round(
                results[f"{prefix}-{c}"]["docs_per_s"] / base, 2
            )
    # No document can finish faster than a workflow that does nothing: the empty
    # workflows' rate over io-bound-1's bounds any speed-up this machine can show.
    results["raw-empty"]["max_speedup_vs_io_bound_1"] = round(
        results["raw-empty"]["docs_per_s"] / results["io-bound-1"]["docs_per_s"], 1
    )
    return {
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "temporalio": temporalio.__version__,
            "platform": platform.platform(),
        },
        "plan": {k: v for k, v in p.items() if k != "io"}
        | {"io": {str(k): v for k, v in p["io"].items()}},
        "arms": results,
    }


async def run_soak(docs: int) -> dict[str, Any]:
    await create_database(POSTGRES)
    with tempfile.TemporaryDirectory(prefix="docstate-soak-") as tmp:
        server = await start_dev_server(Path(tmp) / "temporal.db", headless=True)
        try:
            temporal = await connect_temporal(Settings(temporal_address=server.address))
            bench = arms.Bench(temporal, server.address, server.process.pid, Path(tmp))
            return {"soak": await arms.soak(bench, POSTGRES, docs)}
        finally:
            server.stop()


def table(report: dict[str, Any]) -> str:
    header = ["arm", *(c for c, _ in COLUMNS)]
    rows = [header]
    for name, r in report["arms"].items():
        cells = [name]
        for _, key in COLUMNS:
            value = r.get(key)
            if key == "ratio" and value is None and "speedup_vs_1" in r:
                value = f"x{r['speedup_vs_1']} (vs c=1)"
            if key == "ratio" and value is None and "max_speedup_vs_io_bound_1" in r:
                value = f"ceiling x{r['max_speedup_vs_io_bound_1']} (vs io c=1)"
            cells.append("-" if value is None else str(value))
        rows.append(cells)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small version (under 2 minutes)")
    parser.add_argument("--docs", type=int, help="documents per throughput arm")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (median reported)")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument(
        "--soak",
        type=int,
        metavar="N",
        help="instead: N documents in waves of 1,000, worker RSS after each",
    )
    args = parser.parse_args()
    if args.soak:
        report = asyncio.run(run_soak(args.soak))
        print(json.dumps(report, indent=2))
    else:
        report = asyncio.run(run(args))
        print(table(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
