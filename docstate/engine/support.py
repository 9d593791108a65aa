"""The workflow's own activities: a pipeline's shape, status changes, derived documents."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from docstate.blobs import BlobStore
from docstate.document import Document
from docstate.engine.manifest import ManifestReader
from docstate.engine.outage import DATABASE_ERRORS, outages, retried_quietly
from docstate.errors import UnknownDocumentType
from docstate.model import KeyLimits, PipelineSpec
from docstate.projection.records import ProjectionWrite
from docstate.projection.writer import Writer
from docstate.protocol import (
    BEGIN_ACTIVITY,
    DERIVED_ACTIVITY,
    RECORD_ACTIVITY,
    START_ACTIVITY,
    DerivedPage,
)
from docstate.registry import Registry

log = logging.getLogger(__name__)


class WorkflowActivities:
    """Local activities the document workflow runs between transitions."""

    def __init__(
        self,
        registry: Registry,
        writer: Writer,
        blobs: BlobStore,
        key_limits: KeyLimits | None = None,
    ) -> None:
        self.registry = registry
        self.writer = writer
        self.blobs = blobs
        # Handed to each document with its pipeline's shape (recorded in its history).
        self.key_limits = key_limits if key_limits and key_limits.any else None
        self._specs: dict[str, PipelineSpec] = {}
        self._manifests = ManifestReader(blobs)

    @activity.defn(name=BEGIN_ACTIVITY)
    async def begin(self, running: ProjectionWrite) -> PipelineSpec:
        """A document's first step: the shape of its pipeline (recorded in history, so
        replay is exact), and its ``running`` row, in the pipeline's initial state."""
        spec = await self.start(running.type)
        await self.record(running.model_copy(update={"state": spec.initial}))
        return spec

    @activity.defn(name=START_ACTIVITY)
    async def start(self, type_name: str) -> PipelineSpec:
        """The shape of pipeline ``type_name`` (documents started before ``begin``)."""
        if type_name not in self._specs:
            try:
                spec = self.registry.get(type_name).spec()
                self._specs[type_name] = spec.model_copy(update={"key_limits": self.key_limits})
            except UnknownDocumentType as err:
                # The submitter's mistake, not the worker's: one line here, no stack (BENIGN
                # keeps the SDK from logging its traceback); the document fails with it.
                log.warning("%s: %s", activity.info().workflow_id, err)
                raise ApplicationError(
                    str(err),
                    type="UnknownDocumentType",
                    non_retryable=True,
                    category=ApplicationErrorCategory.BENIGN,
                ) from err
        return self._specs[type_name]

    @activity.defn(name=DERIVED_ACTIVITY)
    async def derived(self, page: DerivedPage) -> list[Document]:
        """Derived documents ``offset`` to ``offset + limit`` of a manifest."""
        return await self._manifests.page(page.manifest, page.offset, page.limit)

    @activity.defn(name=RECORD_ACTIVITY)
    async def record(self, write: ProjectionWrite) -> None:
        """Apply one projection write (retried by the workflow until the database answers;
        a database failure is logged once per document per outage, see ``outage``).

        Stamped no earlier than now: the workflow's clock is its task's start, before the
        attempts this status follows (local ones run in the same task) wrote theirs.
        """
        at = max(write.at, datetime.now(UTC))
        try:
            await self.writer.apply([write.model_copy(update={"at": at})])
        except DATABASE_ERRORS as err:
            raise retried_quietly(write.document_id, err) from None
        outages.succeeded(write.document_id)
