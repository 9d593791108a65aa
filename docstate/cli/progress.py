"""A live progress bar for batches (on a terminal), fed by batch events."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from docstate.client.batch import BatchEvent, EventKind


@contextmanager
def progress_bar(total: int, label: str) -> Iterator[Callable[[BatchEvent], None]]:
    """A callback for ``submit_many``'s events; draws a bar only when stderr is a terminal."""
    if not sys.stderr.isatty():
        yield lambda event: None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        # not only failed ones: waiting and cancelled too (the summary names each status)
        TextColumn("{task.fields[failed]} not completed"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total, failed=0)

        def on_event(event: BatchEvent) -> None:
            if event.kind in (EventKind.DOCUMENT_COMPLETED, EventKind.DOCUMENT_FAILED):
                bar.update(task, completed=event.done, failed=event.failed)

        yield on_event
