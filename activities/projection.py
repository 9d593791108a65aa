"""The workflow's own activities: fetch a pipeline's shape, record status changes."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from docstate.errors import UnknownDocumentType
from docstate.model import PipelineSpec
from docstate.projection.records import ProjectionWrite
from docstate.projection.writer import ProjectionWriter
from docstate.protocol import RECORD_ACTIVITY, START_ACTIVITY
from docstate.registry import Registry


class ProjectionActivities:
    """Local activities the document workflow runs between transitions."""

    def __init__(self, registry: Registry, writer: ProjectionWriter) -> None:
        self.registry = registry
        self.writer = writer
        self._specs: dict[str, PipelineSpec] = {}

    @activity.defn(name=START_ACTIVITY)
    async def start(self, type_name: str) -> PipelineSpec:
        """The shape of pipeline ``type_name``; recorded in history, so replay is exact."""
        if type_name not in self._specs:
            try:
                self._specs[type_name] = self.registry.get(type_name).spec()
            except UnknownDocumentType as err:
                raise ApplicationError(
                    str(err), type="UnknownDocumentType", non_retryable=True
                ) from err
        return self._specs[type_name]

    @activity.defn(name=RECORD_ACTIVITY)
    async def record(self, write: ProjectionWrite) -> None:
        """Apply one projection write (retried by the workflow until the database answers)."""
        await self.writer.apply([write])
