"""Who is told of each transition attempt, wherever it runs.

A transition attempt is usually one activity, which :class:`TransitionMetrics` times
from its interceptor; inside a local run (:mod:`docstate.engine.runs`) several attempts
share one activity. The interceptor installs its observer for the activity's context,
and each attempt reports to it through :func:`observed`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

AttemptObserver = Callable[[str, str, float, BaseException | None], None]
"""Called with the document type, the transition, the seconds it took and its error."""

_observer: ContextVar[AttemptObserver | None] = ContextVar("docstate_attempts", default=None)


@contextmanager
def observing(observer: AttemptObserver) -> Iterator[None]:
    """Attempts observed in this context (an activity's) go to ``observer``."""
    token = _observer.set(observer)
    try:
        yield
    finally:
        _observer.reset(token)


@contextmanager
def observed(doc_type: str, transition: str) -> Iterator[None]:
    """One attempt of ``transition``, reported to the context's observer, if any."""
    observer = _observer.get()
    if observer is None:
        yield
        return
    started = time.monotonic()
    error: BaseException | None = None
    try:
        yield
    except BaseException as err:
        error = err
        raise
    finally:
        observer(doc_type, transition, time.monotonic() - started, error)
