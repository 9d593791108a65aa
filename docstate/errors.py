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
        self.unknown = list(unknown)
        what = (
            f"unknown operation(s) {', '.join(repr(u) for u in unknown)}"
            if unknown
            else "no operation requested (metadata 'operations' or 'target')"
        )
        super().__init__(f"pipeline {pipeline!r}: {what}; known: {', '.join(known)}")


class DocumentNotFound(DocStateError):
    """No document with this id exists."""

    def __init__(self, document_id: str) -> None:
        self.document_id = document_id
        super().__init__(f"document {document_id!r} not found")


class DuplicateDocument(DocStateError):
    """A document with this id was already submitted."""

    def __init__(self, document_id: str) -> None:
        self.document_id = document_id
        super().__init__(
            f"document {document_id!r} already exists; submit it under another id "
            "or act on the existing one (status, retry, cancel)"
        )


class InvalidTransition(DocStateError):
    """An operation does not fit the document's current state or status."""


class ContentError(DocStateError):
    """Content is missing, unreadable, or does not match its recorded hash."""


class ConfigurationError(DocStateError):
    """Settings are missing or inconsistent."""


class TemporalUnavailable(DocStateError):
    """The Temporal server could not be reached."""


class PermanentError(DocStateError):
    """Raised by a transition function for a failure that retrying cannot fix.

    The engine does not retry it: the document goes straight to status ``waiting`` with
    this message recorded, where a person can ``retry``, ``skip`` or ``cancel`` it.
    """
