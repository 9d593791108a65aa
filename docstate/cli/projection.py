"""``docstate projection verify|rebuild [--force]``: compare with Temporal, repair."""

from __future__ import annotations

import argparse
import sys

from docstate.cli.arguments import positive_seconds
from docstate.cli.render import table
from docstate.client import Client
from docstate.client.failures import ErrorBoundary
from docstate.projection import ProjectionWriter
from docstate.rebuild import collect, rebuild
from docstate.repair import ForcingWriter, verify


async def projection(ds: Client, args: argparse.Namespace) -> int:
    """Run ``verify`` or ``rebuild``; exit 1 when drift is found or runs went unanswered."""
    temporal = await ds.temporal_client()
    async with ErrorBoundary(ds.settings.database_url, ds.settings.temporal_address)():
        if args.projection_command == "verify":
            truth = await collect(temporal, query=args.query, timeout=args.query_timeout)
            drifted = await verify(truth, ds.queries)
            if drifted:
                rows = [[d.document_id, d.drift.value, d.detail] for d in drifted]
                print(table(("ID", "DRIFT", "DETAIL"), rows))
            hint = " (repair: docstate projection rebuild --force)" if drifted else ""
            print(f"verified {len(truth.writes)} documents: {len(drifted)} drifted{hint}")
            return _unanswered(truth.unanswered) or (1 if drifted else 0)
        forced = ForcingWriter(ds.queries.engine) if args.force else None
        async with ProjectionWriter(ds.queries.engine) as fenced:
            report = await rebuild(
                temporal, forced or fenced, query=args.query, timeout=args.query_timeout
            )
    print(
        f"rebuilt {report.documents} documents from {report.runs} workflow runs "
        f"({report.events} events)" + (", forced" if args.force else "")
    )
    return _unanswered(report.unanswered)


def _unanswered(ids: list[str]) -> int:
    """Say which runs did not answer; the exit code (1 when some did not)."""
    if not ids:
        return 0
    print(
        f"no answer from {len(ids)} runs (is a worker running for their task queue?): "
        f"{', '.join(ids[:5])}",
        file=sys.stderr,
    )
    return 1


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``projection`` command's arguments."""
    p.add_argument(
        "projection_command",
        choices=["verify", "rebuild"],
        help="verify: report each drifted document; rebuild: write every document "
        "workflow's state (a worker must run)",
    )
    p.add_argument("--query", help="a Temporal list filter (default: every document workflow)")
    p.add_argument(
        "--force",
        action="store_true",
        help="rebuild: also overwrite rows that are ahead of Temporal",
    )
    p.add_argument(
        "--query-timeout",
        type=positive_seconds,
        default=10.0,
        help="seconds each workflow gets to answer (default 10)",
    )
