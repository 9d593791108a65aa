"""``AsyncDocStore``: the DocState-Async seed's API, on the durable engine.

    store = AsyncDocStore(connection_string="sqlite:///docs.db", document_type=pipeline,
                          max_concurrency=5)
    await store.initialize()
    doc_id = await store.add(doc)      # recorded, held before its first transition
    results = await store.next(doc)    # one transition: the document and any it derived
    final = await store.finish(doc)    # to the end: the documents in final states
    await store.dispose()

Unlike the seed, every document is a Temporal workflow: if the process dies, its
documents are where they were, and ``initialize()`` in a new process takes them up again.
"""

from __future__ import annotations

import builtins
import time

from temporalio.worker import Worker

from docstate.client import Client
from docstate.config import Settings
from docstate.document import Document, Status
from docstate.durations import shown_seconds
from docstate.engine import build_worker
from docstate.errors import ConfigurationError, NoWorker, WaitTimeout
from docstate.model import DocumentType
from docstate.projection import CoalescingWriter, ProjectionWriter, upgrade
from docstate.projection.records import DocumentRecord
from docstate.registry import Registry

_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
}


def async_url(connection_string: str) -> str:
    """The seed's URLs (``sqlite:///docs.db``) with the async driver DocState uses."""
    scheme, sep, rest = connection_string.partition("://")
    return f"{_ASYNC_DRIVERS.get(scheme, scheme)}{sep}{rest}"


class AsyncDocStore:
    """Documents of one type, processed a step at a time or to the end (seed API).

    Args:
        connection_string: The projection database (``sqlite:///...`` or ``postgresql://``).
        document_type: The pipeline.
        max_concurrency: Transitions running at once in this process.
        settings: Temporal address, task queue, blob store (default: ``DOCSTATE_*``).
    """

    def __init__(
        self,
        connection_string: str,
        document_type: DocumentType,
        max_concurrency: int = 10,
        settings: Settings | None = None,
    ) -> None:
        base = settings or Settings()
        self.document_type = document_type
        self.max_concurrency = max_concurrency
        self.settings = base.model_copy(
            update={
                "database_url": async_url(connection_string),
                "task_queue": f"{base.task_queue}-{document_type.name}",
            }
        )
        self._client: Client | None = None
        self._worker: Worker | None = None
        self._writer: CoalescingWriter | None = None

    async def initialize(self) -> None:
        """Migrate the database, connect, and start processing in this process."""
        await upgrade(self.settings.database_url)
        self._client = await Client.connect(self.settings)
        self._writer = CoalescingWriter(ProjectionWriter(self._client.queries.engine))
        self._worker = build_worker(
            self._client.temporal,
            task_queue=self.settings.task_queue,
            registry=Registry([self.document_type]),
            writer=self._writer,
            blobs=self._client.blobs,
            inline_threshold=self.settings.inline_threshold,
            max_concurrent_activities=self.max_concurrency,
        )
        await self._worker.__aenter__()

    @property
    def client(self) -> Client:
        if self._client is None:
            raise ConfigurationError("call `await store.initialize()` first")
        return self._client

    async def add(self, doc: Document, *, timeout: float | None = None) -> str:
        """Record ``doc`` (of this store's type), held before its first transition.

        Raises:
            NoWorker: when this store's worker is not running (``initialize()`` first).
            WaitTimeout: when it is not recorded within ``timeout`` seconds.
        """
        self._require_worker()
        document = doc.model_copy(update={"type": self.document_type.name})
        submitted = await self.client.submit(
            document.content,
            type=document.type,
            id=document.id,
            metadata=document.metadata,
            hold=True,
        )
        await self._settled(submitted.id, after=-1, timeout=timeout)
        return submitted.id

    async def next(
        self, doc: Document | str, *, timeout: float | None = None
    ) -> builtins.list[Document]:
        """Run one transition; the resulting documents (the document, then any derived).

        Raises:
            NoWorker: when this store's worker is not running (``initialize()`` first).
            WaitTimeout: when the transition has not settled within ``timeout`` seconds.
        """
        self._require_worker()
        doc_id = doc if isinstance(doc, str) else doc.id
        before = await self.client.get(doc_id)
        if before.status.closed or self.document_type.is_final(before.state):
            return [await self._document(before)]
        await self.client.step(doc_id)
        record = await self._settled(doc_id, after=before.version, timeout=timeout)
        derived = [
            r for r in await self.client.children(doc_id) if r.created_at >= before.updated_at
        ]
        return [await self._document(r) for r in [record, *derived]]

    async def finish(
        self, doc: Document | str, *, timeout: float | None = None
    ) -> builtins.list[Document]:
        """Run to the end; the documents of its lineage in final states (leaves first).

        Raises:
            NoWorker: when this store's worker is not running (``initialize()`` first).
            WaitTimeout: when it has not ended within ``timeout`` seconds.
        """
        self._require_worker()
        doc_id = doc if isinstance(doc, str) else doc.id
        record = await self.client.get(doc_id)
        if record.status is Status.PAUSED:
            await self.client.resume(doc_id)
        async for _ in self.client.progress(doc_id, timeout=timeout):
            pass
        tree = await self.client.tree(doc_id)
        parents = {r.parent_id for r in tree}
        final = [r for r in tree if r.id not in parents] or tree[:1]
        return [await self._document(r) for r in final]

    async def dispose(self) -> None:
        """Stop processing here (documents stay durable) and release connections."""
        if self._worker is not None:
            await self._worker.__aexit__(None, None, None)
            self._worker = None
        if self._writer is not None:
            await self._writer.close()
            self._writer = None
        if self._client is not None:
            await self._client.close()
            self._client = None

    def _require_worker(self) -> None:
        if self._worker is None or self._worker.is_shutdown:
            raise NoWorker(
                f"the worker of this {self.document_type.name!r} store is not running: "
                "call `await store.initialize()` first (documents wait durably until then)"
            )

    async def _settled(self, doc_id: str, after: int, timeout: float | None) -> DocumentRecord:
        """Served by the client's watcher, like every other wait; each second it also
        checks that this store's worker still runs (without it nothing settles)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self._require_worker()
            left = 1.0 if deadline is None else min(1.0, deadline - time.monotonic())
            if left <= 0:
                raise WaitTimeout(
                    f"document {doc_id!r} has not settled after {shown_seconds(timeout)}"
                )
            try:
                return await self.client.watcher.wait(
                    doc_id, timeout=left, until=lambda r: r.version > after and r.status.settled
                )
            except TimeoutError:
                continue

    async def _document(self, record: DocumentRecord) -> Document:
        content = (
            await self.client.blobs.get_bytes(record.content_ref) if record.content_ref else None
        )
        return Document(
            id=record.id,
            type=record.type,
            state=record.state,
            content=content,
            content_ref=record.content_ref,
            metadata=record.metadata,
            parent_id=record.parent_id,
            root_id=record.root_id,
        )
