"""Which operator action fits a document now: a pure function of what the workflow knows.

The document workflow asks it for every signal and update; it has no Temporal in it, so
its rules are tested directly (``tests/test_policy.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

from docstate.document import Status
from docstate.protocol import Action


@dataclass(frozen=True)
class DocumentView:
    """What the action policy needs to know about a running document.

    Attributes:
        document_id: The document's id (for the message).
        state: Its current state.
        status: Its current status.
        paused: Whether it is held (or about to be) before its next transition.
        ending: Whether a cancel has been accepted: the document is on its way out.
        deciding: Whether a retry or skip has been accepted and not yet acted on.
        failed_transition: The transition it waits on, when waiting.
        failed_skippable: Whether that transition may be skipped.
    """

    document_id: str
    state: str
    status: Status
    paused: bool = False
    ending: bool = False
    deciding: bool = False
    failed_transition: str | None = None
    failed_skippable: bool = False


def refusal(action: Action, doc: DocumentView) -> str | None:
    """Why ``action`` does not fit ``doc`` now, or None when it does."""
    what = f"document {doc.document_id!r} is {doc.status.value} in state {doc.state!r}"
    if doc.status.closed or doc.ending:
        return f"{what}: it has ended"
    waiting = doc.status is Status.WAITING and not doc.deciding
    if action is Action.RETRY and not waiting:
        return f"{what}: only a waiting document can be retried"
    if action is Action.SKIP:
        if not waiting:
            return f"{what}: only a waiting document can skip its failed transition"
        if doc.failed_transition and not doc.failed_skippable:
            return f"{what}: transition {doc.failed_transition!r} is not skippable"
    if action is Action.PAUSE and doc.paused:
        return f"{what}: it is already paused"
    if action is Action.PAUSE and doc.status not in (Status.PENDING, Status.RUNNING):
        return f"{what}: only a pending or running document can be paused"
    if action in (Action.RESUME, Action.STEP) and not doc.paused:
        return f"{what}: it is not paused"
    return None
