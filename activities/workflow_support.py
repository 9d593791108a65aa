"""The workflow's own activities: a pipeline's shape, status changes, derived documents."""

from __future__ import annotations

from collections import OrderedDict

from temporalio import activity
from temporalio.exceptions import ApplicationError

from docstate.blobstore import BlobStore
from docstate.document import Document
from docstate.errors import UnknownDocumentType
from docstate.model import PipelineSpec
from docstate.projection.records import ProjectionWrite
from docstate.projection.writer import ProjectionWriter
from docstate.protocol import (
    BEGIN_ACTIVITY,
    DERIVED_ACTIVITY,
    RECORD_ACTIVITY,
    START_ACTIVITY,
    DerivedPage,
)
from docstate.registry import Registry


class WorkflowActivities:
    """Local activities the document workflow runs between transitions."""

    def __init__(self, registry: Registry, writer: ProjectionWriter, blobs: BlobStore) -> None:
        self.registry = registry
        self.writer = writer
        self.blobs = blobs
        self._specs: dict[str, PipelineSpec] = {}
        self._manifests: OrderedDict[str, list[str]] = OrderedDict()

    @activity.defn(name=BEGIN_ACTIVITY)
    async def begin(self, running: ProjectionWrite) -> PipelineSpec:
        """A document's first step: the shape of its pipeline (recorded in history, so
        replay is exact), and its ``running`` row, in the pipeline's initial state."""
        spec = await self.start(running.type)
        await self.writer.apply([running.model_copy(update={"state": spec.initial})])
        return spec

    @activity.defn(name=START_ACTIVITY)
    async def start(self, type_name: str) -> PipelineSpec:
        """The shape of pipeline ``type_name`` (documents started before ``begin``)."""
        if type_name not in self._specs:
            try:
                self._specs[type_name] = self.registry.get(type_name).spec()
            except UnknownDocumentType as err:
                raise ApplicationError(
                    str(err), type="UnknownDocumentType", non_retryable=True
                ) from err
        return self._specs[type_name]

    @activity.defn(name=DERIVED_ACTIVITY)
    async def derived(self, page: DerivedPage) -> list[Document]:
        """Derived documents ``offset`` to ``offset + limit`` of a manifest."""
        sha = page.manifest.sha256
        if sha not in self._manifests:
            data = await self.blobs.get_bytes(page.manifest)
            self._manifests[sha] = data.decode().splitlines()
            while len(self._manifests) > 8:  # a few fan-outs in flight per worker
                self._manifests.popitem(last=False)
        lines = self._manifests[sha][page.offset : page.offset + page.limit]
        return [Document.model_validate_json(line) for line in lines]

    @activity.defn(name=RECORD_ACTIVITY)
    async def record(self, write: ProjectionWrite) -> None:
        """Apply one projection write (retried by the workflow until the database answers)."""
        await self.writer.apply([write])
