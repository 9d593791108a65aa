"""The operator's side of the document workflow: its query, update and signals.

People and applications act on a running document (cancel, retry, skip, pause, resume,
step) by signal (no answer: the web UI, ``temporal workflow signal``) or through the
``control`` update (an acknowledged answer: the client). Whether an action fits is the
pure :func:`~docstate.engine.policy.refusal`; this mixin feeds it the workflow's state.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from docstate.document import Document, Status
from docstate.engine.fanout import FanOutRun
from docstate.engine.lean import StepOutput
from docstate.engine.policy import DocumentView, refusal
from docstate.model import PipelineSpec
from docstate.projection.records import EventRecord, version_of
from docstate.protocol import (
    CONTROL_UPDATE,
    SNAPSHOT_QUERY,
    Action,
    ControlRequest,
    Snapshot,
    TransitionOutput,
)


class DocumentControls:
    """Query, update and signal handlers of :class:`~docstate.engine.DocumentWorkflow`.

    It reads and sets the workflow's state, declared here and kept by the workflow.
    """

    _doc: Document
    _spec: PipelineSpec | None
    _state: str
    _status: Status
    _step: int
    _error: str | None
    _transition: str | None
    _history: list[EventRecord]
    _paused: bool
    _pause_after_step: bool
    _cancel_requested: bool
    _decision: Action | None
    _activity: workflow.ActivityHandle[TransitionOutput | StepOutput] | None
    _fanning: FanOutRun | None

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
        """Why ``action`` does not fit the document now (see :func:`refusal`)."""
        failed = (
            self._spec.transition(self._transition) if self._spec and self._transition else None
        )
        view = DocumentView(
            document_id=self._doc.id,
            state=self._state,
            status=self._status,
            paused=self._paused,
            ending=self._cancel_requested,
            deciding=self._decision is not None,
            failed_transition=failed.name if failed else None,
            failed_skippable=failed.skippable if failed else False,
        )
        return refusal(action, view)

    def _act(self, action: Action) -> None:
        if action is Action.CANCEL:
            self._cancel_requested = True
            if self._activity is not None:
                self._activity.cancel()
            if self._fanning is not None:
                self._fanning.cancel()
        elif action in (Action.RETRY, Action.SKIP):
            self._decision = action
        else:
            self._paused = action is Action.PAUSE
            self._pause_after_step = action is Action.STEP
