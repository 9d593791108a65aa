"""What the benchmark measures: throughput, latency, projection lag, CPU, memory."""

from __future__ import annotations

import os
import resource
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from docstate.projection import CoalescingWriter, ProjectionWrite, ProjectionWriter

TICKS = os.sysconf("SC_CLK_TCK")


def percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class LagWriter(CoalescingWriter):
    """The worker's writer, noting for each write how long after its transition ended
    (``write.at``) its row became visible (its transaction committed).

    Transition outcomes (``lags``) are the contract. Status changes the workflow records
    (``status_lags``) are stamped with the workflow task's time, so theirs also counts
    the wait for the workflow task; they are kept apart. So are confirmations of closed
    statuses (``closed_lags``: from the last transition's end until ``completed`` shows,
    which waits for Temporal to close the workflow).
    """

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(ProjectionWriter(engine))
        self.lags: list[float] = []
        self.status_lags: list[float] = []
        self.closed_lags: list[float] = []
        self.committed: dict[tuple[str, int], float] = {}
        """When each (document id, version) was committed (``time.time()``)."""

    def reset(self) -> None:
        self.lags.clear()
        self.status_lags.clear()
        self.closed_lags.clear()
        self.committed.clear()
        self.transactions = 0

    async def _write(self, writes: Sequence[ProjectionWrite]) -> None:
        await super()._write(writes)
        now = datetime.now(UTC)
        committed = now.timestamp()
        for w in writes:
            self.committed.setdefault((w.document_id, w.version), committed)
            lags = self.lags if w.started_at is not None else self.status_lags
            lags = self.closed_lags if w.confirmed else lags
            lags.append((now - w.at).total_seconds())


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def reset_peak_rss() -> None:
    # Linux: writing 5 to clear_refs resets the peak resident set size (VmHWM).
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def current_rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class Sample:
    """One arm's run: call :meth:`finish` when every document has completed."""

    docs: int
    activities_per_doc: int
    server_pid: int
    started: float = field(default_factory=time.perf_counter)
    cpu_self: float = field(default_factory=time.process_time)
    latencies: list[float] = field(default_factory=list)
    cpu_server: float = 0.0

    def __post_init__(self) -> None:
        reset_peak_rss()
        self.cpu_server = process_cpu(self.server_pid)

    def finish(self, **extra: Any) -> dict[str, Any]:
        elapsed = time.perf_counter() - self.started
        result = {
            "docs": self.docs,
            "seconds": round(elapsed, 2),
            "docs_per_s": round(self.docs / elapsed, 2),
            "activities_per_s": round(self.docs * self.activities_per_doc / elapsed, 1),
            "latency_p50_s": _round(percentile(self.latencies, 0.5)),
            "latency_p99_s": _round(percentile(self.latencies, 0.99)),
            "worker_cpu_s_per_doc": round((time.process_time() - self.cpu_self) / self.docs, 4),
            "server_cpu_s_per_doc": round(
                (process_cpu(self.server_pid) - self.cpu_server) / self.docs, 4
            ),
            "peak_rss_mib": round(peak_rss_mib(), 1),
        }
        result.update(extra)
        return result


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per metric, the median over rounds (numbers) or the last value (anything else)."""
    merged: dict[str, Any] = {}
    for key in runs[0]:
        values = [r[key] for r in runs if r.get(key) is not None]
        numeric = values and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in values
        )
        # rounded: the median of an even count is a mean, with float noise in its digits
        merged[key] = (
            round(statistics.median(values), 4) if numeric else (values[-1] if values else None)
        )
    merged["rounds"] = len(runs)
    return merged
