"""Operations of a published type: checking a request, and how far an object is."""

from __future__ import annotations

from dataclasses import dataclass

from docstate.api.models import Progress
from docstate.document import Status
from docstate.operations import plan
from docstate.projection.catalog import TypeRecord
from docstate.projection.records import DocumentRecord, EventRecord


@dataclass(frozen=True)
class PublishedOperation:
    """An operation as its type's published spec names it."""

    name: str
    requires: tuple[str, ...]


def operations_of(published: TypeRecord) -> list[PublishedOperation]:
    return [
        PublishedOperation(op["name"], tuple(op.get("requires", ())))
        for op in published.spec.get("operations", [])
    ]


def check_operations(published: TypeRecord, requested: list[str]) -> list[str]:
    """The operations to run for ``requested``, prerequisites first.

    Raises:
        UnknownOperation: naming what the type does not have (or that nothing was asked).
    """
    return plan(published.name, operations_of(published), requested)


def progress_of(record: DocumentRecord, events: list[EventRecord]) -> Progress:
    planned = [str(p) for p in record.metadata.get("plan", [])]
    # Each operation is a state: an operation is done once its state has been reached
    # (by its own transition; a skipped one is not planned).
    done = {e.to_state for e in events if e.error is None and e.transition == e.to_state}
    completed = [op for op in planned if op in done]
    if planned:
        percent = 100.0 * len(completed) / len(planned)
    else:  # no operations planned (a plain document): all or nothing
        percent = 100.0 if record.status is Status.COMPLETED else 0.0
    return Progress(
        id=record.id,
        state=record.state,
        status=record.status,
        error=record.error,
        planned_operations=planned,
        completed_operations=completed,
        percent=percent,
    )
