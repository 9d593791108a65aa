"""Fan-out: a transition's derived documents, each run as a child workflow.

Children start in a sliding window per parent (as one ends the next starts), read from
the derived-documents manifest a page at a time, so a parent with thousands of children
keeps small payloads and stays far below Temporal's pending-children limit. How far the
fan-out has got is a :class:`~docstate.protocol.FanOutCursor`, which the parent carries
when it continues as new midway.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ChildWorkflowError, WorkflowAlreadyStartedError

from docstate.document import ContentRef, Document
from docstate.engine.failures import RECORD_RETRY, describe
from docstate.model import FanOut
from docstate.protocol import (
    DERIVED_ACTIVITY,
    DERIVED_PAGE,
    WORKFLOW_NAME,
    DerivedPage,
    DocumentWorkflowInput,
    FanOutCursor,
    Snapshot,
    workflow_id,
)


class FanOutRun:
    """Runs the children of one fan-out, ``policy.window`` at a time (workflow code).

    Args:
        parent: The document that derived them.
        policy: The transition's fan-out declaration.
        cursor: Where the fan-out stands; updated as children start and end.
    """

    def __init__(self, parent: Document, policy: FanOut, cursor: FanOutCursor) -> None:
        self.parent = parent
        self.policy = policy
        self.cursor = cursor
        self._children: set[asyncio.Task[str | None]] = set()

    @property
    def finished(self) -> bool:
        """Whether every derived document has been started (and, if waited for, ended)."""
        return self.cursor.offset >= self.cursor.count

    def cancel(self) -> None:
        """Cancel the running children (the ones not yet started never start)."""
        for task in self._children:
            task.cancel()

    async def run(self, stopped: Callable[[], bool]) -> None:
        """Start and await children until all have run or ``stopped()`` turns true.

        When Temporal suggests continuing as new, no more children start; once the running
        ones have ended (closing this run would cancel them) it returns with the cursor
        where it stopped, so that the next run goes on from there.
        """
        cursor = self.cursor
        queue: list[Document] = []
        draining = False
        try:
            while not stopped():
                draining = draining or workflow.info().is_continue_as_new_suggested()
                while not draining and cursor.offset < cursor.count:
                    if len(self._children) >= self.policy.window:
                        break
                    if not queue:
                        queue = await _derived_page(cursor.manifest, cursor.offset)
                    child = queue.pop(0)
                    cursor.offset += 1
                    self._children.add(asyncio.create_task(self._run_child(child)))
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
            # record it, before the parent records its own cancellation.
            self.cancel()
            if self._children:
                await asyncio.gather(*self._children, return_exceptions=True)
            self._children.clear()

    async def _run_child(self, child: Document) -> str | None:
        """Run one derived document; its failure as one line, or None."""
        wait = self.policy.wait
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
                static_summary=f"{child.type} document {child.id} (from {self.parent.id})",
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


async def _derived_page(manifest: ContentRef, offset: int) -> list[Document]:
    page: list[Document] = await workflow.execute_local_activity(
        DERIVED_ACTIVITY,
        DerivedPage(manifest=manifest, offset=offset, limit=DERIVED_PAGE),
        result_type=list[Document],
        start_to_close_timeout=timedelta(seconds=30),
        retry_policy=RECORD_RETRY,
    )
    return page
