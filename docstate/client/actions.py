"""Acting on documents: the operator actions, through their workflows.

``retry``, ``skip``, ``pause``, ``resume`` and ``step`` go through the workflow's
``control`` update, so the answer says whether the action was accepted and, if not, why;
``cancel`` is Temporal's cancellation, which reaches the running transition.

An update needs a worker to take it, and one sent while none runs is not withdrawn: it
waits in Temporal and applies whenever a worker starts. So an action first makes sure a
worker is there: with none polling the document's task queue it is refused at once;
with pollers listed (Temporal lists a stopped worker for a few minutes), the document's
snapshot query must be answered within :data:`QUERY_PATIENCE`, or the action is refused,
nothing sent. Should the update itself not be taken within :data:`ACTION_PATIENCE`, the
caller hears so instead of waiting on.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

from temporalio.client import (
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from docstate.client.core import ClientCore
from docstate.client.pollers import workflow_pollers
from docstate.errors import DocumentNotFound, InvalidTransition, NoWorker
from docstate.protocol import (
    CONTROL_UPDATE,
    SNAPSHOT_QUERY,
    Action,
    ControlRequest,
    Snapshot,
)

ACTION_PATIENCE = 30.0
"""Seconds an action waits for a worker to take it (a busy worker takes it in a few)."""
QUERY_PATIENCE = 10.0
"""Seconds a live worker may take to answer the document's query: a query waits for a
local run to end (2 s), or for the workflow task's heartbeat in a long transition (8 s)."""


class DocumentActions(ClientCore):
    """The acting half of :class:`~docstate.Client`."""

    async def snapshot(self, document_id: str) -> Snapshot:
        """The live state of a document, asked of its workflow."""
        async with self._errors():
            return await self._snapshot(document_id)

    async def moved_on(
        self, document_id: str, before: Snapshot, *, within: float = 3.0
    ) -> Snapshot:
        """The document's snapshot once it has moved past ``before`` (an action's answer:
        the workflow accepted it, and acts on it at once), or ``before`` itself when it has
        not within ``within`` seconds (no worker running, say; not an error)."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            now = await self.snapshot(document_id)
            if (now.status, now.transition, now.version) != (
                before.status,
                before.transition,
                before.version,
            ):
                return now
        return before

    async def _snapshot(self, document_id: str) -> Snapshot:
        try:
            handle = await self._handle(document_id)
            snapshot: Snapshot = await handle.query(SNAPSHOT_QUERY, result_type=Snapshot)
            return snapshot
        except RPCError as err:
            raise _not_found_or(err, document_id) from None

    async def cancel(self, document_id: str) -> None:
        """Cancel the document: its running transition is cancelled, status ``cancelled``.

        Raises:
            InvalidTransition: when the document has already ended.
        """
        async with self._errors():
            await self._cancel(document_id)

    async def _cancel(self, document_id: str) -> None:
        await self._refuse_if_ended(document_id, "nothing to cancel")
        handle = await self._handle(document_id)
        try:
            description = await handle.describe()
            if description.status != WorkflowExecutionStatus.RUNNING:
                status = description.status.name.lower() if description.status else "ended"
                raise InvalidTransition(
                    f"document {document_id!r} has already ended ({status}); nothing to cancel"
                )
            await handle.cancel()
        except RPCError as err:
            raise _not_found_or(err, document_id) from None

    async def retry(self, document_id: str) -> Snapshot:
        """Run a waiting document's failed transition again."""
        return await self._control(document_id, Action.RETRY)

    async def skip(self, document_id: str) -> Snapshot:
        """Move a waiting document past its failed (skippable) transition."""
        return await self._control(document_id, Action.SKIP)

    async def pause(self, document_id: str) -> Snapshot:
        """Hold the document before its next transition."""
        return await self._control(document_id, Action.PAUSE)

    async def resume(self, document_id: str) -> Snapshot:
        """Let a paused document go on."""
        return await self._control(document_id, Action.RESUME)

    async def step(self, document_id: str) -> Snapshot:
        """Run a held (paused) document's next transition, then hold it again."""
        return await self._control(document_id, Action.STEP)

    async def _refuse_if_ended(
        self, document_id: str, consequence: str, *, closed_in_temporal: bool = False
    ) -> None:
        """Refuse an action on a document the projection records as ended.

        Its row shows a closed status once Temporal has closed the workflow; a moment
        before, the status is provisional (``closing``), which counts only when Temporal
        has just said the workflow is gone (``closed_in_temporal``).
        """
        record = await self.queries.get(document_id)
        if record is None:
            return
        ended = record.status if record.status.closed else None
        if closed_in_temporal and ended is None:
            ended = record.closing
        if ended is not None:
            raise InvalidTransition(
                f"document {document_id!r} has already ended ({ended.value}); {consequence}"
            )

    async def _control(self, document_id: str, action: Action) -> Snapshot:
        async with self._errors():
            return await self._control_once(document_id, action)

    async def _control_once(self, document_id: str, action: Action) -> Snapshot:
        await self._refuse_if_ended(document_id, f"cannot {action.value} it")
        try:
            handle = await self._handle(document_id)
            task_queue = await self._require_worker(handle, document_id, action)
            return await self._update(handle, document_id, action, task_queue)
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            message = cause.message if isinstance(cause, ApplicationError) else str(cause)
            raise InvalidTransition(message) from None
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:  # closed since the check above?
                await self._refuse_if_ended(
                    document_id, f"cannot {action.value} it", closed_in_temporal=True
                )
            raise _not_found_or(err, document_id) from None

    async def _require_worker(
        self, handle: WorkflowHandle[Any, Any], document_id: str, action: Action
    ) -> str:
        """The document's task queue; :class:`NoWorker` unless a worker runs it (see the
        module docstring): nothing is sent that a worker started later would act on."""
        task_queue = (await handle.describe()).task_queue
        refused = f"cannot {action.value} document {document_id!r} now"
        start = f"start `docstate worker` with DOCSTATE_TASK_QUEUE={task_queue}"
        temporal = await self.temporal_client()
        if await workflow_pollers(temporal, self.settings.namespace, task_queue) == 0:
            raise NoWorker(
                f"{refused}: no worker polls task queue {task_queue!r} ({start}); nothing was sent",
                task_queue=task_queue,
            )
        try:
            await handle.query(SNAPSHOT_QUERY, rpc_timeout=timedelta(seconds=QUERY_PATIENCE))
        except RPCError as err:
            if err.status not in (RPCStatusCode.CANCELLED, RPCStatusCode.DEADLINE_EXCEEDED):
                raise
            raise NoWorker(
                f"{refused}: no worker answered for it within {QUERY_PATIENCE:.0f}s (one that "
                f"stopped lately is still listed on task queue {task_queue!r}; {start}); "
                "nothing was sent",
                task_queue=task_queue,
            ) from None
        except WorkflowQueryFailedError:
            pass  # a worker ran the query and refused it: it is there to take the update
        return task_queue

    async def _update(
        self, handle: WorkflowHandle[Any, Any], document_id: str, action: Action, task_queue: str
    ) -> Snapshot:
        """The control update's answer, or :class:`NoWorker` after :data:`ACTION_PATIENCE`."""
        patience = asyncio.timeout(ACTION_PATIENCE)
        try:
            async with patience:
                snapshot: Snapshot = await handle.execute_update(
                    CONTROL_UPDATE, ControlRequest(action=action), result_type=Snapshot
                )
                return snapshot
        # The SDK reports its call cancelled (by the patience here) as its own error.
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
            if not patience.expired():
                raise
            raise NoWorker(
                f"no worker took the {action.value} of document {document_id!r} within "
                f"{ACTION_PATIENCE:.0f}s (is its worker stopped or stuck?); it stays sent "
                "and applies when a worker takes it",
                task_queue=task_queue,
                sent=True,
            ) from None


def _not_found_or(err: RPCError, document_id: str) -> Exception:
    if err.status == RPCStatusCode.NOT_FOUND:
        return DocumentNotFound(document_id)
    return err  # the client's error boundary says it in Temporal's terms
