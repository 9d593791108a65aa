"""The benchmark runs end to end as the README says, and checks what it measured.

Its numbers are not asserted here (speed is the benchmark's business, not the tests'):
this test makes sure ``python -m bench`` keeps working and keeps writing the report the
README and issue describe.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import recreate_database

ROOT = Path(__file__).resolve().parent.parent
ARMS = {
    "raw",
    "raw-local",
    "raw-empty",
    "docstate-pg",
    "docstate-pg-wait",
    "docstate-sqlite",
    "docstate-pg-queued",
    "io-bound-1",
    "io-bound-5",
    "io-bound-50",
    "raw-io-1",
    "raw-io-5",
    "raw-io-50",
    "fan-out",
    "watchers-pg",
    "watchers-pg-apart",
    "watchers-sqlite",
    "big-skip",
    "big-stream",
    "api",
    "history-file-35k",
    "history-by-reference",
    "encryption-plain",
    "encryption-encrypted",
    "dbos",  # the dev extras install bench-dbos
}


BENCH_DATABASE = "postgresql+asyncpg://postgres@127.0.0.1:5432/docstate_bench_test"


@pytest.fixture
async def bench_env() -> dict[str, str]:
    """The benchmark's environment, on a database of its own made afresh: never one an
    earlier run (or another checkout) migrated."""
    await recreate_database(BENCH_DATABASE)
    return {**os.environ, "DOCSTATE_BENCH_POSTGRES_URL": BENCH_DATABASE}


def test_a_small_benchmark_run_writes_every_arm_and_checks_the_projection(
    tmp_path: Path, bench_env: dict[str, str]
) -> None:
    report_path = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--docs", "8", "--json", str(report_path)],
        cwd=ROOT,
        env=bench_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(report_path.read_text())
    arms = report["arms"]
    assert set(arms) == ARMS
    for name, arm in arms.items():
        assert arm["docs_per_s"] > 0, name
        assert arm["seconds"] > 0, name
    for name in {n for n in ARMS if not n.startswith("raw")}:
        # every row completed at its newest version, exact counts, lineage included
        assert arms[name]["check"] == "ok", (name, arms[name]["check"])
    assert arms["fan-out"]["docs"] == 201
    # each ratio names the arm doing the same work
    same_work = {
        "docstate-pg": "raw-local",
        "docstate-sqlite": "raw-local",
        "docstate-pg-queued": "raw",
        "docstate-pg-wait": "docstate-pg",
    }
    for name, base in same_work.items():
        assert arms[name]["ratio"].endswith(f" vs {base}") and arms[name]["ratio_value"] > 0
    for name in ("watchers-pg", "watchers-pg-apart", "watchers-sqlite"):
        # every stream got its document's whole history, once, in order; queries counted;
        # a lag for every event (the worker apart sent back when it committed each)
        watched = arms[name]
        assert watched["events_delivered"] > 0 and watched["watcher_queries"] > 0
        assert watched["lags_measured"] == watched["events_delivered"], name
    assert arms["watchers-pg"]["pushed"] is True and arms["watchers-sqlite"]["pushed"] is False
    assert arms["watchers-pg-apart"]["worker"] == "apart"
    for name in ("big-skip", "big-stream"):
        assert arms[name]["peak_over_idle_mib"] is not None
    # issue 14's targets: a history near the content's size, a by-reference one small
    file_35k = arms["history-file-35k"]
    assert file_35k["history_bytes_per_doc"] <= 1.3 * file_35k["content_bytes"] + 8192
    assert arms["history-by-reference"]["history_bytes_per_doc"] <= 10 * 1024
    assert arms["encryption-encrypted"]["ratio_vs_plain"] > 0
    assert arms["api"]["ratio"].endswith("(a job + its file per document)")
    assert arms["api"]["status_gets"] > 0 and arms["api"]["status_get_p99_s"] > 0
    for name in ("io-bound-5", "io-bound-50", "raw-io-5", "raw-io-50"):
        assert arms[name]["speedup_vs_1"] > 0, name
    assert arms["raw-empty"]["max_speedup_vs_io_bound_1"] > 0
    assert arms["docstate-pg"]["projection_lag_p99_s"] is not None
    # the printed table names every arm
    for name in ARMS:
        assert name in done.stdout


def test_a_small_soak_reports_memory_after_each_wave(
    tmp_path: Path, bench_env: dict[str, str]
) -> None:
    report_path = tmp_path / "soak.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--soak", "30", "--json", str(report_path)],
        cwd=ROOT,
        env=bench_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    soak = json.loads(report_path.read_text())["soak"]
    assert soak["docs"] == 30
    assert len(soak["rss_mib_after_each_wave"]) == 1  # waves of 1,000: one wave here
    assert soak["rss_mib_after_each_wave"][0] > 0
    assert soak["python_objects_after_each_wave"][0] > 0
