"""Plain, aligned, greppable output for the command line."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from docstate.projection.records import DocumentRecord, EventRecord


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Columns padded to their widest cell, as a terminal shows it (日本語 takes six
    columns, not three); never truncated."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([width(h), *(width(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    lines = [headers, *cells]
    return "\n".join(
        "  ".join(c + " " * (w - width(c)) for c, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def width(text: str) -> int:
    """Terminal columns of ``text``: wide (East Asian) characters take two, combining
    marks none."""
    return sum(
        0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        for ch in text
    )


def printable(text: object) -> str:
    """``text`` on one line as it is: control characters (a newline or tab in a file
    name) shown escaped, everything else, spaces and non-ASCII included, unchanged."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in str(text))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return " ".join(str(value).split())


def as_json(value: BaseModel | Sequence[BaseModel]) -> str:
    if isinstance(value, BaseModel):
        return value.model_dump_json(indent=2)
    return json.dumps([v.model_dump(mode="json") for v in value], indent=2, ensure_ascii=False)


DOCUMENT_HEADERS = ("ID", "TYPE", "STATE", "STATUS", "UPDATED", "ERROR")


def document_rows(records: Sequence[DocumentRecord]) -> list[list[Any]]:
    return [[r.id, r.type, r.state, r.status.value, r.updated_at, r.error] for r in records]


def document_details(r: DocumentRecord) -> str:
    content = (
        f"{r.content_ref.size} bytes, sha256 {r.content_ref.sha256}" if r.content_ref else None
    )
    fields = [
        ("id", r.id),
        ("type", r.type),
        ("state", r.state),
        ("status", r.status.value),
        ("error", r.error),
        ("attempt", r.attempt),
        ("parent", r.parent_id),
        ("root", r.root_id),
        ("content", content),
        ("metadata", json.dumps(r.metadata, sort_keys=True, ensure_ascii=False)),
        ("workflow", r.workflow_id),
        ("created", r.created_at),
        ("updated", r.updated_at),
        ("version", r.version),
    ]
    return "\n".join(f"{name + ':':<10} {_cell(value)}" for name, value in fields)


def history_rows(events: Sequence[EventRecord]) -> list[list[Any]]:
    return [
        [
            e.seq,
            e.finished_at,
            e.transition,
            e.from_state,
            e.to_state,
            e.status.value,
            e.attempt or None,
            e.error,
        ]
        for e in events
    ]


HISTORY_HEADERS = ("SEQ", "AT", "TRANSITION", "FROM", "TO", "STATUS", "ATTEMPT", "ERROR")


def tree_lines(records: Sequence[DocumentRecord]) -> str:
    """A lineage as an indented tree, each document with its type, state and status."""
    by_parent: dict[str | None, list[DocumentRecord]] = {}
    for r in records:
        by_parent.setdefault(r.parent_id, []).append(r)
    top = records[0]
    lines: list[str] = []

    def walk(record: DocumentRecord, prefix: str, last: bool, depth: int) -> None:
        branch = "" if depth == 0 else ("└── " if last else "├── ")
        error = f"  ({_cell(record.error)})" if record.error else ""
        lines.append(
            f"{prefix}{branch}{record.id}  {record.type}  {record.state}  "
            f"{record.status.value}{error}"
        )
        kids = by_parent.get(record.id, [])
        below = prefix if depth == 0 else prefix + ("    " if last else "│   ")
        for i, kid in enumerate(kids):
            walk(kid, below, i == len(kids) - 1, depth + 1)

    walk(top, "", True, 0)
    counts: dict[str, int] = {}
    for r in records:
        counts[r.status.value] = counts.get(r.status.value, 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    return "\n".join([*lines, f"{len(records)} documents: {summary}"])
