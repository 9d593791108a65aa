"""Local runs: consecutive short transitions of a document in one local activity.

Before the ``local-runs`` patch each short transition was its own local activity, and a
document's start (its pipeline's shape and ``running`` row) one more: a three-step
pipeline paid for four activity round trips, four markers in its history and five
workflow activations. Since, the workflow hands the document to one ``docstate.run``
local activity, which begins the document (on its first run), then takes one transition
after another, each with its own timeout, for as long as the next one is short, local
and not held back (a key limit, step mode). Each step still writes its own projection
row as it goes, so readers see progress as before.

What each transition keeps:

* **Its retry policy.** A failed attempt ends the run and comes back as data
  (:class:`RunFailure`); the workflow retries the transition alone as a local activity
  with what the policy has left, after the wait the policy gives for attempt two, or
  sends the document to ``waiting`` when nothing is left.
* **Its timeout.** Each attempt in a run has the transition's own timeout, enforced in
  the worker: an attempt that outlives it fails with its row, like any failed attempt.
  A run takes a transition only while the run's budget (:data:`RUN_BUDGET`) still
  covers that timeout, and only while it has run less than :data:`RUN_SLICE`: the
  workflow hears of signals, queries and updates (pause, cancel, a snapshot) between
  runs, so a run of quick transitions is one activity and slow ones go a run each.
  A draining worker starts no further transition in a run.
* **Pause, step and cancel.** A cancel stops the run's activity at once, like a single
  transition's; as the run then never reports, the document is recorded cancelled in
  the state the run started from, after the rows of the steps it took (they stay in its
  history). A pause lands when the run ends, between two transitions as before but
  after the run's last one; step mode runs one transition at a time.
"""

from __future__ import annotations

import time
from datetime import timedelta

from pydantic import BaseModel, Field
from temporalio import activity
from temporalio.exceptions import ApplicationError

from docstate.document import Document
from docstate.engine.failures import describe
from docstate.engine.lean import StepOutput, outcome
from docstate.engine.limits import key_limit
from docstate.engine.support import WorkflowActivities
from docstate.engine.transitions import TransitionActivities
from docstate.model import PipelineSpec, TransitionSpec
from docstate.observability.attempts import observed
from docstate.observability.tracing import traced_attempt
from docstate.projection.records import ProjectionWrite
from docstate.protocol import TransitionInput

RUNS_PATCH = "local-runs-v1"
"""Documents started before it ran each short transition as its own local activity."""
RUN_ACTIVITY = "docstate.run"
RUN_TIMEOUT = timedelta(minutes=2)
"""Start-to-close timeout of a run's activity: its budget and a margin for its writes."""
RUN_BUDGET = timedelta(seconds=90)
"""A run takes a transition only if the time it has run plus that transition's timeout
stays within it: with :data:`RUN_TIMEOUT`, no attempt outlives the run's activity."""
RUN_SLICE = timedelta(seconds=2)
"""A run that has run this long takes no further transition: while it runs, its
workflow's task is held open, so signals, queries and updates to the document wait."""


class RunInput(BaseModel):
    """Input of a local run: the document as the workflow holds it."""

    document: Document
    spec: PipelineSpec | None = None
    """The pipeline as the workflow knows it; ``None`` when the run begins the document
    (the activity then reads the shape, as ``docstate.begin`` did)."""
    begin: ProjectionWrite | None = None
    """The ``running`` row to write first, when the run begins the document."""
    step: int
    """Step number of the run's first transition; the next ones follow it."""
    max_steps: int = Field(ge=0)
    workflow_id: str
    run_id: str


class RunFailure(BaseModel):
    """The attempt a run ended with: its transition failed once."""

    transition: str
    error: str
    """One line, as the workflow would describe the activity's failure."""
    retryable: bool
    """Whether the transition's retry policy allows another attempt."""


class RunOutput(BaseModel):
    """What a local run did: the shape (when it began the document), each transition
    that succeeded, in order, and the failed attempt it ended with, if any."""

    spec: PipelineSpec | None = None
    steps: list[StepOutput] = Field(default_factory=list)
    failure: RunFailure | None = None


def runs_together(spec: PipelineSpec, transition: TransitionSpec, document: Document) -> bool:
    """Whether ``transition`` may be taken inside a local run (workflow and activity
    ask the same): short and local, within a run's budget, and its document's key has no
    limit (a limited key holds a slot per transition, taken by the workflow)."""
    if not transition.runs_locally or transition.timeout > RUN_BUDGET:
        return False
    return key_limit(spec, document)[1] is None


def describe_attempt(err: BaseException) -> str:
    """A failed attempt in one line, as :func:`describe` puts the same failure when
    Temporal reports it (which turns a plain exception into an ``ApplicationError`` of
    its class name, and a timeout into its own ``TimeoutError``)."""
    if isinstance(err, ApplicationError):
        return describe(err)
    if isinstance(err, TimeoutError):
        return "timed out (start_to_close timeout)"
    return f"{type(err).__name__}: {err}"


def retryable(err: BaseException, transition: TransitionSpec) -> bool:
    """Whether Temporal would try ``transition`` again after ``err`` on its first attempt."""
    if isinstance(err, ApplicationError) and err.non_retryable:
        return False
    kind = err.type if isinstance(err, ApplicationError) and err.type else type(err).__name__
    return kind not in transition.retry.non_retryable and transition.retry.max_attempts != 1


class LocalRuns:
    """The ``docstate.run`` local activity (see the module docstring).

    Args:
        transitions: Runs one attempt of a transition and writes its row.
        own: Reads pipeline shapes and writes a beginning document's ``running`` row.
    """

    def __init__(self, transitions: TransitionActivities, own: WorkflowActivities) -> None:
        self.transitions = transitions
        self.own = own

    @activity.defn(name=RUN_ACTIVITY)
    async def run(self, input: RunInput) -> RunOutput:
        """Begin the document if asked, then take transitions until one is not for a
        run, fails, derives documents, or the run is full."""
        document, spec, output = input.document, input.spec, RunOutput()
        if input.begin is not None or spec is None:
            spec = output.spec = await self.own.start(document.type)
        if input.begin is not None:
            await self.own.record(input.begin.model_copy(update={"state": spec.initial}))
            document = document.model_copy(update={"state": spec.initial})
        declared = {t.name: t for t in self.transitions.registry.get(document.type).transitions}
        started = time.monotonic()
        while len(output.steps) < input.max_steps:
            transition = spec.next_transition(document.state, document.metadata)
            elapsed = time.monotonic() - started
            if (
                transition is None
                or not runs_together(spec, transition, document)
                or (output.steps and elapsed >= RUN_SLICE.total_seconds())
                or elapsed + transition.timeout.total_seconds() > RUN_BUDGET.total_seconds()
                or transition.name not in declared  # another version: one at a time
                or activity.is_worker_shutdown()  # draining: the workflow goes on elsewhere
            ):
                break
            step = self._input(input, spec, transition, document, len(output.steps))
            try:
                name = spec.activity_name(transition)
                with traced_attempt(name, document.id), observed(spec.name, transition.name):
                    # attempt 1 of each: the run's activity may be on a later attempt
                    # only when its begin failed, before any transition ran
                    result = await self.transitions.run(
                        declared[transition.name], step, 1, transition.timeout
                    )
            except Exception as err:  # one attempt failed: the workflow decides what next
                output.failure = RunFailure(
                    transition=transition.name,
                    error=describe_attempt(err),
                    retryable=retryable(err, transition),
                )
                break
            assert isinstance(result, StepOutput)  # step.lean
            output.steps.append(result)
            # Derived documents: the workflow runs them before going on. A row not
            # written (the database is down): the workflow writes it before a later
            # step's row lands, which would make it stale.
            if result.derived is not None or not result.projected:
                break
            document, _ = outcome(
                document, result, workflow_id=input.workflow_id, run_id=input.run_id
            )
        return output

    @staticmethod
    def _input(
        run: RunInput, spec: PipelineSpec, transition: TransitionSpec, document: Document, i: int
    ) -> TransitionInput:
        return TransitionInput(
            document=document,
            spec_name=spec.name,
            transition=transition.name,
            target=transition.target,
            target_is_final=spec.is_final(transition.target),
            step=run.step + i,
            workflow_id=run.workflow_id,
            run_id=run.run_id,
            lean=True,
        )
