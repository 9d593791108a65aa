"""The projection: every document's state, status, history and lineage in SQL."""

from docstate.projection.engine import create_engine
from docstate.projection.migrate import create_database, ensure_current, upgrade
from docstate.projection.queries import ProjectionQueries
from docstate.projection.records import DocumentRecord, EventRecord, ProjectionWrite
from docstate.projection.writer import CoalescingWriter, ProjectionWriter, Writer

__all__ = [
    "CoalescingWriter",
    "DocumentRecord",
    "EventRecord",
    "ProjectionQueries",
    "ProjectionWrite",
    "ProjectionWriter",
    "Writer",
    "create_database",
    "create_engine",
    "ensure_current",
    "upgrade",
]
