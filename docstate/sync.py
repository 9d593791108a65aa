"""``SyncClient``: the client's methods for scripts and notebooks, without ``async``."""

from __future__ import annotations

import asyncio
import builtins
import threading
from collections.abc import AsyncIterator, Coroutine, Iterable, Iterator
from types import TracebackType
from typing import Any, TypeVar, Unpack

from docstate.batch import BatchOptions, Submission, SubmitResult
from docstate.client import Client, Content
from docstate.config import Settings
from docstate.document import Document
from docstate.projection.records import DocumentFilter, DocumentRecord, EventRecord
from docstate.protocol import Snapshot

T = TypeVar("T")


class SyncClient:
    """Blocking twin of :class:`docstate.Client`; ``with SyncClient.connect() as ds: ...``.

    Its event loop runs in a thread of its own, so it also works where one is already
    running (a Jupyter notebook).
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        try:
            self._client = self._run(Client.connect(settings))
        except BaseException:
            self._stop()
            raise

    @classmethod
    def connect(cls, settings: Settings | None = None) -> SyncClient:
        """Connect using ``settings`` (by default, from ``DOCSTATE_*`` variables)."""
        return cls(settings)

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def _stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def close(self) -> None:
        self._run(self._client.close())
        self._stop()

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def submit(
        self,
        content: Content | None = None,
        *,
        type: str,
        id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Document:
        return self._run(self._client.submit(content, type=type, id=id, metadata=metadata))

    def submit_many(
        self,
        items: Iterable[Content | Submission],
        *,
        type: str,
        **options: Unpack[BatchOptions],
    ) -> builtins.list[SubmitResult]:
        return self._run(self._client.submit_many(items, type=type, **options))

    def submit_and_wait(
        self,
        content: Content | None = None,
        *,
        type: str,
        id: str | None = None,
        metadata: dict[str, Any] | None = None,
        poll_interval: float = 0.2,
        timeout: float | None = None,
    ) -> DocumentRecord:
        return self._run(
            self._client.submit_and_wait(
                content,
                type=type,
                id=id,
                metadata=metadata,
                poll_interval=poll_interval,
                timeout=timeout,
            )
        )

    def get(self, document_id: str, *, with_content: bool = False) -> DocumentRecord:
        return self._run(self._client.get(document_id, with_content=with_content))

    def list(
        self, *, limit: int = 100, **filters: Unpack[DocumentFilter]
    ) -> builtins.list[DocumentRecord]:
        return self._run(self._client.list(limit=limit, **filters))

    def history(self, document_id: str) -> builtins.list[EventRecord]:
        return self._run(self._client.history(document_id))

    def children(self, document_id: str) -> builtins.list[DocumentRecord]:
        return self._run(self._client.children(document_id))

    def tree(self, document_id: str) -> builtins.list[DocumentRecord]:
        return self._run(self._client.tree(document_id))

    def path(self, document_id: str) -> builtins.list[DocumentRecord]:
        return self._run(self._client.path(document_id))

    def wait(self, document_id: str, *, timeout: float | None = None) -> DocumentRecord:
        return self._run(self._client.wait(document_id, timeout=timeout))

    def snapshot(self, document_id: str) -> Snapshot:
        return self._run(self._client.snapshot(document_id))

    def cancel(self, document_id: str) -> None:
        self._run(self._client.cancel(document_id))

    def retry(self, document_id: str) -> Snapshot:
        return self._run(self._client.retry(document_id))

    def skip(self, document_id: str) -> Snapshot:
        return self._run(self._client.skip(document_id))

    def pause(self, document_id: str) -> Snapshot:
        return self._run(self._client.pause(document_id))

    def resume(self, document_id: str) -> Snapshot:
        return self._run(self._client.resume(document_id))

    def content(self, document_id: str) -> bytes:
        """The whole content (for small documents; the async client streams)."""

        async def read() -> bytes:
            return b"".join([chunk async for chunk in self._client.content(document_id)])

        return self._run(read())

    def progress(self, document_id: str, *, timeout: float | None = None) -> Iterator[EventRecord]:
        """The document's events as they are recorded, until it ends."""
        stream: AsyncIterator[EventRecord] = self._client.progress(document_id, timeout=timeout)

        async def step() -> EventRecord | None:
            return await anext(stream, None)

        while (event := self._run(step())) is not None:
            yield event
