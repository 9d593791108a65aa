"""Pipeline definitions: validation names every problem; graphs render."""

from __future__ import annotations

from datetime import timedelta

import pytest

from docstate import (
    Document,
    DocumentType,
    PipelineDefinitionError,
    Retry,
    State,
    Transition,
)
from docstate.graph import to_dot, to_mermaid


def noop(doc: Document) -> Document:
    return doc


def t(name: str, source: str, target: str, **kw: object) -> Transition:
    return Transition(name=name, source=source, target=target, run=noop, **kw)


def problems_of(**kw: object) -> list[str]:
    with pytest.raises(PipelineDefinitionError) as info:
        DocumentType(**kw)
    return info.value.problems


GOOD_STATES = [State("new", initial=True), "parsed", State("done", final=True)]


def test_a_valid_pipeline_builds_and_exposes_its_shape() -> None:
    dt = DocumentType(
        name="doc",
        states=GOOD_STATES,
        transitions=[t("parse", "new", "parsed"), t("finish", "parsed", "done")],
    )
    spec = dt.spec()
    assert spec.initial == "new"
    assert spec.is_final("done") and not spec.is_final("parsed")
    assert spec.activity_name(spec.transition("parse")) == "doc.parse"
    assert "run" not in spec.model_dump_json()
    assert dt.function("parse") is noop


@pytest.mark.parametrize(
    ("states", "transitions", "expected"),
    [
        (
            GOOD_STATES,
            [t("parse", "new", "parsed"), t("finish", "parsed", "nowhere")],
            "transition 'finish' goes to unknown state 'nowhere'",
        ),
        (
            GOOD_STATES,
            [t("parse", "ghost", "parsed"), t("finish", "parsed", "done")],
            "transition 'parse' goes from unknown state 'ghost'",
        ),
        (
            [*GOOD_STATES, "orphan"],
            [t("parse", "new", "parsed"), t("finish", "parsed", "done")],
            "state 'orphan' is unreachable from the initial state 'new'",
        ),
        (
            [*GOOD_STATES, "stuck"],
            [
                t("parse", "new", "parsed"),
                t("finish", "parsed", "done"),
                t("x", "new", "stuck", when={"k": 1}),
            ],
            "no path from state 'stuck' to a final state",
        ),
        (
            GOOD_STATES,
            [t("parse", "new", "parsed")],
            "no path from the initial state 'new' to a final state",
        ),
        (
            GOOD_STATES,
            [t("parse", "new", "parsed"), t("finish", "parsed", "done"), t("back", "done", "new")],
            "final state 'done' has outgoing transitions: back",
        ),
        (
            GOOD_STATES,
            [t("a", "new", "parsed"), t("b", "new", "parsed"), t("finish", "parsed", "done")],
            "state 'new' has transitions a, b with no `when` rule to choose between them",
        ),
        (
            GOOD_STATES,
            [
                t("a", "new", "parsed", when={"f": "pdf"}),
                t("b", "new", "parsed", when={"f": "pdf"}),
                t("finish", "parsed", "done"),
            ],
            "transitions 'a' and 'b' leave state 'new' with the same `when` rule",
        ),
        (
            [*GOOD_STATES, "parsed"],
            [t("parse", "new", "parsed"), t("finish", "parsed", "done")],
            "state name 'parsed' is declared 2 times",
        ),
        (
            GOOD_STATES,
            [t("parse", "new", "parsed"), t("parse", "parsed", "done")],
            "transition name 'parse' is declared 2 times",
        ),
        (
            ["new", "parsed", State("done", final=True)],
            [t("parse", "new", "parsed"), t("finish", "parsed", "done")],
            "no initial state",
        ),
        (
            [State("new", initial=True), State("parsed", initial=True), State("done", final=True)],
            [t("parse", "new", "parsed"), t("finish", "parsed", "done")],
            "more than one initial state: new, parsed",
        ),
        (
            [State("new", initial=True), "parsed", "done"],
            [t("parse", "new", "parsed"), t("finish", "parsed", "done")],
            "no final state",
        ),
        (
            GOOD_STATES,
            [
                t("parse", "new", "parsed", local=True, heartbeat=timedelta(seconds=1)),
                t("finish", "parsed", "done"),
            ],
            "transition 'parse' is local and cannot heartbeat",
        ),
        (
            [State("new", initial=True), "bad state", State("done", final=True)],
            [t("parse", "new", "bad state"), t("finish", "bad state", "done")],
            "state name 'bad state' is not a plain name",
        ),
    ],
)
def test_each_problem_is_named(
    states: list[State | str], transitions: list[Transition], expected: str
) -> None:
    problems = problems_of(name="doc", states=states, transitions=transitions)
    assert any(expected in p for p in problems), problems


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(PipelineDefinitionError) as info:
        DocumentType(
            name="doc",
            states=[State("new", initial=True), "orphan", State("done", final=True)],
            transitions=[t("a", "new", "done"), t("b", "new", "done"), t("c", "done", "x")],
        )
    message = str(info.value)
    assert message.startswith("pipeline 'doc' is invalid:")
    for part in ("unknown state 'x'", "final state 'done'", "no `when` rule", "'orphan'"):
        assert part in message


def test_malformed_arguments_are_definition_errors_too() -> None:
    with pytest.raises(PipelineDefinitionError, match="target: Field required"):
        Transition(name="x", source="a", run=noop)  # type: ignore[call-arg]
    with pytest.raises(PipelineDefinitionError, match="max_attempts"):
        Retry(max_attempts=-1)
    with pytest.raises(PipelineDefinitionError, match="run"):
        Transition(name="x", source="a", target="b", run="not callable")


def test_rules_choose_the_transition_and_default_catches_the_rest() -> None:
    dt = DocumentType(
        name="doc",
        states=GOOD_STATES,
        transitions=[
            t("pdf", "new", "parsed", when={"format": "pdf"}),
            t("other", "new", "parsed"),
            t("finish", "parsed", "done"),
        ],
    )
    spec = dt.spec()

    def chosen(state: str, metadata: dict[str, str]) -> str | None:
        transition = spec.next_transition(state, metadata)
        return transition.name if transition else None

    assert chosen("new", {"format": "pdf"}) == "pdf"
    assert chosen("new", {"format": "html"}) == "other"
    assert chosen("done", {}) is None


def test_graphs_render_every_transition() -> None:
    dt = DocumentType(
        name="doc",
        states=GOOD_STATES,
        transitions=[
            t("parse", "new", "parsed", when={"format": "pdf"}, retry=Retry(max_attempts=5)),
            t("finish", "parsed", "done", timeout=timedelta(seconds=3)),
        ],
    )
    assert to_mermaid(dt) == (
        "stateDiagram-v2\n"
        "    [*] --> new\n"
        "    new --> parsed: parse [format=pdf]\n"
        "    parsed --> done: finish\n"
        "    done --> [*]\n"
    )
    dot = to_dot(dt)
    assert dot.startswith('digraph "doc" {')
    assert '"new" -> "parsed" [label="parse [format=pdf]"];' in dot
    assert '"done" [shape=doublecircle];' in dot


@pytest.mark.parametrize(
    ("options", "local"),
    [
        ({}, True),  # the default: short (30 s), no heartbeat
        ({"timeout": timedelta(seconds=30)}, True),
        ({"timeout": timedelta(seconds=31)}, False),  # long work goes through the queue
        ({"heartbeat": timedelta(seconds=5)}, False),  # so does work that heartbeats
        ({"local": False}, False),
        ({"local": True, "timeout": timedelta(minutes=5)}, True),  # forced either way
    ],
)
def test_short_transitions_run_locally_unless_declared_otherwise(
    options: dict[str, object], local: bool
) -> None:
    assert t("parse", "new", "done", **options).runs_locally is local
