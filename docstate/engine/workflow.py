"""The document workflow: one per document, walking it through its pipeline.

Each state is a step; each transition one activity attempt with the transition's own
retry policy and timeouts (consecutive short ones share a local activity, a local run:
see :mod:`docstate.engine.runs`). When a transition fails for good the document does not
die: it waits (status ``waiting``) for a person to ``retry``, ``skip`` or ``cancel`` it.

The workflow sees only the pipeline's shape (a ``PipelineSpec``, read once at its start
by a local activity so it is recorded in history and replays exactly); transition
functions and their imports stay in the activities.
"""

from __future__ import annotations

import asyncio
from typing import Any, NoReturn

from temporalio import workflow
from temporalio.exceptions import ApplicationError, FailureError, is_cancelled_exception

from docstate.document import Status
from docstate.engine.calls import start_transition
from docstate.engine.controls import DocumentControls
from docstate.engine.failures import (
    describe,
)
from docstate.engine.fanout import FanOutRun
from docstate.engine.lean import LEAN_PATCH, StepOutput, outcome, without_content
from docstate.engine.limits import KeyLimiting
from docstate.engine.notify import DocumentNotifying
from docstate.engine.recording import VISIBILITY_PATCH
from docstate.engine.running import LocalRunning
from docstate.engine.runs import RUNS_PATCH, RunFailure, runs_together
from docstate.model import PipelineSpec, TransitionSpec
from docstate.projection.records import EventRecord
from docstate.protocol import (
    HISTORY_KEPT,
    LOCAL_STEPS_PER_RUN,
    WORKFLOW_NAME,
    Action,
    Carry,
    DocumentWorkflowInput,
    FanOutCursor,
    Snapshot,
    TransitionInput,
    TransitionOutput,
)


# Not sandboxed: the sandbox re-creates modules and proxies builtins on every activation
# (measured: a third of the worker's CPU per document). It guards against hidden
# non-determinism in user code, and user code never runs here: the engine sees only the
# pipeline's shape. So replay is the determinism guard: tests/test_replay.py replays
# recorded histories of every path against this code.
@workflow.defn(name=WORKFLOW_NAME, sandboxed=False)
class DocumentWorkflow(DocumentControls, DocumentNotifying, LocalRunning, KeyLimiting):
    """Runs one document through its pipeline; see the module docstring."""

    @workflow.init
    def __init__(self, input: DocumentWorkflowInput) -> None:
        carry = input.carry
        self._doc = input.document
        self._spec: PipelineSpec | None = carry.spec if carry else None
        self._state = carry.state if carry else ""
        self._status = carry.status if carry else Status.PENDING
        self._step = carry.step if carry else 0
        self._history: list[EventRecord] = list(carry.history) if carry else []
        self._paused = self._status is Status.PAUSED or input.hold
        self._pause_after_step = False
        self._error: str | None = None
        self._transition: str | None = None
        self._cancel_requested = False
        self._decision: Action | None = None
        self._activity: workflow.ActivityHandle[Any] | None = None
        self._fanning: FanOutRun | None = None
        self._published: tuple[str, str] | None = None
        self._runs_locally = False  # set by run(), as is the next: patched() is workflow code
        self._shown_at_waits = False
        self._local_steps = 0  # local transitions run in this run

    @workflow.run
    async def run(self, input: DocumentWorkflowInput) -> Snapshot:
        try:
            # The newest path implies the older ones: a new document records one marker.
            self._runs_locally = workflow.patched(RUNS_PATCH)
            self._shown_at_waits = self._runs_locally or workflow.patched(VISIBILITY_PATCH)
            spec = self._spec or await self._start()
            if input.carry and input.carry.fan_out:
                cursor = input.carry.fan_out
                await self._fan_out(spec, spec.transition(cursor.transition), cursor)
            while not spec.is_final(self._state) and not self._cancel_requested:
                if self._paused:
                    await self._hold()
                    continue
                if (
                    workflow.info().is_continue_as_new_suggested()
                    or self._local_steps >= LOCAL_STEPS_PER_RUN
                ):
                    self._continue_as_new(spec)
                transition = spec.next_transition(self._state, self._doc.metadata)
                if transition is None:
                    await self._fail(
                        f"no transition out of state {self._state!r} matches metadata "
                        f"{self._doc.metadata}",
                        "NoTransition",
                    )
                if self._runs_locally and runs_together(spec, transition, self._doc):
                    await self._run_locally(spec, transition)
                else:
                    await self._advance(spec, transition)
                if self._pause_after_step:  # step mode: hold again after one transition
                    self._paused, self._pause_after_step = True, False
            if self._cancel_requested:
                await self._record(Status.CANCELLED, error="cancelled on request")
            await self._notify()
            # The result stays small: a parent's history holds every child's result.
            return self.snapshot().model_copy(update={"history": [], "document": None})
        except (asyncio.CancelledError, FailureError) as err:
            if not self._cancelled_in_temporal(err):
                raise
            # Cancelled from Temporal (client, CLI, web UI): the running activity has been
            # cancelled with us; record it, then end the workflow as cancelled.
            await self._record(Status.CANCELLED, error="cancelled")
            await self._notify()
            raise

    @staticmethod
    def _cancelled_in_temporal(err: BaseException) -> bool:
        return is_cancelled_exception(err) and workflow.cancellation_reason() is not None

    # --- steps -----------------------------------------------------------------------

    async def _advance(
        self, spec: PipelineSpec, transition: TransitionSpec, failed: RunFailure | None = None
    ) -> None:
        """Run ``transition`` until it succeeds or is skipped (or the document cancelled).

        ``failed``: its first attempt, which failed in a local run; the policy's rest
        follows, or, when nothing is left of it, the wait for a decision.
        """
        while True:
            self._transition = transition.name
            if failed is not None and not failed.retryable:
                error = failed.error
            else:
                self._step += 1
                try:
                    output = await self._run_activity(spec, transition, failed)
                # A local activity's failure arrives unwrapped (not as an ActivityError).
                except (FailureError, asyncio.CancelledError) as err:
                    if self._cancelled_in_temporal(err):
                        raise  # handled in run()
                    if self._cancel_requested:
                        return
                    error = describe(err)
                else:
                    await self._took(spec, transition, output)
                    return
            failed = None
            decision = await self._wait_for_decision(spec, transition, error)
            if decision is Action.RETRY:
                continue
            if decision is Action.SKIP:
                self._enter(transition.target)
                await self._record(
                    self._running_or_done(spec),
                    transition=transition.name,
                    from_state=transition.source,
                    error="skipped on request",
                )
            return

    async def _took(
        self, spec: PipelineSpec, transition: TransitionSpec, output: TransitionOutput | StepOutput
    ) -> None:
        """``transition`` succeeded: its result applied, written when its activity could
        not, and the documents it derived run."""
        info = workflow.info()
        self._doc, write = outcome(
            self._doc, output, workflow_id=info.workflow_id, run_id=info.run_id
        )
        self._state = transition.target
        self._apply(write)
        if not output.projected:
            await self._write(write)
        if output.derived is not None:
            cursor = FanOutCursor(
                transition=transition.name,
                manifest=output.derived,
                count=output.derived_count,
            )
            await self._fan_out(spec, transition, cursor)

    async def _run_activity(
        self, spec: PipelineSpec, transition: TransitionSpec, failed: RunFailure | None
    ) -> TransitionOutput | StepOutput:
        info = workflow.info()
        lean = self._shown_at_waits or workflow.patched(LEAN_PATCH)
        document = self._doc
        if lean and not transition.runs_locally:
            # A queued activity's input is recorded in history; a local one's is not, so
            # small content still inline reaches a first local transition for free.
            document = without_content(document)
        input = TransitionInput(
            document=document,
            spec_name=spec.name,
            transition=transition.name,
            target=transition.target,
            target_is_final=spec.is_final(transition.target),
            step=self._step,
            workflow_id=info.workflow_id,
            run_id=info.run_id,
            lean=lean,
            attempts_before=1 if failed else 0,
        )
        if failed is not None:  # the wait before attempt two, as the policy gives it
            await workflow.sleep(transition.retry.initial_interval)
            if self._cancel_requested:
                raise asyncio.CancelledError("cancelled on request")
        if transition.runs_locally:
            self._local_steps += 1
        else:
            self._show()  # a task-queue activity: the document may be in it a while
        lease = await self._take_slot(spec)  # None: the document's key has no limit
        self._activity = start_transition(spec, transition, input, input.attempts_before)
        try:
            result: TransitionOutput | StepOutput = await self._holding(lease, self._activity)
            return result
        finally:
            self._activity = None
            await self._give_back(lease)

    async def _fan_out(
        self, spec: PipelineSpec, transition: TransitionSpec, cursor: FanOutCursor
    ) -> None:
        """Run the derived documents (see :class:`FanOutRun`); continue as new midway
        when Temporal suggests it, and record the outcome once all have run."""
        self._fanning = FanOutRun(self._doc, transition.fan_out, cursor)
        self._show()
        try:
            await self._fanning.run(stopped=lambda: self._cancel_requested)
        finally:
            self._fanning = None
        if self._cancel_requested:
            return
        if cursor.offset < cursor.count:
            self._continue_as_new(spec, fan_out=cursor)
        await self._children_done(spec, transition, cursor)

    async def _children_done(
        self, spec: PipelineSpec, transition: TransitionSpec, cursor: FanOutCursor
    ) -> None:
        if cursor.failed:
            summary = (
                f"{cursor.failed} of {cursor.count} derived documents failed, "
                f"first: {cursor.first_failure}"
            )
            if transition.fan_out.on_child_failure == "fail":
                await self._fail(summary, "DerivedDocumentsFailed")
            self._doc = self._doc.model_copy(
                update={"metadata": {**self._doc.metadata, "derived_failed": cursor.failed}}
            )
            await self._record(
                self._running_or_done(spec), transition=transition.name, error=summary
            )
        elif spec.is_final(self._state) and transition.fan_out.wait:
            await self._record(Status.COMPLETED, transition=transition.name)

    async def _wait_for_decision(
        self, spec: PipelineSpec, transition: TransitionSpec, error: str
    ) -> Action | None:
        """Park the document in ``waiting`` until retry, skip or cancel (or the deadline)."""
        await self._record(
            Status.WAITING, transition=transition.name, from_state=self._state, error=error
        )
        self._decision = None
        self._show()
        try:
            await workflow.wait_condition(
                lambda: self._decision is not None or self._cancel_requested,
                timeout=spec.waiting_deadline,
            )
        except TimeoutError:
            await self._fail(
                f"waited {spec.waiting_deadline} for retry, skip or cancel after: {error}",
                "WaitingDeadlineExceeded",
            )
        decision, self._decision = self._decision, None
        if decision is Action.RETRY and not self._cancel_requested:
            await self._record(Status.RUNNING, transition=transition.name, error="retry requested")
        return decision

    async def _hold(self) -> None:
        await self._record(Status.PAUSED)
        self._show()
        await workflow.wait_condition(lambda: not self._paused or self._cancel_requested)
        if not self._cancel_requested:
            await self._record(Status.RUNNING)

    async def _fail(self, error: str, kind: str) -> NoReturn:
        await self._record(Status.FAILED, error=error)
        await self._notify()
        raise ApplicationError(error, type=kind, non_retryable=True)

    def _continue_as_new(self, spec: PipelineSpec, fan_out: FanOutCursor | None = None) -> NoReturn:
        self._show()
        carry = Carry(
            spec=spec,
            state=self._state,
            status=self._status,
            step=self._step,
            history=self._history[-HISTORY_KEPT:],
            fan_out=fan_out,
        )
        workflow.continue_as_new(DocumentWorkflowInput(document=self._doc, carry=carry))

    def _enter(self, state: str) -> None:
        """Move to ``state`` without running a transition (start, skip)."""
        self._state = state
        self._doc = self._doc.model_copy(update={"state": state})

    def _running_or_done(self, spec: PipelineSpec) -> Status:
        return Status.COMPLETED if spec.is_final(self._state) else Status.RUNNING
