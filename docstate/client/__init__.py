"""The clients applications embed: :class:`Client` (async) and :class:`SyncClient`."""

from docstate.client.batch import BatchEvent, BatchOptions, EventKind, Submission, SubmitResult
from docstate.client.client import Client
from docstate.client.ingest import Content
from docstate.client.sync import SyncClient

__all__ = [
    "BatchEvent",
    "BatchOptions",
    "Client",
    "Content",
    "EventKind",
    "Submission",
    "SubmitResult",
    "SyncClient",
]
