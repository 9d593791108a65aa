"""Pipelines of operations with prerequisites (validate -> transform -> enrich -> ...).

A request names the operations it wants (or the one it ends with); DocState adds their
prerequisites and runs them in dependency order. The operations compile into an ordinary
:class:`DocumentType`: one state per operation, taken in a fixed topological order; an
operation not requested passes by as a cheap local no-op, so the history shows it skipped.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any, Protocol

from pydantic import Field

from docstate.document import Document
from docstate.errors import PermanentError, PipelineDefinitionError, UnknownOperation
from docstate.model import DocumentType, Retry, State, Transition


class Requiring(Protocol):
    """What planning needs of an operation: its name and prerequisites (an
    :class:`Operation`, or a published spec's entry)."""

    @property
    def name(self) -> str: ...

    @property
    def requires(self) -> tuple[str, ...]: ...


class Operation(Transition):
    """An operation: a function, the operations it needs first, and its retry policy."""

    source: str = ""
    target: str = ""
    requires: tuple[str, ...] = Field(default=(), exclude=True)


class OperationsPipeline(DocumentType):
    """A :class:`DocumentType` built from operations; see :meth:`build`."""

    operations: tuple[Operation, ...] = Field(default=(), exclude=True)

    @classmethod
    def build(cls, name: str, operations: Sequence[Operation]) -> OperationsPipeline:
        """Compile ``operations`` into a pipeline.

        Raises:
            PipelineDefinitionError: naming duplicate or unknown operations and cycles.
        """
        order = topological_order(name, operations)
        by_name = {op.name: op for op in operations}
        states = [State("requested", initial=True), State("planned")]
        states += [State(op, final=i == len(order) - 1) for i, op in enumerate(order)]
        transitions = [
            Transition(
                name="plan",
                source="requested",
                target="planned",
                run=functools.partial(_plan, name, tuple(operations)),
                retry=Retry(max_attempts=1),
                local=True,
            )
        ]
        previous = "planned"
        for op_name in order:
            op = by_name[op_name]
            transitions.append(
                op.model_copy(
                    update={"source": previous, "target": op_name, "when": {f"run.{op_name}": True}}
                )
            )
            transitions.append(
                Transition(
                    name=f"skip_{op_name}",
                    source=previous,
                    target=op_name,
                    run=_unchanged,
                    local=True,
                    timeout=timedelta(seconds=10),
                )
            )
            previous = op_name
        return cls(name=name, states=states, transitions=transitions, operations=tuple(operations))

    def plan(self, requested: Iterable[str]) -> list[str]:
        """The operations to run for ``requested``, prerequisites first.

        Raises:
            UnknownOperation: naming what is not an operation of this pipeline.
        """
        return plan(self.name, self.operations, requested)

    def request(self, *operations: str) -> dict[str, Any]:
        """Metadata asking for ``operations`` (checked now: a typo fails here, not later)."""
        self.plan(operations)
        return {"operations": list(operations)}


def topological_order(pipeline: str, operations: Sequence[Requiring]) -> list[str]:
    """Operations in dependency order (declaration order among independent ones)."""
    names = [op.name for op in operations]
    problems = [
        f"operation {n!r} is declared {names.count(n)} times"
        for n in sorted(set(names))
        if names.count(n) > 1
    ]
    known = set(names)
    problems += [
        f"operation {op.name!r} requires unknown operation {req!r}"
        for op in operations
        for req in op.requires
        if req not in known
    ]
    if problems:
        raise PipelineDefinitionError(pipeline, problems)
    requires = {op.name: [r for r in op.requires] for op in operations}
    order: list[str] = []
    visiting: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        if name in visiting:
            cycle = [*visiting[visiting.index(name) :], name]
            raise PipelineDefinitionError(
                pipeline, [f"operations depend on each other in a cycle: {' -> '.join(cycle)}"]
            )
        visiting.append(name)
        for req in requires[name]:
            visit(req)
        visiting.pop()
        order.append(name)

    for name in names:
        visit(name)
    return order


def plan(pipeline: str, operations: Sequence[Requiring], requested: Iterable[str]) -> list[str]:
    wanted = list(requested)
    by_name = {op.name: op for op in operations}
    unknown = [w for w in wanted if w not in by_name]
    if unknown:
        raise UnknownOperation(pipeline, unknown, list(by_name))
    if not wanted:
        raise UnknownOperation(pipeline, [], list(by_name))
    needed: set[str] = set()
    stack = list(wanted)
    while stack:
        name = stack.pop()
        if name not in needed:
            needed.add(name)
            stack += by_name[name].requires
    return [name for name in topological_order(pipeline, operations) if name in needed]


def _plan(pipeline: str, operations: tuple[Operation, ...], doc: Document) -> Document:
    requested = doc.metadata.get("operations") or [doc.metadata.get("target")]
    if isinstance(requested, str):
        requested = [requested]
    try:
        ordered = plan(pipeline, operations, [r for r in requested if r])
    except UnknownOperation as err:
        raise PermanentError(str(err)) from err
    flags = {f"run.{name}": True for name in ordered}
    return doc.model_copy(update={"metadata": {**doc.metadata, "plan": ordered, **flags}})


def _unchanged(doc: Document) -> None:
    return None


__all__ = ["Operation", "OperationsPipeline"]
