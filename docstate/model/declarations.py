"""The declarations a pipeline is made of: states, transitions, policies, its shape.

A :class:`~docstate.DocumentType` is a validated state machine. Its *shape* (:class:`PipelineSpec`:
states, transition names, rules, retry policies, timeouts) is plain data that travels
to the workflow; the transition functions stay in the worker's activities.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from docstate.errors import PipelineDefinitionError

JSONScalar = str | int | float | bool | None

# A transition declared to finish within this (and with no heartbeat) runs as a local
# activity unless it says otherwise: short work needs no round trip through the server.
# Longer work goes through the task queue, where a long run does not hold the workflow
# task open (signals, updates and queries would wait for it).
LOCAL_TIMEOUT_LIMIT = timedelta(seconds=30)


def _declaration_error(owner: str, err: ValidationError) -> PipelineDefinitionError:
    problems = [
        f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in err.errors()
    ]
    return PipelineDefinitionError(owner, problems)


class _Declaration(BaseModel):
    """Base of the declarative models: bad arguments raise PipelineDefinitionError."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as err:
            owner = str(data.get("name", type(self).__name__))
            raise _declaration_error(owner, err) from None


class Retry(_Declaration):
    """How a transition is retried: Temporal's retry policy, with document defaults.

    Attributes:
        initial_interval: Wait before the first retry.
        backoff: Multiplier applied to the wait after each retry.
        max_interval: Upper bound of the wait.
        max_attempts: Attempts before the document goes to ``waiting`` (0 = unlimited).
        non_retryable: Exception class names that are never retried.
    """

    initial_interval: timedelta = timedelta(seconds=1)
    backoff: float = Field(default=2.0, ge=1.0)
    max_interval: timedelta = timedelta(seconds=60)
    max_attempts: int = Field(default=3, ge=0)
    non_retryable: tuple[str, ...] = ()


class FanOut(_Declaration):
    """How a transition's derived documents run: each as a child workflow.

    Attributes:
        window: Children running at once, per parent (a sliding window: as one ends the
            next starts). Keeps far below Temporal's 2,000 pending children per workflow.
        wait: Whether the parent waits for its children before its next step.
        on_child_failure: ``"continue"`` records failed children in the parent's metadata
            and goes on; ``"fail"`` fails the parent once the others have run.
    """

    window: int = Field(default=50, ge=1, le=1000)
    wait: bool = True
    on_child_failure: Literal["continue", "fail"] = "continue"


class State(_Declaration):
    """A named step of a pipeline."""

    name: str
    initial: bool = False
    final: bool = False

    def __init__(self, name: str | None = None, /, **data: Any) -> None:
        # Positional name for people (State("parsed")); keyword for pydantic's validation.
        super().__init__(**({"name": name} if name is not None else {}), **data)


class TransitionSpec(_Declaration):
    """The shape of a transition: everything but its function.

    Attributes:
        name: Name of the transition; the activity type is ``<type>.<name>``.
        source: State it leaves.
        target: State it enters.
        when: Metadata values that must all match for this transition to be chosen when
            several leave the same state; at most one of them may omit it (the default).
        retry: Retry policy of the activity.
        timeout: Start-to-close timeout of one attempt.
        heartbeat: Heartbeat timeout. With it, the engine heartbeats while the function
            runs, so cancellation reaches a long transition promptly.
        skippable: Whether an operator may ``skip`` this transition when it fails.
        fan_out: How the documents this transition derives run.
        local: How the activity runs. ``None`` (the default) decides from the
            declaration: a short transition (``timeout`` at most 30 s, no ``heartbeat``)
            runs as a Temporal *local activity*, in the worker that runs the document's
            workflow, with no round trip through the server; a longer one (or one that
            heartbeats) runs as a task-queue activity that any worker may pick up.
            ``True`` or ``False`` forces either. Retries, timeouts, the activity's name,
            history and projection are the same both ways; a local activity cannot
            heartbeat, and signals reach the workflow between its attempts.
    """

    name: str
    source: str
    target: str
    when: dict[str, JSONScalar] | None = None
    retry: Retry = Retry()
    timeout: timedelta = LOCAL_TIMEOUT_LIMIT
    heartbeat: timedelta | None = None
    skippable: bool = False
    fan_out: FanOut = FanOut()
    local: bool | None = None
    rate_limit: float | None = Field(default=None, gt=0)

    @property
    def runs_locally(self) -> bool:
        """Whether this transition runs as a local activity (see ``local``)."""
        if self.local is not None:
            return self.local
        # The server limits a task queue's rate; a local activity never passes through one.
        return (
            self.rate_limit is None
            and self.heartbeat is None
            and self.timeout <= LOCAL_TIMEOUT_LIMIT
        )

    def matches(self, metadata: Mapping[str, Any]) -> bool:
        """Whether this transition's ``when`` rule holds for ``metadata``."""
        return self.when is None or all(metadata.get(k) == v for k, v in self.when.items())


TransitionFunction = Callable[..., Any]


class Transition(TransitionSpec):
    """A transition with its function.

    The function takes a :class:`~docstate.Document` and returns the updated document
    (or ``None`` for "unchanged"). It may be ``async``; a plain function runs in a
    thread so that CPU-bound work does not stall the worker.
    """

    run: TransitionFunction = Field(exclude=True)


SlotCount = Annotated[int, Field(ge=1)]
"""A key's limit: at least one transition at once."""


class KeyLimits(_Declaration):
    """How many transitions of one fairness key may run at once, across all workers.

    Attributes:
        default: The limit of every key not named in ``per_key`` (``None``: unlimited).
        per_key: Limits of particular keys.
    """

    default: SlotCount | None = None
    per_key: dict[str, SlotCount] = Field(default_factory=dict)

    def of(self, key: str) -> int | None:
        """The limit of ``key`` (``None``: unlimited)."""
        return self.per_key.get(key, self.default)

    @property
    def any(self) -> bool:
        """Whether any key is limited."""
        return self.default is not None or bool(self.per_key)


class PipelineSpec(_Declaration):
    """The serialisable shape of a pipeline, as the workflow sees it.

    ``key_limits`` are not the pipeline's: the worker that hands the shape to a document's
    workflow adds its settings' (see :class:`KeyLimits`), so they stay in the document's
    history and replay exactly.
    """

    name: str
    states: tuple[State, ...]
    transitions: tuple[TransitionSpec, ...]
    waiting_deadline: timedelta | None = None
    key_limits: KeyLimits | None = None

    @property
    def initial(self) -> str:
        return next(s.name for s in self.states if s.initial)

    def is_final(self, state: str) -> bool:
        return any(s.name == state and s.final for s in self.states)

    def outgoing(self, state: str) -> list[TransitionSpec]:
        return [t for t in self.transitions if t.source == state]

    def next_transition(self, state: str, metadata: Mapping[str, Any]) -> TransitionSpec | None:
        """The transition to take from ``state``: a matching rule first, then the default."""
        candidates = self.outgoing(state)
        ruled = [t for t in candidates if t.when is not None and t.matches(metadata)]
        if ruled:
            return ruled[0]
        return next((t for t in candidates if t.when is None), None)

    def transition(self, name: str) -> TransitionSpec:
        return next(t for t in self.transitions if t.name == name)

    def activity_name(self, transition: TransitionSpec) -> str:
        """Activity type of a transition: reads like the pipeline in the web UI."""
        return f"{self.name}.{transition.name}"
