"""What the action commands answer: what happened, and what the document does now."""

from __future__ import annotations

from docstate.client import Client
from docstate.document import Status
from docstate.protocol import Action, Snapshot

PAST = {
    Action.RETRY: "retried",
    Action.SKIP: "skipped",
    Action.PAUSE: "paused",
    Action.RESUME: "resumed",
    Action.STEP: "stepped",
}


def now_doing(snapshot: Snapshot) -> str:
    """Where the document is, in words: ``running normalize``, ``waiting in state x``."""
    if snapshot.status is Status.RUNNING and snapshot.transition:
        return f"running {snapshot.transition}"
    where = f"{snapshot.status.value} in state {snapshot.state}"
    return f"{where} ({snapshot.error})" if snapshot.status is Status.WAITING else where


async def act_and_say(ds: Client, document_id: str, action: Action) -> str:
    """Run ``action`` and say what happened: ``skipped extract_pdf; now running normalize``."""
    answer: Snapshot = await getattr(ds, action.value)(document_id)
    what = PAST[action]
    if action in (Action.RETRY, Action.SKIP) and answer.transition:
        what = f"{what} {answer.transition}"
    now = await ds.moved_on(document_id, answer)
    if action is Action.PAUSE and now.status is not Status.PAUSED:
        return f"{document_id}: {what}; it holds before its next transition (now {now_doing(now)})"
    if action is Action.STEP:
        return f"{document_id}: {what}; now {now_doing(now)}, then it holds again"
    return f"{document_id}: {what}; now {now_doing(now)}"
