"""The pipelines DocState's benchmark arms run."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from typing import Any

from docstate import Document, DocumentType, FanOut, State, Transition


async def noop(doc: Document) -> None:
    return None


async def io_wait(doc: Document) -> None:
    await asyncio.sleep(0.1)  # an I/O-bound transition: a 100 ms call to another service


async def stream_copy(doc: Document) -> Document:
    """Reads every chunk and writes them as new content: a 200 MB document passes
    through without ever being whole in memory."""
    digest = hashlib.sha256()
    async with doc.writer() as out:
        async for chunk in doc.open():
            digest.update(chunk)
            await out.write(chunk)
    return doc.with_ref(out.ref, sha256_seen=digest.hexdigest())


def fan(doc: Document) -> list[Document]:
    return [doc.derive(key=i, type="bench_leaf") for i in range(int(doc.metadata["children"]))]


def linear(
    name: str,
    steps: int,
    run: Callable[[Document], Any],
    local: bool | None = None,
    first: Callable[[Document], Any] | None = None,
) -> DocumentType:
    """``steps`` transitions calling ``run`` (the first one ``first``, when given)."""
    states = [f"s{i}" for i in range(steps + 1)]
    runs = [first or run, *[run] * (steps - 1)]
    return DocumentType(
        name=name,
        states=[State(states[0], initial=True), *states[1:-1], State(states[-1], final=True)],
        transitions=[
            Transition(
                name=f"t{i}", source=states[i], target=states[i + 1], run=runs[i], local=local
            )
            for i in range(steps)
        ],
    )


NOOP3 = linear("bench_noop", 3, noop)  # as declared by default: short, so local activities
NOOP3_QUEUE = linear("bench_noop_queue", 3, noop, local=False)  # what long transitions get
IO3 = linear("bench_io", 3, io_wait)
LEAF = linear("bench_leaf", 1, noop)
FAN = DocumentType(
    name="bench_fan",
    states=[State("new", initial=True), State("split", final=True)],
    transitions=[
        Transition(name="split", source="new", target="split", run=fan, fan_out=FanOut(window=50))
    ],
)
BIG_SKIP = linear("bench_big_skip", 3, noop)  # three transitions that never read it
BIG_STREAM = linear("bench_big_stream", 3, noop, first=stream_copy)  # one streams it
ALL = (NOOP3, NOOP3_QUEUE, IO3, LEAF, FAN, BIG_SKIP, BIG_STREAM)
