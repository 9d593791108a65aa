"""Render a pipeline's state machine as Mermaid or Graphviz DOT."""

from __future__ import annotations

from docstate.model import PipelineSpec, TransitionSpec


def _label(t: TransitionSpec) -> str:
    if not t.when:
        return t.name
    rule = ", ".join(f"{k}={v}" for k, v in t.when.items())
    return f"{t.name} [{rule}]"


def to_mermaid(spec: PipelineSpec) -> str:
    """A Mermaid ``stateDiagram-v2`` of ``spec``."""
    lines = ["stateDiagram-v2", f"    [*] --> {spec.initial}"]
    lines += [f"    {t.source} --> {t.target}: {_label(t)}" for t in spec.transitions]
    lines += [f"    {s.name} --> [*]" for s in spec.states if s.final]
    return "\n".join(lines) + "\n"


def to_dot(spec: PipelineSpec) -> str:
    """A Graphviz DOT digraph of ``spec``; final states are drawn double-circled."""
    lines = [f'digraph "{spec.name}" {{', "    rankdir=LR;"]
    for s in spec.states:
        shape = "doublecircle" if s.final else "circle"
        style = ', style="bold"' if s.initial else ""
        lines.append(f'    "{s.name}" [shape={shape}{style}];')
    for t in spec.transitions:
        lines.append(f'    "{t.source}" -> "{t.target}" [label="{_label(t)}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"
