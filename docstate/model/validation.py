"""Checks that a pipeline is a sound state machine, naming every problem at once."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable

from docstate.model.declarations import PipelineSpec, TransitionSpec

# Names become parts of activity types and search attribute values: keep them plain.
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def find_problems(spec: PipelineSpec) -> list[str]:
    """Every problem of ``spec`` as one sentence each; empty when it is valid."""
    state_names = [s.name for s in spec.states]
    known = set(state_names)
    problems = [
        *_bad_names(spec),
        *_duplicates("state", state_names),
        *_duplicates("transition", [t.name for t in spec.transitions]),
        *_endpoints(spec, known),
    ]
    initials = [s.name for s in spec.states if s.initial]
    finals = {s.name for s in spec.states if s.final}
    if not initials:
        problems.append("no initial state: mark one State(..., initial=True)")
    elif len(initials) > 1:
        problems.append(f"more than one initial state: {', '.join(initials)}")
    if not finals:
        problems.append("no final state: mark at least one State(..., final=True)")
    problems += [f"state {s!r} is both initial and final" for s in set(initials) & finals]

    outgoing: dict[str, list[TransitionSpec]] = defaultdict(list)
    for t in spec.transitions:
        outgoing[t.source].append(t)
    for state in sorted(finals):
        if outgoing[state]:
            names = ", ".join(t.name for t in outgoing[state])
            problems.append(f"final state {state!r} has outgoing transitions: {names}")
    problems += _ambiguities(outgoing)
    problems += [
        f"transition {t.name!r} is local and cannot heartbeat: drop `heartbeat` or `local`"
        for t in spec.transitions
        if t.local is True and t.heartbeat
    ]
    problems += [
        f"transition {t.name!r} has a rate_limit and cannot be local: the Temporal server "
        "limits the rate of a task queue, which a local activity never passes through; "
        "drop `local` or `rate_limit`"
        for t in spec.transitions
        if t.local is True and t.rate_limit is not None
    ]

    if len(initials) == 1 and finals:
        problems += _reachability(spec, initials[0], finals, known)
    return problems


def _bad_names(spec: PipelineSpec) -> Iterable[str]:
    named = [("pipeline", spec.name)]
    named += [("state", s.name) for s in spec.states]
    named += [("transition", t.name) for t in spec.transitions]
    for kind, name in named:
        if not NAME.match(name):
            yield (
                f"{kind} name {name!r} is not a plain name "
                "(letters, digits, '_' and '-', starting with a letter or '_')"
            )


def _duplicates(kind: str, names: list[str]) -> Iterable[str]:
    for name, count in sorted(Counter(names).items()):
        if count > 1:
            yield f"{kind} name {name!r} is declared {count} times"


def _endpoints(spec: PipelineSpec, known: set[str]) -> Iterable[str]:
    for t in spec.transitions:
        for end, state in (("from", t.source), ("to", t.target)):
            if state not in known:
                yield f"transition {t.name!r} goes {end} unknown state {state!r}"


def _ambiguities(outgoing: dict[str, list[TransitionSpec]]) -> Iterable[str]:
    for state, transitions in sorted(outgoing.items()):
        defaults = [t.name for t in transitions if t.when is None]
        if len(defaults) > 1:
            yield (
                f"state {state!r} has transitions {', '.join(defaults)} with no `when` rule "
                "to choose between them (give all but one a `when`)"
            )
        seen: dict[str, str] = {}
        for t in transitions:
            if t.when is None:
                continue
            key = repr(sorted(t.when.items()))
            if key in seen:
                yield (
                    f"transitions {seen[key]!r} and {t.name!r} leave state {state!r} "
                    f"with the same `when` rule {t.when}"
                )
            seen[key] = t.name


def _reachability(
    spec: PipelineSpec, initial: str, finals: set[str], known: set[str]
) -> Iterable[str]:
    edges = [(t.source, t.target) for t in spec.transitions]
    forward = _closure({initial}, edges)
    backward = _closure(finals, [(b, a) for a, b in edges])
    if initial not in backward:
        yield f"no path from the initial state {initial!r} to a final state"
    for state in dict.fromkeys(s.name for s in spec.states):
        if state not in forward:
            yield f"state {state!r} is unreachable from the initial state {initial!r}"
        elif state not in backward and state != initial:
            yield f"no path from state {state!r} to a final state"


def _closure(start: set[str], edges: list[tuple[str, str]]) -> set[str]:
    seen = set(start)
    frontier = list(start)
    while frontier:
        node = frontier.pop()
        for a, b in edges:
            if a == node and b not in seen:
                seen.add(b)
                frontier.append(b)
    return seen
