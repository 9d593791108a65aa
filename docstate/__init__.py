"""DocState: durable document pipelines on Temporal, with a queryable SQL projection.

Declare a pipeline with :class:`DocumentType`, :class:`State` and :class:`Transition`;
run it with a worker (``docstate worker``, :func:`docstate.engine.run_worker`); submit
and follow documents with :class:`Client` or the ``docstate`` command.
"""

from docstate.client import (
    BatchEvent,
    BatchOptions,
    Client,
    EventKind,
    Submission,
    SubmitResult,
    SyncClient,
)
from docstate.config import Settings
from docstate.docstore import AsyncDocStore
from docstate.document import ContentRef, Document, Status, TransitionResult
from docstate.errors import (
    ConfigurationError,
    ContentError,
    DocStateError,
    DocumentNotFound,
    DocumentNotStarted,
    DuplicateDocument,
    EncryptionKeyError,
    InvalidTransition,
    NoWorker,
    PermanentError,
    PipelineDefinitionError,
    TemporalUnavailable,
    UnknownDocumentType,
    UnknownOperation,
)
from docstate.model import DocumentType, FanOut, PipelineSpec, Retry, State, Transition
from docstate.operations import Operation, OperationsPipeline
from docstate.registry import Registry

__all__ = [
    "AsyncDocStore",
    "BatchEvent",
    "BatchOptions",
    "Client",
    "ConfigurationError",
    "ContentError",
    "ContentRef",
    "DocStateError",
    "Document",
    "DocumentNotFound",
    "DocumentNotStarted",
    "DocumentType",
    "DuplicateDocument",
    "EncryptionKeyError",
    "EventKind",
    "FanOut",
    "InvalidTransition",
    "NoWorker",
    "Operation",
    "OperationsPipeline",
    "PermanentError",
    "PipelineDefinitionError",
    "PipelineSpec",
    "Registry",
    "Retry",
    "Settings",
    "State",
    "Status",
    "Submission",
    "SubmitResult",
    "SyncClient",
    "TemporalUnavailable",
    "Transition",
    "TransitionResult",
    "UnknownDocumentType",
    "UnknownOperation",
]
