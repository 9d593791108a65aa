"""Limits on how transitions run: per fairness key at once, per transition per second.

**Per key** (:class:`~docstate.model.KeyLimits`, from the worker's settings): before a
transition of a document with a fairness key, its workflow takes one of the key's slots,
a lease in the projection database (:class:`~docstate.projection.leases.KeyLeases`), so
the limit holds across every worker. While the key is full it waits on a durable timer,
not in an activity: the transition's attempts and timeouts start only once it runs. It
renews the lease while the transition runs and gives it back once it ends (succeeded,
or failed for good: a document waiting for a decision holds no slot). The workflow holds
the lease, not a worker: when a worker dies the workflow goes on elsewhere, still
holding it; a lease lapses only when no one renews it (a terminated workflow).

**Per transition** (``Transition(rate_limit=...)``): such a transition runs on a task
queue of its own (:func:`rate_queue`), which every worker polls with the rate as the
queue's ``max_task_queue_activities_per_second``: the Temporal server dispatches no
faster, whichever worker polls.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any, NoReturn

from pydantic import BaseModel
from temporalio import workflow

from docstate.document import Document
from docstate.engine.failures import RECORD_RETRY, RECORD_TIMEOUT
from docstate.model import PipelineSpec, TransitionSpec

KEY_LIMIT_PATCH = "key-concurrency-v1"
"""Documents started before it never took a slot (and never will, replaying)."""
RATE_LIMIT_PATCH = "transition-rate-limit-v1"
"""Documents started before it ran every task-queue transition on the worker's queue."""

ACQUIRE_ACTIVITY = "docstate.lease.acquire"
RENEW_ACTIVITY = "docstate.lease.renew"
RELEASE_ACTIVITY = "docstate.lease.release"

FAIRNESS_KEY = "fairness_key"
LEASE_TTL = timedelta(minutes=2)
"""How long a lease lives unless renewed: a terminated holder's slot is free after it."""
RENEW_EVERY = LEASE_TTL / 3
FIRST_WAIT = timedelta(milliseconds=200)
LONGEST_WAIT = timedelta(seconds=5)
"""Waits between two tries for a full key's slot grow from the first to the longest."""


def rate_queue(task_queue: str, activity_name: str) -> str:
    """The task queue of a rate-limited transition's activity, beside ``task_queue``."""
    return f"{task_queue}:rate:{activity_name}"


class LeaseRequest(BaseModel):
    """A workflow's question about its key's slots."""

    key: str
    holder: str
    limit: int = 1
    ttl: timedelta = LEASE_TTL


def transition_queue(transition: TransitionSpec, activity_name: str) -> str | None:
    """Where a task-queue transition is scheduled: its own queue when rate-limited
    (workflow code); ``None`` for the workflow's queue."""
    if transition.rate_limit is None or not workflow.patched(RATE_LIMIT_PATCH):
        return None
    return rate_queue(workflow.info().task_queue, activity_name)


def key_limit(spec: PipelineSpec, document: Document) -> tuple[str | None, int | None]:
    """The document's fairness key and how many of its transitions may run at once
    (``None``: no limit)."""
    key = document.metadata.get(FAIRNESS_KEY)
    if not key or not isinstance(key, str) or not spec.key_limits:
        return None, None
    return key, spec.key_limits.of(key)


class KeyLimiting:
    """Slots of the per-key limit for :class:`~docstate.engine.DocumentWorkflow`.

    It reads the workflow's state, declared here and kept by the workflow.
    """

    _doc: Document
    _cancel_requested: bool

    def _continue_as_new(self, spec: PipelineSpec) -> NoReturn:
        raise NotImplementedError  # the workflow's

    def _show(self) -> None:
        raise NotImplementedError  # the workflow's (DocumentRecording)

    async def _take_slot(self, spec: PipelineSpec) -> LeaseRequest | None:
        """Wait for a slot of the document's key; ``None`` when its key has no limit.

        A long wait grows the history by a timer and a local activity each try: when
        Temporal suggests it, the document continues as new and its next run, in the
        same state, waits on.

        Raises:
            asyncio.CancelledError: when the document is cancelled while it waits.
        """
        key, limit = key_limit(spec, self._doc)
        # Documents without a limit run exactly the commands they always did.
        if key is None or limit is None or not workflow.patched(KEY_LIMIT_PATCH):
            return None
        lease = LeaseRequest(key=key, holder=workflow.info().workflow_id, limit=limit)
        wait = FIRST_WAIT
        while not await _lease(ACQUIRE_ACTIVITY, lease):
            if wait == FIRST_WAIT:
                note = f"waits for a slot of key {key!r} (at most {limit} at once)"
                workflow.logger.info("%s %s", self._doc.id, note)
                workflow.set_current_details(note)
                self._show()
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(lambda: self._cancel_requested, timeout=wait)
            if self._cancel_requested:
                raise asyncio.CancelledError("cancelled while waiting for a slot")
            if workflow.info().is_continue_as_new_suggested():
                self._continue_as_new(spec)
            wait = min(wait * 1.5, LONGEST_WAIT)
        if wait != FIRST_WAIT:
            workflow.set_current_details("")
        return lease

    @staticmethod
    async def _holding(lease: LeaseRequest | None, handle: workflow.ActivityHandle[Any]) -> Any:
        """``handle``'s result, renewing ``lease`` while the transition runs."""
        if lease is not None:
            try:
                while not handle.done():
                    try:
                        await workflow.wait_condition(handle.done, timeout=RENEW_EVERY)
                    except TimeoutError:
                        await _lease(RENEW_ACTIVITY, lease)
            except asyncio.CancelledError:
                handle.cancel()  # as awaiting it would: the transition is cancelled too
        return await handle

    @staticmethod
    async def _give_back(lease: LeaseRequest | None) -> None:
        if lease is not None:
            await _lease(RELEASE_ACTIVITY, lease)


async def _lease(activity: str, lease: LeaseRequest) -> bool:
    """Whether ``lease``'s holder holds a slot after ``activity`` (acquire, renew)."""
    # Retried like a status write: a database outage waits, it does not fail the step.
    held: bool = await workflow.execute_local_activity(
        activity,
        lease,
        result_type=bool,
        start_to_close_timeout=RECORD_TIMEOUT,
        retry_policy=RECORD_RETRY,
    )
    return held
