"""``DocumentType``: a pipeline's declarations, validated, with their functions."""

from __future__ import annotations

from typing import Any

from pydantic import field_validator

from docstate.errors import PipelineDefinitionError
from docstate.model.declarations import PipelineSpec, State, Transition, TransitionFunction
from docstate.model.validation import find_problems


class DocumentType(PipelineSpec):
    """A named, validated state machine with its transition functions.

    Example:
        >>> notes = DocumentType(
        ...     name="note",
        ...     states=[State("new", initial=True), State("done", final=True)],
        ...     transitions=[Transition(name="finish", source="new", target="done",
        ...                             run=lambda doc: doc)],
        ... )

    Raises:
        PipelineDefinitionError: listing every problem found, when the definition is not
            a valid state machine.
    """

    transitions: tuple[Transition, ...]

    @field_validator("states", mode="before")
    @classmethod
    def _states_from_names(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return tuple(State(v) if isinstance(v, str) else v for v in value)
        return value

    def model_post_init(self, context: Any, /) -> None:
        problems = find_problems(self)
        if problems:
            raise PipelineDefinitionError(self.name, problems)

    def spec(self) -> PipelineSpec:
        """The shape of this pipeline, without functions: what the workflow receives."""
        return PipelineSpec.model_validate(self.model_dump())

    def function(self, transition: str) -> TransitionFunction:
        return next(t.run for t in self.transitions if t.name == transition)
