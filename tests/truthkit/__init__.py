"""Pipelines and a worker script for the crash tests (tests/test_truth_crash.py).

Loaded by worker subprocesses through ``DOCSTATE_PIPELINES=tests.truthkit``. The tests
steer the functions through files in ``TRUTH_DIR``: ``fail`` makes ``finish`` fail for
good.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from docstate import Document, DocumentType, PermanentError, Retry, State, Transition

ONCE = Retry(initial_interval=timedelta(milliseconds=100), max_attempts=1)
# A frozen worker's open polls can each swallow a task (an attempt that then times out):
# enough attempts that one lands on the live worker.
AGAIN = Retry(initial_interval=timedelta(milliseconds=100), max_attempts=20)


def _dir() -> Path:
    return Path(os.environ["TRUTH_DIR"])


def check(doc: Document) -> Document:
    return doc.model_copy(update={"metadata": {**doc.metadata, "checked": True}})


def finish(doc: Document) -> Document:
    if (_dir() / "fail").exists():
        raise PermanentError(f"{doc.id}: told to fail")
    return doc.model_copy(update={"metadata": {**doc.metadata, "finished_by": os.getpid()}})


def _pipeline(name: str, *, local: bool, retry: Retry, timeout: timedelta) -> DocumentType:
    return DocumentType(
        name=name,
        states=[State("new", initial=True), "checked", State("done", final=True)],
        transitions=[
            Transition(name="check", source="new", target="checked", run=check, local=local),
            Transition(
                name="finish",
                source="checked",
                target="done",
                run=finish,
                local=local,
                retry=retry,
                timeout=timeout,
            ),
        ],
    )


LOCAL = _pipeline("truth_local", local=True, retry=ONCE, timeout=timedelta(seconds=5))
QUEUED = _pipeline("truth_queued", local=False, retry=AGAIN, timeout=timedelta(seconds=3))
