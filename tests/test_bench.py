"""The benchmark runs end to end as the README says, and checks what it measured.

Its numbers are not asserted here (speed is the benchmark's business, not the tests'):
this test makes sure ``python -m bench`` keeps working and keeps writing the report the
README and issue describe.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARMS = {
    "raw",
    "raw-empty",
    "docstate-pg",
    "docstate-sqlite",
    "docstate-pg-queued",
    "io-bound-1",
    "io-bound-5",
    "io-bound-50",
    "raw-io-1",
    "raw-io-5",
    "raw-io-50",
    "fan-out",
}


def test_a_small_benchmark_run_writes_every_arm_and_checks_the_projection(
    tmp_path: Path,
) -> None:
    report_path = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--docs", "8", "--json", str(report_path)],
        cwd=ROOT,
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
    for name in ("docstate-pg", "docstate-sqlite", "docstate-pg-queued"):
        assert arms[name]["ratio_vs_raw"] > 0
    for name in ("io-bound-5", "io-bound-50", "raw-io-5", "raw-io-50"):
        assert arms[name]["speedup_vs_1"] > 0, name
    assert arms["raw-empty"]["max_speedup_vs_io_bound_1"] > 0
    assert arms["docstate-pg"]["projection_lag_p99_s"] is not None
    # the printed table names every arm
    for name in ARMS:
        assert name in done.stdout


def test_a_small_soak_reports_memory_after_each_wave(tmp_path: Path) -> None:
    report_path = tmp_path / "soak.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--soak", "30", "--json", str(report_path)],
        cwd=ROOT,
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
