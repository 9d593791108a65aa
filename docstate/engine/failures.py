"""Retry policies, and turning Temporal's failures into one line a person reads."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    ChildWorkflowError,
    FailureError,
    TimeoutError,
)

from docstate.model import Retry

# Projection writes wait out a database outage rather than drop a write.
RECORD_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=0,
)
RECORD_TIMEOUT = timedelta(seconds=30)
START_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=10), maximum_attempts=5)


def retry_policy(retry: Retry, used: int = 0) -> RetryPolicy:
    """The Temporal retry policy of a transition, for what is left of it after ``used``
    attempts made elsewhere (the first one, in a local run)."""
    initial = retry.initial_interval * retry.backoff**used
    attempts = max(retry.max_attempts - used, 1) if retry.max_attempts else 0
    return RetryPolicy(
        initial_interval=min(initial, max(retry.max_interval, retry.initial_interval)),
        backoff_coefficient=retry.backoff,
        maximum_interval=retry.max_interval,
        maximum_attempts=attempts,
        non_retryable_error_types=list(retry.non_retryable),
    )


def describe(err: BaseException) -> str:
    """One line naming what went wrong, from the innermost cause of an activity or child
    workflow failure."""
    cause: BaseException = err
    while isinstance(cause, ActivityError | ChildWorkflowError) and cause.cause is not None:
        cause = cause.cause
    if isinstance(cause, ApplicationError):
        return f"{cause.type}: {cause.message}" if cause.type else cause.message
    if isinstance(cause, TimeoutError):
        return f"timed out ({cause.type.name.lower() if cause.type else 'unknown'} timeout)"
    if isinstance(cause, CancelledError):
        return "cancelled"
    if isinstance(cause, FailureError):
        return cause.message
    return str(cause) or type(cause).__name__
