"""The action policy: which operator action fits a document, without Temporal."""

from __future__ import annotations

import pytest

from docstate import Status
from docstate.engine.policy import DocumentView, refusal
from docstate.protocol import Action


def view(status: Status, **kwargs: object) -> DocumentView:
    return DocumentView(document_id="d1", state="parsed", status=status, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("status", [Status.COMPLETED, Status.FAILED, Status.CANCELLED])
@pytest.mark.parametrize("action", list(Action))
def test_nothing_fits_a_document_that_has_ended(status: Status, action: Action) -> None:
    assert refusal(action, view(status)) == (
        f"document 'd1' is {status.value} in state 'parsed': it has ended"
    )


@pytest.mark.parametrize("action", list(Action))
def test_nothing_fits_once_a_cancel_was_accepted(action: Action) -> None:
    assert "it has ended" in (refusal(action, view(Status.RUNNING, ending=True)) or "")


def test_cancel_fits_any_open_document() -> None:
    for status in (Status.PENDING, Status.RUNNING, Status.WAITING, Status.PAUSED):
        assert refusal(Action.CANCEL, view(status)) is None


def test_retry_needs_a_waiting_document_with_no_decision_yet() -> None:
    assert refusal(Action.RETRY, view(Status.WAITING)) is None
    assert refusal(Action.RETRY, view(Status.RUNNING)) == (
        "document 'd1' is running in state 'parsed': only a waiting document can be retried"
    )
    assert "only a waiting document" in (
        refusal(Action.RETRY, view(Status.WAITING, deciding=True)) or ""
    )


def test_skip_needs_a_skippable_failed_transition() -> None:
    skippable = view(Status.WAITING, failed_transition="extract", failed_skippable=True)
    assert refusal(Action.SKIP, skippable) is None
    fixed = view(Status.WAITING, failed_transition="extract", failed_skippable=False)
    assert refusal(Action.SKIP, fixed) == (
        "document 'd1' is waiting in state 'parsed': transition 'extract' is not skippable"
    )
    assert "only a waiting document can skip" in (refusal(Action.SKIP, view(Status.PAUSED)) or "")


def test_pause_resume_and_step() -> None:
    assert refusal(Action.PAUSE, view(Status.RUNNING)) is None
    assert refusal(Action.PAUSE, view(Status.PENDING)) is None
    assert "already paused" in (refusal(Action.PAUSE, view(Status.RUNNING, paused=True)) or "")
    assert "only a pending or running document can be paused" in (
        refusal(Action.PAUSE, view(Status.WAITING)) or ""
    )
    for action in (Action.RESUME, Action.STEP):
        assert refusal(action, view(Status.PAUSED, paused=True)) is None
        assert "it is not paused" in (refusal(action, view(Status.RUNNING)) or "")
