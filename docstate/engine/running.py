"""How the document workflow begins a document, and its side of local runs (see
:mod:`docstate.engine.runs`).

A run's activity writes each step's row as it goes; the workflow learns of the steps
when the run returns and applies them in order, as it applies a single transition's
result. Should the run's activity itself fail or be cancelled (not one of its attempts:
those come back as data), the workflow cannot know how far it got, so it moves its step
counter past every step the run could have taken: its own later writes still outrank
whatever the run wrote.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, NoReturn

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import FailureError

from docstate.document import Status
from docstate.engine.failures import RECORD_RETRY, RECORD_TIMEOUT, START_RETRY, describe
from docstate.engine.lean import StepOutput
from docstate.engine.recording import DocumentRecording
from docstate.engine.runs import RUN_ACTIVITY, RUN_TIMEOUT, RunFailure, RunInput, RunOutput
from docstate.model import PipelineSpec, TransitionSpec
from docstate.projection.records import ProjectionWrite
from docstate.protocol import BEGIN_ACTIVITY, BEGIN_PATCH, LOCAL_STEPS_PER_RUN, START_ACTIVITY

ONE_ATTEMPT = RetryPolicy(maximum_attempts=1)
"""A run that fails as a whole is not run again: its transitions go one at a time."""


class LocalRunning(DocumentRecording):
    """The start and the local runs of :class:`~docstate.engine.DocumentWorkflow`.

    It reads and sets the workflow's state, declared here and kept by the workflow.
    """

    _spec: PipelineSpec | None
    _runs_locally: bool
    _shown_at_waits: bool
    _paused: bool
    _pause_after_step: bool
    _cancel_requested: bool
    _local_steps: int
    _transition: str | None
    _activity: workflow.ActivityHandle[Any] | None

    async def _start(self) -> PipelineSpec:
        if self._runs_locally:
            return await self._begin_and_run()
        # Documents on the VISIBILITY_PATCH path began this way too: one marker, not two.
        if self._shown_at_waits or workflow.patched(BEGIN_PATCH):
            return await self._begin()
        spec = await self._fetch_spec(
            START_ACTIVITY, self._doc.type, timedelta(seconds=10), START_RETRY
        )
        self._enter(spec.initial)
        await self._record(Status.RUNNING)
        return spec

    async def _begin(self) -> PipelineSpec:
        """The pipeline's shape and the document's ``running`` row, in one local activity.

        The row's state is the pipeline's initial state, which only the shape tells:
        the activity sets it, and so does this workflow once the shape is back.
        """
        running = self._status_write(Status.RUNNING)
        # Retried like any status write (a database outage waits); an unknown type is not.
        spec = await self._fetch_spec(BEGIN_ACTIVITY, running, RECORD_TIMEOUT, RECORD_RETRY)
        self._enter(spec.initial)
        self._apply(running.model_copy(update={"state": spec.initial}))
        return spec

    async def _fetch_spec(
        self, activity: str, arg: object, timeout: timedelta, retry: RetryPolicy
    ) -> PipelineSpec:
        try:
            spec: PipelineSpec = await workflow.execute_local_activity(
                activity,
                arg,
                result_type=PipelineSpec,
                start_to_close_timeout=timeout,
                retry_policy=retry,
            )
        except FailureError as err:  # a local activity's failure arrives unwrapped
            if self._cancelled_in_temporal(err):
                raise  # cancelled before it began: handled in run()
            await self._fail(describe(err), "UnknownDocumentType")
        self._spec = spec
        return spec

    async def _begin_and_run(self) -> PipelineSpec:
        """The document's start (its pipeline's shape and ``running`` row) and, unless
        it is held, its first local run, in one local activity."""
        running = self._status_write(Status.RUNNING)
        run = self._run_input(begin=running)
        try:
            # Retried like a status write: a database outage waits, an unknown type not.
            output = await self._local_run(run, RECORD_RETRY)
        except (FailureError, asyncio.CancelledError) as err:
            self._passed(run)
            in_temporal = self._cancelled_in_temporal(err)
            if not in_temporal and not self._cancel_requested:
                await self._fail(describe(err), "UnknownDocumentType")
            # Cancelled mid-run: the shape alone, so the cancel is recorded in the
            # document's initial state.
            shape = await self._shape()
            if in_temporal:
                self._enter(shape.initial)
                raise  # handled in run()
            output = RunOutput(spec=shape)
        assert output.spec is not None  # a run that begins a document reads its shape
        spec = self._spec = output.spec
        self._enter(spec.initial)
        self._apply(running.model_copy(update={"state": spec.initial}))
        await self._took_run(spec, output)
        return spec

    async def _run_locally(self, spec: PipelineSpec, transition: TransitionSpec) -> None:
        """``transition`` and the short ones after it, in one local activity."""
        run = self._run_input(spec=spec)
        try:
            output = await self._local_run(run, ONE_ATTEMPT)
        except (FailureError, asyncio.CancelledError) as err:
            self._passed(run)
            if self._cancelled_in_temporal(err):
                raise  # handled in run()
            if not self._cancel_requested:
                workflow.logger.warning(
                    "%s: local run failed (%s); its transitions go one at a time",
                    self._doc.id,
                    describe(err),
                )
                await self._advance(spec, transition)
            return
        if not output.steps and output.failure is None:
            # The activity's worker judged otherwise (another version): go one at a time.
            await self._advance(spec, transition)
            return
        await self._took_run(spec, output)

    def _passed(self, run: RunInput) -> None:
        """A run ended without telling what it did: later rows go after any it wrote
        (see the module docstring)."""
        self._step = run.step - 1 + run.max_steps

    def _run_input(
        self, *, spec: PipelineSpec | None = None, begin: ProjectionWrite | None = None
    ) -> RunInput:
        if self._paused or self._cancel_requested:
            steps = 0
        elif self._pause_after_step:  # step mode: one transition, then hold
            steps = 1
        else:
            steps = LOCAL_STEPS_PER_RUN - self._local_steps
        info = workflow.info()
        return RunInput(
            document=self._doc,
            spec=spec,
            begin=begin,
            step=self._step + 1,
            max_steps=steps,
            workflow_id=info.workflow_id,
            run_id=info.run_id,
        )

    async def _local_run(self, run: RunInput, retry: RetryPolicy) -> RunOutput:
        state = self._doc.state or "the start"
        self._activity = workflow.start_local_activity(
            RUN_ACTIVITY,
            run,
            result_type=RunOutput,
            start_to_close_timeout=RUN_TIMEOUT,
            retry_policy=retry,
            summary=f"{self._doc.id}: local run from {state}",
        )
        try:
            output: RunOutput = await self._activity
            return output
        finally:
            self._activity = None

    async def _took_run(self, spec: PipelineSpec, output: RunOutput) -> None:
        """Apply a run's steps in order, then retry the transition it failed on (with
        what its policy has left) or send the document to ``waiting``."""
        for step in output.steps:
            transition = spec.transition(step.event.transition or "")
            self._step += 1
            self._local_steps += 1
            self._transition = transition.name
            await self._took(spec, transition, step)
        if output.failure is not None:
            self._step += 1  # the failed attempt's row
            self._local_steps += 1
            await self._advance(spec, spec.transition(output.failure.transition), output.failure)

    async def _shape(self) -> PipelineSpec:
        return await self._fetch_spec(
            START_ACTIVITY, self._doc.type, timedelta(seconds=10), START_RETRY
        )

    # --- the workflow's (declared for the type checker) -------------------------------

    async def _advance(
        self, spec: PipelineSpec, transition: TransitionSpec, failed: RunFailure | None = None
    ) -> None:
        raise NotImplementedError

    async def _took(
        self, spec: PipelineSpec, transition: TransitionSpec, output: StepOutput
    ) -> None:
        raise NotImplementedError

    async def _fail(self, error: str, kind: str) -> NoReturn:
        raise NotImplementedError

    def _enter(self, state: str) -> None:
        raise NotImplementedError

    @staticmethod
    def _cancelled_in_temporal(err: BaseException) -> bool:
        raise NotImplementedError
