"""DocState's exception tree.

Everything DocState raises on purpose derives from :class:`DocStateError`, so an
application can catch one type. Each message names what is wrong and, where it helps,
what would be right.
"""

from __future__ import annotations

from collections.abc import Sequence


class DocStateError(Exception):
    """Base class of every error DocState raises on purpose."""


class PipelineDefinitionError(DocStateError):
    """A pipeline (``DocumentType``) is not a valid state machine.

    Attributes:
        problems: Every problem found, one sentence each.
    """

    def __init__(self, pipeline: str, problems: Sequence[str]) -> None:
        self.pipeline = pipeline
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"pipeline {pipeline!r} is invalid:\n{lines}")


class UnknownDocumentType(DocStateError):
    """A document names a type that no loaded pipeline declares."""

    def __init__(self, name: str, known: Sequence[str]) -> None:
        self.name = name
        self.known = sorted(known)
        super().__init__(
            f"unknown document type {name!r}; known types: {', '.join(self.known) or 'none'}"
        )


class UnknownOperation(DocStateError):
    """A request names operations that a pipeline does not have (or none at all)."""

    def __init__(self, pipeline: str, unknown: Sequence[str], known: Sequence[str]) -> None:
        self.pipeline = pipeline
        self.unknown = list(unknown)
        self.known = list(known)
        what = (
            f"unknown operation(s) {', '.join(repr(u) for u in unknown)}"
            if unknown
            else "no operation requested (metadata 'operations' or 'target')"
        )
        super().__init__(f"pipeline {pipeline!r}: {what}; known: {', '.join(known)}")


class DocumentNotFound(DocStateError):
    """No document with this id exists."""

    def __init__(self, document_id: str, message: str | None = None) -> None:
        self.document_id = document_id
        super().__init__(message or f"document {document_id!r} not found")


class DocumentNotStarted(DocumentNotFound):
    """The document was submitted, but no worker has started it yet, so it has no row.

    It is a :class:`DocumentNotFound` (there is nothing to read yet), so code that
    handles that still works; its message says why and what to check.
    """

    def __init__(self, document_id: str, task_queue: str) -> None:
        self.task_queue = task_queue
        super().__init__(
            document_id,
            f"document {document_id!r} was submitted but no worker has started it yet "
            f"(is `docstate worker` running for task queue {task_queue!r}?)",
        )


class DuplicateDocument(DocStateError):
    """A document with this id was already submitted."""

    def __init__(self, document_id: str) -> None:
        self.document_id = document_id
        super().__init__(
            f"document {document_id!r} already exists; submit it under another id "
            "or act on the existing one (status, retry, cancel)"
        )


class InvalidTransition(DocStateError):
    """An operation does not fit the document's current state or status.

    Attributes:
        status: The document's status at the time, when known.
    """

    def __init__(self, message: str, status: str | None = None) -> None:
        self.status = status
        super().__init__(message)


class ContentError(DocStateError):
    """Content is missing, unreadable, or does not match its recorded hash."""


class ConfigurationError(DocStateError):
    """Settings are missing or inconsistent."""


class EncryptionKeyError(DocStateError):
    """Encrypted data cannot be decrypted here: its key is missing, or it does not fit."""


class TemporalUnavailable(DocStateError):
    """The Temporal server could not be reached."""


class PermanentError(DocStateError):
    """Raised by a transition function for a failure that retrying cannot fix.

    The engine does not retry it: the document goes straight to status ``waiting`` with
    this message recorded, where a person can ``retry``, ``skip`` or ``cancel`` it.
    """


class ApiError(DocStateError):
    """The HTTP API refused a request, for a reason no narrower class names.

    Attributes:
        status: The HTTP status code.
        code: The error's code in the JSON error (``unauthorized``, ``too_large``...).
        details: Its structured details.
    """

    def __init__(
        self, status: int, code: str, message: str, details: dict[str, object] | None = None
    ) -> None:
        self.status = status
        self.code = code
        self.details = details or {}
        super().__init__(message)


class InvalidDocumentId(DocStateError):
    """A document id breaks the id rule."""

    RULE = (
        "1 to 200 characters, each an ASCII letter, a digit or one of . _ : @ / + = - (no spaces)"
    )

    def __init__(self, document_id: str) -> None:
        self.document_id = document_id
        shown = document_id if len(document_id) <= 40 else document_id[:37] + "..."
        super().__init__(
            f"document id {shown!r} is invalid: an id is {self.RULE}; "
            "leave the id out (the command line's --id) to have one generated"
        )


class InvalidInput(DocStateError):
    """A value given to DocState (metadata, a submission, an option) is not valid."""


class ProjectionUnavailable(DocStateError):
    """The projection database is down, missing, or not migrated."""


class WaitTimeout(DocStateError, TimeoutError):
    """A document did not settle (or end) within the time allowed.

    It is also a :class:`TimeoutError`, so code that catches that still works.
    """


class NoWorker(DocStateError):
    """No worker answered: the work asked for needs one running.

    Attributes:
        task_queue: The task queue a worker must poll, when one task queue is meant.
        sent: Whether the request was sent all the same (it then applies when a worker
            takes it); ``False`` when nothing was sent.
    """

    def __init__(self, message: str, *, task_queue: str | None = None, sent: bool = False) -> None:
        super().__init__(message)
        self.task_queue = task_queue
        self.sent = sent


class BlobStoreError(ContentError):
    """The blob store (a local folder or an S3 bucket) refused or failed a request."""
