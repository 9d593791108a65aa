"""How the document workflow calls a transition: a local or a task-queue activity.

Both ways the activity is named ``<type>.<transition>`` and carries the transition's
retry policy and timeouts; see :attr:`~docstate.model.TransitionSpec.runs_locally`. A
rate-limited transition goes to its own task queue (see :mod:`docstate.engine.limits`).
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow

from docstate.engine.failures import retry_policy
from docstate.engine.lean import StepOutput
from docstate.engine.limits import transition_queue
from docstate.model import PipelineSpec, TransitionSpec
from docstate.protocol import TransitionInput, TransitionOutput

STEP_RESULT: Any = TransitionOutput | StepOutput
"""What a transition's result decodes as: either shape, since during a rolling upgrade an
older worker may answer a lean step in full (the workflow takes both, see
:func:`docstate.engine.lean.outcome`)."""


def start_transition(
    spec: PipelineSpec, transition: TransitionSpec, input: TransitionInput, used: int = 0
) -> workflow.ActivityHandle[TransitionOutput | StepOutput]:
    """Start one run of ``transition`` on ``input.document`` (workflow code), with what
    its retry policy has left after ``used`` attempts."""
    name = spec.activity_name(transition)
    summary = f"{input.document.id}: {transition.source} -> {transition.target}"
    if transition.runs_locally:
        return workflow.start_local_activity(
            name,
            input,
            result_type=STEP_RESULT,
            start_to_close_timeout=transition.timeout,
            retry_policy=retry_policy(transition.retry, used),
            summary=summary,
        )
    return workflow.start_activity(
        name,
        input,
        result_type=STEP_RESULT,
        task_queue=transition_queue(transition, name),  # None: the workflow's own
        start_to_close_timeout=transition.timeout,
        heartbeat_timeout=transition.heartbeat,
        retry_policy=retry_policy(transition.retry, used),
        # With heartbeats the activity learns of cancellation: wait for it to stop.
        cancellation_type=(
            workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED
            if transition.heartbeat
            else workflow.ActivityCancellationType.TRY_CANCEL
        ),
        summary=summary,
    )
