"""The command line's commands: each takes the parsed arguments and a connected client."""

from __future__ import annotations

import argparse
import asyncio
import glob
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from docstate.cli.hints import with_worker_hint
from docstate.cli.progress import progress_bar
from docstate.cli.render import (
    DOCUMENT_HEADERS,
    HISTORY_HEADERS,
    as_json,
    document_details,
    document_rows,
    history_rows,
    printable,
    table,
    tree_lines,
)
from docstate.cli.replies import act_and_say
from docstate.client import Client
from docstate.client.batch import BatchEvent, EventKind, Submission, SubmitResult
from docstate.config import Settings
from docstate.document import Status
from docstate.errors import ConfigurationError, DocStateError
from docstate.fetch import is_url, url_filename
from docstate.graph import to_dot, to_mermaid
from docstate.projection.records import DocumentFilter, DocumentRecord
from docstate.protocol import Action
from docstate.registry import Registry


def expand_paths(patterns: list[str]) -> list[Path | str]:
    """Files named or matched by ``patterns`` (quoted globs, ``**`` included), and URLs.

    Raises:
        ConfigurationError: naming every pattern that matches no file, before anything
            is submitted.
    """
    paths: list[Path | str] = []
    missing: list[str] = []
    folders: list[str] = []
    for pattern in patterns:
        if is_url(pattern):
            paths.append(pattern)
            continue
        if Path(pattern).is_file():
            paths.append(Path(pattern))
            continue
        if Path(pattern).is_dir():
            folders.append(pattern)
            continue
        matches = sorted(Path(m) for m in glob.glob(pattern, recursive=True) if Path(m).is_file())
        if matches:
            paths += matches
        else:
            missing.append(pattern)
    if folders:
        first = folders[0].rstrip("/")
        raise ConfigurationError(
            f"{', '.join(folders)}: a folder, not a file; to submit the files in it, give "
            f"a quoted glob: '{first}/*', or '{first}/**/*' with its subfolders"
        )
    if missing:
        globs = [m for m in missing if glob.has_magic(m)]
        named = [m for m in missing if not glob.has_magic(m)]
        said = [f"no such file: {', '.join(named)}"] if named else []
        said += [f"no file matches {', '.join(globs)}"] if globs else []
        raise ConfigurationError("; ".join(said))
    return paths


def parse_metadata(pairs: list[str]) -> dict[str, Any]:
    """``key=value`` pairs; a value that parses as JSON (numbers, true, lists) is kept typed."""
    metadata: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ConfigurationError(f"metadata {pair!r} is not key=value")
        try:
            metadata[key] = json.loads(raw)
        except json.JSONDecodeError:
            metadata[key] = raw
    return metadata


def check_type(settings: Settings, type_name: str) -> None:
    """Refuse an unknown type up front when this process can load the pipelines."""
    try:
        registry = Registry.from_modules(settings.pipelines)
    except ConfigurationError:
        return  # a client-only install: the worker will judge the type
    registry.get(type_name)


def interrupted_line(args: argparse.Namespace) -> str | None:
    """What Ctrl-C in a command leaves behind, where it is not plain (``watch`` ends so)."""
    if args.command == "submit":
        return (
            "interrupted; documents already submitted (each listed above as `submitted ID`) "
            "are not cancelled: `docstate wait ID` follows one"
        )
    if args.command == "wait":
        again = f"`docstate wait {args.id}` waits again"
        return f"stopped waiting; the document is not cancelled ({again})"
    return None


async def submit(ds: Client, args: argparse.Namespace) -> int:
    paths = expand_paths(args.paths)  # every file is checked before anything is submitted
    if args.id and len(paths) != 1:
        raise ConfigurationError(f"--id names one document, but {len(paths)} files were given")
    metadata = parse_metadata(args.meta)
    check_type(ds.settings, args.type)
    items = [
        Submission(content=path, id=args.id, metadata=metadata, fairness_key=args.fairness_key)
        for path in paths
    ]
    label = "processing" if args.wait else "submitting"
    with progress_bar(len(items), label) as on_progress:

        def on_event(event: BatchEvent) -> None:
            # Each id as soon as its document is in: should the wait be interrupted, what
            # went in (and is not cancelled with it) is on the screen.
            if event.kind is EventKind.DOCUMENT_STARTED and event.index is not None:
                path = printable(paths[event.index])
                print(f"submitted {event.document_id}  ({path})", flush=True)
            on_progress(event)

        submitting = ds.submit_many(
            items,
            type=args.type,
            concurrency=args.concurrency,
            wait=args.wait,
            timeout=args.timeout,
            on_event=on_event,
        )
        results = await (with_worker_hint(ds, submitting) if args.wait else submitting)
    if len(results) == 1 and results[0].status is None and results[0].error:
        raise DocStateError(results[0].error)  # a single document: one clear error line
    if args.wait:
        rows = [
            [
                r.document_id,
                _name(p),
                r.state,
                r.status.value if r.status else "not submitted",
                r.error,
            ]
            for r, p in zip(results, paths, strict=True)
        ]
        print(table(("ID", "FILE", "STATE", "STATUS", "ERROR"), rows))
    else:
        for line in refusals(results, paths):
            print(line)
    print(summary(results))
    return 0 if all(r.ok for r in results) else 1


def refusals(results: list[SubmitResult], paths: list[Path | str]) -> list[str]:
    """Why documents were not submitted: one line each, or one for all when they share
    the reason (a server that refuses every start)."""
    refused = [(r.error or "", p) for r, p in zip(results, paths, strict=True) if r.status is None]
    reasons = {error for error, _ in refused}
    if len(refused) > 1 and len(reasons) == 1:
        return [f"not submitted ({len(refused)} files): {reasons.pop()}"]
    return [f"not submitted ({printable(path)}): {error}" for error, path in refused]


def _name(source: Path | str) -> str:
    return source.name if isinstance(source, Path) else url_filename(source)


def summary(results: list[SubmitResult]) -> str:
    """One line: how many documents ended how."""
    counts: dict[str, int] = {}
    for r in results:
        key = r.status.value if r.status else "not submitted"
        counts[key] = counts.get(key, 0) + 1
    parts = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    noun = "document" if len(results) == 1 else "documents"
    return f"{len(results)} {noun}: {parts}"


async def watch(ds: Client, args: argparse.Namespace) -> int:
    """Counts by type, state and status, refreshed every ``--interval`` seconds."""
    shown = 0
    while args.count is None or shown < args.count:
        counts = await ds.queries.status_counts(type=args.type, root_id=args.root)
        rows = [[t, state, status.value, n] for (t, state, status), n in sorted(counts.items())]
        if sys.stdout.isatty():
            print("\033[2J\033[H", end="")  # redraw in place on a terminal
        print(table(("TYPE", "STATE", "STATUS", "COUNT"), rows), flush=True)
        shown += 1
        if args.count is None or shown < args.count:
            print(flush=True)
            await asyncio.sleep(args.interval)
    return 0


def documents_table(records: list[DocumentRecord]) -> str:
    return table(DOCUMENT_HEADERS, document_rows(records))


def show(args: argparse.Namespace, value: Any, render: Callable[[Any], str]) -> int:
    """Print ``value`` as JSON (``--json``) or as ``render`` shows it to people."""
    print(as_json(value) if args.json else render(value))
    return 0


async def status(ds: Client, args: argparse.Namespace) -> int:
    return show(args, await ds.get(args.id), document_details)


async def list_documents(ds: Client, args: argparse.Namespace) -> int:
    filters: DocumentFilter = {}
    if args.type:
        filters["type"] = args.type
    if args.state:
        filters["state"] = args.state
    if args.status:
        filters["status"] = Status(args.status)
    if args.parent:
        filters["parent_id"] = args.parent
    records = await ds.list(limit=args.limit, **filters)
    return show(args, records, documents_table)


async def history(ds: Client, args: argparse.Namespace) -> int:
    events = await ds.history(args.id)
    return show(args, events, lambda es: table(HISTORY_HEADERS, history_rows(es)))


async def tree(ds: Client, args: argparse.Namespace) -> int:
    return show(args, await ds.tree(args.id), tree_lines)


async def children(ds: Client, args: argparse.Namespace) -> int:
    records = await ds.children(args.id)
    if not records:
        await ds.get(args.id)  # an unknown id is an error; a leaf simply has none
    return show(args, records, documents_table)


async def content(ds: Client, args: argparse.Namespace) -> int:
    """Stream a document's content to a file or to stdout, a chunk at a time.

    A file appears only once complete and hash-checked (written aside, then renamed).
    """
    if not args.output:
        async for chunk in ds.content(args.id):
            sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()
        return 0
    final = Path(args.output)
    partial = final.with_name(final.name + ".partial")
    handle = await asyncio.to_thread(partial.open, "wb")
    try:
        async for chunk in ds.content(args.id):
            await asyncio.to_thread(handle.write, chunk)
    except BaseException:
        handle.close()
        partial.unlink(missing_ok=True)
        raise
    handle.close()
    partial.replace(final)
    return 0


async def wait(ds: Client, args: argparse.Namespace) -> int:
    record = await with_worker_hint(ds, ds.wait(args.id, timeout=args.timeout))
    print(
        f"{record.id}: {record.status.value} in state {record.state}"
        + (f" ({record.error})" if record.error else "")
    )
    return 0 if record.status is Status.COMPLETED else 1


async def act(ds: Client, args: argparse.Namespace) -> int:
    action = Action(args.command)
    if action is Action.CANCEL:
        await ds.cancel(args.id)
        print(f"{args.id}: cancellation requested")
        return 0
    print(await act_and_say(ds, args.id, action))
    return 0


def graph(settings: Settings, args: argparse.Namespace) -> int:
    spec = Registry.from_modules(settings.pipelines).get(args.type)
    print(to_dot(spec) if args.format == "dot" else to_mermaid(spec), end="")
    return 0


def fail_line(err: BaseException) -> str:
    """An error as one line: a multi-line message's lines joined with '; '."""
    # a bullet ("- ") goes; a flag's own dashes ("--port") stay
    lines = [line.strip().removeprefix("- ") for line in str(err).splitlines() if line.strip()]
    head, rest = (lines[0], lines[1:]) if lines else (type(err).__name__, [])
    return f"{head} {'; '.join(rest)}".strip() if rest else head


__all__ = [
    "act",
    "children",
    "content",
    "graph",
    "history",
    "list_documents",
    "status",
    "submit",
    "tree",
    "wait",
    "watch",
]
