"""Small pipelines the engine tests drive; their functions are controlled by the tests."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import timedelta
from typing import Any

from docstate import Document, DocumentType, FanOut, PermanentError, Retry, State, Transition

QUICK = Retry(initial_interval=timedelta(milliseconds=100), backoff=2.0, max_attempts=3)

calls: defaultdict[str, int] = defaultdict(int)
"""Attempts per (document id, transition), counted by the functions below."""
failures_left: dict[str, int] = {}
"""Per document id: how many more attempts of ``flaky`` should fail."""
cancelled: set[str] = set()
"""Document ids whose ``slow`` transition saw its cancellation."""


def _count(doc: Document, name: str) -> None:
    calls[f"{doc.id}:{name}"] += 1


async def parse(doc: Document) -> Document:
    _count(doc, "parse")
    return doc.with_content((doc.content or b"").upper(), parsed=True)


async def flaky(doc: Document) -> Document:
    _count(doc, "flaky")
    if failures_left.get(doc.id, 0) > 0:
        failures_left[doc.id] -= 1
        raise ConnectionError(f"flaky service refused {doc.id}")
    return doc.model_copy(update={"metadata": {**doc.metadata, "enriched": True}})


async def reject(doc: Document) -> Document:
    _count(doc, "reject")
    if doc.metadata.get("bad"):
        raise PermanentError(f"document {doc.id} is marked bad")
    return doc


async def slow(doc: Document) -> Document:
    _count(doc, "slow")
    try:
        await asyncio.sleep(float(doc.metadata.get("sleep", 60)))
    except asyncio.CancelledError:
        cancelled.add(doc.id)
        raise
    return doc


async def stubborn(doc: Document) -> Document:
    """Ignores its cancellation, as careless code may: no drain can wait it out."""
    while True:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            continue


def _linear(name: str, *steps: tuple[str, object], **transition_options: object) -> DocumentType:
    states = ["s0", *[f"s{i}" for i in range(1, len(steps))], "done"]
    transitions = [
        Transition(
            name=step,
            source=states[i],
            target=states[i + 1],
            run=func,
            retry=QUICK,
            **transition_options,
        )
        for i, (step, func) in enumerate(steps)
    ]
    return DocumentType(
        name=name,
        states=[State("s0", initial=True), *states[1:-1], State("done", final=True)],
        transitions=transitions,
    )


BASIC = _linear("basic", ("parse", parse), ("enrich", flaky), ("check", reject))
SKIPPABLE = _linear("skippable", ("check", reject), ("parse", parse), skippable=True)
SLOW = _linear("slow", ("wait", slow), ("parse", parse), heartbeat=timedelta(milliseconds=500))
STUBBORN = _linear("stubborn", ("dig", stubborn), timeout=timedelta(minutes=10))
ALL: tuple[DocumentType, ...] = (BASIC, SKIPPABLE, SLOW)


async def count_up(doc: Document) -> Document:
    n = int(doc.metadata.get("n", 0)) + 1
    more = n < int(doc.metadata.get("rounds", 1))
    return doc.model_copy(update={"metadata": {**doc.metadata, "n": n, "more": more}})


def _loop(name: str, local: bool | None) -> DocumentType:
    return DocumentType(
        name=name,
        states=[State("work", initial=True), State("done", final=True)],
        transitions=[
            Transition(
                name="again",
                source="work",
                target="work",
                when={"more": True},
                run=count_up,
                local=local,
            ),
            Transition(name="finish", source="work", target="done", run=count_up, local=local),
        ],
    )


LOOP = _loop("loop", local=None)  # short: local activities
LOOP_QUEUED = _loop("loop_queued", local=False)  # task-queue activities

ROUTED = DocumentType(
    name="routed",
    states=[State("s0", initial=True), State("a", final=True), State("b", final=True)],
    transitions=[
        Transition(name="to_a", source="s0", target="a", when={"kind": "a"}, run=parse),
        Transition(name="to_b", source="s0", target="b", when={"kind": "b"}, run=parse),
    ],
)

DEADLINE = DocumentType(
    name="deadline",
    states=[State("s0", initial=True), State("done", final=True)],
    transitions=[Transition(name="check", source="s0", target="done", run=reject, retry=QUICK)],
    waiting_deadline=timedelta(seconds=1),
)
ALL = (*ALL, LOOP, LOOP_QUEUED, ROUTED, DEADLINE)

running_leaves = 0
max_running_leaves = 0


def split(doc: Document) -> list[Document]:
    """Derive ``children`` documents of type ``child_type``; ``bad_children`` will fail."""
    bad = set(doc.metadata.get("bad_children", []))
    extra = {k: doc.metadata[k] for k in ("sleep",) if k in doc.metadata}
    if "grandchildren" in doc.metadata:
        extra["children"] = doc.metadata["grandchildren"]
    return [
        doc.derive(
            f"part {i}", key=i, type=doc.metadata.get("child_type", "leaf"), bad=i in bad, **extra
        )
        for i in range(int(doc.metadata.get("children", 0)))
    ]


async def leaf(doc: Document) -> Document:
    global running_leaves, max_running_leaves
    running_leaves += 1
    max_running_leaves = max(max_running_leaves, running_leaves)
    try:
        await asyncio.sleep(0.01)
        return await reject(doc)
    finally:
        running_leaves -= 1


LEAF = DocumentType(
    name="leaf",
    states=[State("new", initial=True), State("done", final=True)],
    transitions=[Transition(name="touch", source="new", target="done", run=leaf, retry=QUICK)],
    waiting_deadline=timedelta(milliseconds=500),  # a bad leaf fails soon after it waits
)
SLEEPER = DocumentType(
    name="sleeper",
    states=[State("new", initial=True), State("done", final=True)],
    transitions=[
        Transition(
            name="nap", source="new", target="done", run=slow, heartbeat=timedelta(milliseconds=500)
        )
    ],
)


def _fan(name: str, **fan_out: Any) -> DocumentType:
    return DocumentType(
        name=name,
        states=[State("s0", initial=True), State("split", final=True)],
        transitions=[
            Transition(
                name="split", source="s0", target="split", run=split, fan_out=FanOut(**fan_out)
            )
        ],
    )


FAN = _fan("fan")
FAN_STRICT = _fan("fan_strict", on_child_failure="fail")
FAN_NARROW = _fan("fan_narrow", window=5)
ALL = (*ALL, LEAF, SLEEPER, FAN, FAN_STRICT, FAN_NARROW)

LOCAL = _linear("local", ("parse", parse), ("enrich", flaky), ("check", reject), local=True)
# Short transitions, the second of which naps: a local run is under way while it does.
DOZER = _linear("dozer", ("parse", parse), ("doze", slow))
# A short transition that naps past its 1 s timeout when asked to.
NAPPER = _linear("napper", ("doze", slow), timeout=timedelta(seconds=1))
# Three short transitions that nap as long as asked: slower ones take a run each.
DROWSY = _linear("drowsy", ("a", slow), ("b", slow), ("c", slow))
ALL = (*ALL, LOCAL, DOZER, NAPPER, DROWSY)

# Limits (not in ALL: a rate-limited transition brings a second worker on its own queue).
RATE_LIMITED = _linear("rate_limited", ("parse", parse), rate_limit=50)
ONE_AT_A_TIME = "one-at-a-time"
"""A fairness key the replay scenarios limit to one transition at once."""
