"""How the document workflow records what happens: projection writes and visibility.

Transition outcomes are written by their activities; status changes only the workflow
knows of (started, waiting, paused, cancelled, failed) are written here, through the
``docstate.record`` local activity. Every write also updates the workflow's own view
(status, recent history) and the search attributes the web UI filters by.

Since the ``visibility-at-waits`` patch those search attributes are upserted only when
the document is about to wait (on a person, a slot, a task-queue activity, its derived
documents) or end, not after every step: a run of local transitions is one workflow task
whose intermediate states nobody could see anyway, and each upsert is a history event
and a visibility write on the server (measured: a three-step pipeline ran at about 30
documents per second with them, 40 with none at all).
"""

from __future__ import annotations

from temporalio import workflow

from docstate.document import Document, Status
from docstate.engine.failures import RECORD_RETRY, RECORD_TIMEOUT
from docstate.projection.records import EventRecord, ProjectionWrite, version_of
from docstate.protocol import DOC_STATE, DOC_STATUS, DOC_TYPE, HISTORY_KEPT, RECORD_ACTIVITY

VISIBILITY_PATCH = "visibility-at-waits-v1"
"""Documents started before it upserted their search attributes after every step; those
started since also take the ``begin`` and ``lean-steps`` paths without asking."""


class DocumentRecording:
    """Projection writes and search attributes of :class:`~docstate.engine.DocumentWorkflow`.

    It reads and sets the workflow's state, declared here and kept by the workflow.
    """

    _doc: Document
    _state: str
    _status: Status
    _step: int
    _error: str | None
    _history: list[EventRecord]
    _published: tuple[str, str] | None
    _shown_at_waits: bool  # the VISIBILITY_PATCH path

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
        event = EventRecord(
            document_id=self._doc.id,
            seq=version_of(self._step),
            to_state=self._state,
            status=status,
            transition=transition,
            from_state=from_state,
            error=error,
            finished_at=workflow.now(),
        )
        return ProjectionWrite.of(
            self._doc, event, workflow_id=info.workflow_id, run_id=info.run_id
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
        self._history = [*self._history[-(HISTORY_KEPT - 1) :], write.event()]
        self._publish()

    def _publish(self) -> None:
        """Keep DocType/DocState/DocStatus current so the web UI can filter by them: at
        once, or before the next wait (see the module docstring)."""
        if not self._shown_at_waits:
            self._upsert_changed()

    def _show(self) -> None:
        """Before a wait or the end: show what changed since the last wait. Documents
        on the old path showed every step at once, and run exactly the commands they
        always did."""
        if self._shown_at_waits:
            self._upsert_changed()

    def _upsert_changed(self) -> None:
        current = (self._state, self._status.value)
        if current == self._published:
            return
        updates = [DOC_STATE.value_set(self._state), DOC_STATUS.value_set(self._status.value)]
        if self._published is None:
            updates.append(DOC_TYPE.value_set(self._doc.type))
        workflow.upsert_search_attributes(updates)
        self._published = current
