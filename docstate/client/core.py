"""What every part of the client shares: the connections, and its error boundary."""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.client import Client as TemporalClient
from temporalio.client import WorkflowHandle

from docstate.blobs import BlobStore
from docstate.client.failures import ErrorBoundary
from docstate.client.watcher import Watcher
from docstate.config import Settings
from docstate.errors import TemporalUnavailable
from docstate.projection.queries import ProjectionQueries
from docstate.protocol import workflow_id
from docstate.temporal import connect_temporal


class ClientCore:
    """The connections of a :class:`~docstate.Client`; Temporal's may come lazily.

    Args:
        temporal: A Temporal client using ``pydantic_data_converter``; None to connect
            on first need (reading the projection never needs it).
        settings: Task queue, inline threshold, database.
        queries: Read access to the projection.
        blobs: The blob store content is written to.
    """

    def __init__(
        self,
        temporal: TemporalClient | None,
        settings: Settings,
        queries: ProjectionQueries,
        blobs: BlobStore,
    ) -> None:
        self._temporal = temporal
        self._connecting = asyncio.Lock()
        self.settings = settings
        self.queries = queries
        self.blobs = blobs
        self._errors = ErrorBoundary(settings.database_url, settings.temporal_address)
        # every wait and progress stream of this client shares it: one query per tick
        self.watcher = Watcher(queries.engine, interval=settings.watch_interval)

    @property
    def temporal(self) -> TemporalClient:
        """The Temporal client (:meth:`temporal_client` connects a lazy client first).

        Raises:
            TemporalUnavailable: when this client has not connected to Temporal yet.
        """
        if self._temporal is None:
            raise TemporalUnavailable(
                "this client has not connected to Temporal yet: await client.temporal_client()"
            )
        return self._temporal

    async def temporal_client(self) -> TemporalClient:
        """The Temporal client, connecting first if this client was made ``lazy``.

        Raises:
            TemporalUnavailable: when Temporal does not answer.
        """
        async with self._connecting:
            if self._temporal is None:
                self._temporal = await connect_temporal(self.settings)
        return self._temporal

    async def _handle(self, document_id: str) -> WorkflowHandle[Any, Any]:
        """The handle of the document's workflow (connecting a lazy client first)."""
        return (await self.temporal_client()).get_workflow_handle(workflow_id(document_id))
