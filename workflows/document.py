"""The document workflow: one per document, walking it through its pipeline.

Each state is a step; each transition one activity with the transition's own retry
policy and timeouts. When a transition fails for good the document does not die: it
waits (status ``waiting``) for a person to ``retry``, ``skip`` or ``cancel`` it.

The workflow sees only the pipeline's shape (a ``PipelineSpec``, fetched once by the
``docstate.begin`` local activity so it is recorded in history and replays exactly);
transition functions and their imports stay in the activities.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import NoReturn

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import (
    ApplicationError,
    ChildWorkflowError,
    FailureError,
    WorkflowAlreadyStartedError,
    is_cancelled_exception,
)

with workflow.unsafe.imports_passed_through():
    from docstate.document import ContentRef, Document, Status
    from docstate.model import PipelineSpec, TransitionSpec
    from docstate.projection.records import ProjectionWrite, version_of
    from docstate.protocol import (
        BEGIN_ACTIVITY,
        BEGIN_PATCH,
        CONTROL_UPDATE,
        DERIVED_ACTIVITY,
        DERIVED_PAGE,
        DOC_STATE,
        DOC_STATUS,
        DOC_TYPE,
        HISTORY_KEPT,
        LOCAL_STEPS_PER_RUN,
        RECORD_ACTIVITY,
        SNAPSHOT_QUERY,
        START_ACTIVITY,
        WORKFLOW_NAME,
        Action,
        Carry,
        ControlRequest,
        DerivedPage,
        DocumentWorkflowInput,
        FanOutCursor,
        HistoryEntry,
        Snapshot,
        TransitionInput,
        TransitionOutput,
        workflow_id,
    )
    from workflows.failures import describe, retry_policy

# Projection writes wait out a database outage rather than drop a write.
RECORD_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=0,
)
RECORD_TIMEOUT = timedelta(seconds=30)
START_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=10), maximum_attempts=5)


# Not sandboxed: the sandbox re-creates modules and proxies builtins on every activation
# (measured: a third of the worker's CPU per document). It guards against hidden
# non-determinism in user code, and user code never runs here: this engine module sees
# only the pipeline's shape, and tests/test_replay.py replays recorded histories against it.
@workflow.defn(name=WORKFLOW_NAME, sandboxed=False)
class DocumentWorkflow:
    """Runs one document through its pipeline; see the module docstring."""

    @workflow.init
    def __init__(self, input: DocumentWorkflowInput) -> None:
        carry = input.carry
        self._doc = input.document
        self._spec: PipelineSpec | None = carry.spec if carry else None
        self._state = carry.state if carry else ""
        self._status = carry.status if carry else Status.PENDING
        self._step = carry.step if carry else 0
        self._history: list[HistoryEntry] = list(carry.history) if carry else []
        self._paused = self._status is Status.PAUSED or input.hold
        self._pause_after_step = False
        self._error: str | None = None
        self._transition: str | None = None
        self._cancel_requested = False
        self._decision: Action | None = None
        self._activity: workflow.ActivityHandle[TransitionOutput] | None = None
        self._children: set[asyncio.Task[str | None]] = set()
        self._published: tuple[str, str] | None = None
        self._local_steps = 0  # local transitions run in this run

    @workflow.run
    async def run(self, input: DocumentWorkflowInput) -> Snapshot:
        try:
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
                await self._advance(spec, transition)
                if self._pause_after_step:  # step mode: hold again after one transition
                    self._paused, self._pause_after_step = True, False
            if self._cancel_requested:
                await self._record(Status.CANCELLED, error="cancelled on request")
            # The result stays small: a parent's history holds every child's result.
            return self.snapshot().model_copy(update={"history": [], "document": None})
        except (asyncio.CancelledError, FailureError) as err:
            if not self._cancelled_in_temporal(err):
                raise
            # Cancelled from Temporal (client, CLI, web UI): the running activity has been
            # cancelled with us; record it, then end the workflow as cancelled.
            await self._record(Status.CANCELLED, error="cancelled")
            raise

    @staticmethod
    def _cancelled_in_temporal(err: BaseException) -> bool:
        return is_cancelled_exception(err) and workflow.cancellation_reason() is not None

    # --- steps -----------------------------------------------------------------------

    async def _start(self) -> PipelineSpec:
        if workflow.patched(BEGIN_PATCH):
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

    async def _advance(self, spec: PipelineSpec, transition: TransitionSpec) -> None:
        """Run ``transition`` until it succeeds or is skipped (or the document cancelled)."""
        while True:
            self._step += 1
            self._transition = transition.name
            try:
                output = await self._run_activity(spec, transition)
            # A local activity's failure arrives unwrapped (not as an ActivityError).
            except (FailureError, asyncio.CancelledError) as err:
                if self._cancelled_in_temporal(err):
                    raise  # handled in run()
                if self._cancel_requested:
                    return
                decision = await self._wait_for_decision(spec, transition, describe(err))
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
            self._doc = output.document
            self._state = transition.target
            self._apply(output.write)
            if not output.projected:
                await self._write(output.write)
            if output.derived is not None:
                cursor = FanOutCursor(
                    transition=transition.name,
                    manifest=output.derived,
                    count=output.derived_count,
                )
                await self._fan_out(spec, transition, cursor)
            return

    async def _run_activity(
        self, spec: PipelineSpec, transition: TransitionSpec
    ) -> TransitionOutput:
        info = workflow.info()
        name = spec.activity_name(transition)
        input = TransitionInput(
            document=self._doc,
            spec_name=spec.name,
            transition=transition.name,
            target=transition.target,
            target_is_final=spec.is_final(transition.target),
            step=self._step,
            workflow_id=info.workflow_id,
            run_id=info.run_id,
        )
        summary = f"{self._doc.id}: {transition.source} -> {transition.target}"
        if transition.runs_locally:
            self._local_steps += 1
            self._activity = workflow.start_local_activity(
                name,
                input,
                result_type=TransitionOutput,
                start_to_close_timeout=transition.timeout,
                retry_policy=retry_policy(transition.retry),
                summary=summary,
            )
        else:
            self._activity = workflow.start_activity(
                name,
                input,
                result_type=TransitionOutput,
                start_to_close_timeout=transition.timeout,
                heartbeat_timeout=transition.heartbeat,
                retry_policy=retry_policy(transition.retry),
                # With heartbeats the activity learns of cancellation: wait for it to stop.
                cancellation_type=(
                    workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED
                    if transition.heartbeat
                    else workflow.ActivityCancellationType.TRY_CANCEL
                ),
                summary=summary,
            )
        try:
            return await self._activity
        finally:
            self._activity = None

    async def _fan_out(
        self, spec: PipelineSpec, transition: TransitionSpec, cursor: FanOutCursor
    ) -> None:
        """Run each derived document as a child workflow, ``window`` at a time.

        When Temporal suggests continuing as new, no more children start; once the running
        ones have ended (closing this run would cancel them) the fan-out goes on in a new
        run from where it stopped.
        """
        policy = transition.fan_out
        queue: list[Document] = []
        draining = False
        try:
            while not self._cancel_requested:
                draining = draining or workflow.info().is_continue_as_new_suggested()
                while not draining and cursor.offset < cursor.count:
                    if len(self._children) >= policy.window:
                        break
                    if not queue:
                        queue = await self._derived_page(cursor.manifest, cursor.offset)
                    child = queue.pop(0)
                    cursor.offset += 1
                    self._children.add(asyncio.create_task(self._run_child(child, policy.wait)))
                if not self._children:
                    break
                done, _ = await workflow.wait(self._children, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    self._children.discard(task)
                    if not task.cancelled() and (error := task.result()):
                        cursor.failed += 1
                        cursor.first_failure = cursor.first_failure or error
        finally:
            # Cancelled (here or from Temporal): stop the children that run, and let them
            # record it, before this document records its own cancellation.
            for task in self._children:
                task.cancel()
            if self._children:
                await asyncio.gather(*self._children, return_exceptions=True)
            self._children.clear()
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

    async def _derived_page(self, manifest: ContentRef, offset: int) -> list[Document]:
        page: list[Document] = await workflow.execute_local_activity(
            DERIVED_ACTIVITY,
            DerivedPage(manifest=manifest, offset=offset, limit=DERIVED_PAGE),
            result_type=list[Document],
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RECORD_RETRY,
        )
        return page

    async def _run_child(self, child: Document, wait: bool) -> str | None:
        """Run one derived document; its failure as one line, or None."""
        try:
            handle = await workflow.start_child_workflow(
                WORKFLOW_NAME,
                DocumentWorkflowInput(document=child),
                id=workflow_id(child.id),
                result_type=Snapshot,
                # A waited-for child is cancelled with its parent; an abandoned one lives on.
                parent_close_policy=workflow.ParentClosePolicy.REQUEST_CANCEL
                if wait
                else workflow.ParentClosePolicy.ABANDON,
                static_summary=f"{child.type} document {child.id} (from {self._doc.id})",
            )
        except WorkflowAlreadyStartedError:
            return f"{child.id}: a document with this id already exists"
        if not wait:
            return None
        try:
            await handle
        except ChildWorkflowError as err:
            return f"{child.id}: {describe(err)}"
        return None

    async def _wait_for_decision(
        self, spec: PipelineSpec, transition: TransitionSpec, error: str
    ) -> Action | None:
        """Park the document in ``waiting`` until retry, skip or cancel (or the deadline)."""
        await self._record(
            Status.WAITING, transition=transition.name, from_state=self._state, error=error
        )
        self._decision = None
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
        await workflow.wait_condition(lambda: not self._paused or self._cancel_requested)
        if not self._cancel_requested:
            await self._record(Status.RUNNING)

    async def _fail(self, error: str, kind: str) -> NoReturn:
        await self._record(Status.FAILED, error=error)
        raise ApplicationError(error, type=kind, non_retryable=True)

    def _continue_as_new(self, spec: PipelineSpec, fan_out: FanOutCursor | None = None) -> NoReturn:
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

    # --- projection and visibility ---------------------------------------------------

    async def _record(self, status: Status, **details: str | None) -> None:
        """A status change only the workflow knows of: one step, written by a local activity.

        ``details`` are :meth:`_status_write`'s: transition, from_state, error.
        """
        write = self._status_write(status, **details)
        self._apply(write)
        await self._write(write)

    def _status_write(
        self,
        status: Status,
        *,
        transition: str | None = None,
        from_state: str | None = None,
        error: str | None = None,
    ) -> ProjectionWrite:
        """The next step's write for a status change in the current state."""
        self._step += 1
        info = workflow.info()
        return ProjectionWrite(
            document_id=self._doc.id,
            type=self._doc.type,
            version=version_of(self._step),
            state=self._state,
            status=status,
            transition=transition,
            from_state=from_state,
            error=error,
            parent_id=self._doc.parent_id,
            root_id=self._doc.root_id,
            workflow_id=info.workflow_id,
            run_id=info.run_id,
            content_ref=self._doc.content_ref,
            metadata=self._doc.metadata,
            at=workflow.now(),
        )

    async def _write(self, write: ProjectionWrite) -> None:
        await workflow.execute_local_activity(
            RECORD_ACTIVITY,
            write,
            start_to_close_timeout=RECORD_TIMEOUT,
            retry_policy=RECORD_RETRY,
        )

    def _apply(self, write: ProjectionWrite) -> None:
        self._status = write.status
        self._error = write.error if write.status is not Status.RUNNING else None
        self._history = [*self._history[-(HISTORY_KEPT - 1) :], HistoryEntry.of(write)]
        self._publish()

    def _publish(self) -> None:
        """Keep DocType/DocState/DocStatus current so the web UI can filter by them."""
        current = (self._state, self._status.value)
        if current == self._published:
            return
        updates = [DOC_STATE.value_set(self._state), DOC_STATUS.value_set(self._status.value)]
        if self._published is None:
            updates.append(DOC_TYPE.value_set(self._doc.type))
        workflow.upsert_search_attributes(updates)
        self._published = current

    # --- queries, signals, updates ---------------------------------------------------

    @workflow.query(name=SNAPSHOT_QUERY)
    def snapshot(self) -> Snapshot:
        return Snapshot(
            id=self._doc.id,
            type=self._doc.type,
            state=self._state,
            status=self._status,
            version=version_of(self._step),
            error=self._error,
            transition=self._transition,
            history=self._history,
            document=self._doc.model_copy(update={"content": None}),
        )

    @workflow.update(name=CONTROL_UPDATE)
    def control(self, request: ControlRequest) -> Snapshot:
        """Act on the document and get an acknowledged answer (used by the client)."""
        self._act(request.action)
        return self.snapshot()

    @control.validator
    def _validate_control(self, request: ControlRequest) -> None:
        problem = self._refusal(request.action)
        if problem:
            raise ApplicationError(problem, type="InvalidTransition", non_retryable=True)

    @workflow.signal
    def cancel(self) -> None:
        self._signal(Action.CANCEL)

    @workflow.signal
    def retry(self) -> None:
        self._signal(Action.RETRY)

    @workflow.signal
    def skip(self) -> None:
        self._signal(Action.SKIP)

    @workflow.signal
    def pause(self) -> None:
        self._signal(Action.PAUSE)

    @workflow.signal
    def resume(self) -> None:
        self._signal(Action.RESUME)

    @workflow.signal
    def step(self) -> None:
        self._signal(Action.STEP)

    def _signal(self, action: Action) -> None:
        # Signals (from the web UI or `temporal workflow signal`) get no answer: an
        # action that does not fit is logged and ignored.
        problem = self._refusal(action)
        if problem:
            workflow.logger.warning("ignored %s signal: %s", action.value, problem)
            return
        self._act(action)

    def _refusal(self, action: Action) -> str | None:
        """Why ``action`` does not fit the document now, or None when it does."""
        what = f"document {self._doc.id!r} is {self._status.value} in state {self._state!r}"
        if self._status.closed or self._cancel_requested:
            return f"{what}: it has ended"
        waiting = self._status is Status.WAITING and self._decision is None
        if action is Action.RETRY and not waiting:
            return f"{what}: only a waiting document can be retried"
        if action is Action.SKIP:
            if not waiting:
                return f"{what}: only a waiting document can skip its failed transition"
            failed = (
                self._spec.transition(self._transition) if self._spec and self._transition else None
            )
            if failed and not failed.skippable:
                return f"{what}: transition {failed.name!r} is not skippable"
        if action is Action.PAUSE and self._paused:
            return f"{what}: it is already paused"
        if action is Action.PAUSE and self._status not in (Status.PENDING, Status.RUNNING):
            return f"{what}: only a pending or running document can be paused"
        if action in (Action.RESUME, Action.STEP) and not self._paused:
            return f"{what}: it is not paused"
        return None

    def _act(self, action: Action) -> None:
        if action is Action.CANCEL:
            self._cancel_requested = True
            if self._activity is not None:
                self._activity.cancel()
            for child in self._children:
                child.cancel()
        elif action in (Action.RETRY, Action.SKIP):
            self._decision = action
        else:
            self._paused = action is Action.PAUSE
            self._pause_after_step = action is Action.STEP
