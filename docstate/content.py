"""Content as transition functions see it: loaded on first use, or streamed.

The engine attaches a :class:`ContentSource` to the document a transition receives
(``Document.attach``). ``doc.content`` then reads the blob store on first access only, so
a transition that never touches the bytes never loads them; ``doc.open()`` streams them
in chunks and :class:`ContentWriter` streams new content into the store, so a 1 GB
document never sits whole in a worker.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import tempfile
import threading
from collections.abc import AsyncIterable, AsyncIterator, Coroutine, Iterator
from types import TracebackType
from typing import IO, Any, Protocol, TypeVar

T = TypeVar("T")

CHUNK_SIZE = 1024 * 1024
"""Chunks of inline content (the blob stores stream theirs in chunks of the same size)."""


class Store(Protocol):
    """What a source needs of a blob store (:class:`docstate.blobs.BlobStore`). Content
    addresses are ``ContentRef`` objects; this module names no model type, so the document
    model can use it without an import cycle."""

    async def put(self, chunks: AsyncIterable[bytes]) -> Any: ...

    def open(self, ref: Any) -> AsyncIterator[bytes]: ...

    async def get_bytes(self, ref: Any) -> bytes: ...


class ContentSource:
    """Where a transition's document content comes from and new content goes to.

    Args:
        blobs: The worker's blob store.
        ref: The document's content (a ``ContentRef``), or None when it has none.
    """

    def __init__(self, blobs: Store, ref: Any) -> None:
        self.blobs = blobs
        self.ref = ref
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()

    def at(self, ref: Any) -> ContentSource:
        """The same store, another content."""
        source = ContentSource.__new__(ContentSource)
        source.blobs, source.ref = self.blobs, ref
        source._loop, source._thread = self._loop, self._thread
        return source

    def load(self) -> bytes:
        """The whole content, read now (``doc.content`` on first access)."""
        if self.ref is None:
            return b""
        return self.run(self.blobs.get_bytes(self.ref))

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a blob-store call from whatever thread the function runs in."""
        if threading.get_ident() != self._thread:
            # a plain function, in a worker thread: the call runs on the worker's loop
            return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()
        # An async function reading doc.content: it cannot await here, so the read runs
        # on a loop of its own in a helper thread (this loop waits meanwhile). Async
        # functions that read large content should use ``await doc.read()`` or stream.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, coroutine).result()

    def chunks(self) -> AsyncIterator[bytes]:
        """The content in chunks, hash-checked at the end."""
        if self.ref is None:
            return _nothing()
        return self.blobs.open(self.ref)

    def writer(self) -> ContentWriter:
        """A writer that streams new content into the blob store."""
        return ContentWriter(self)


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield  # an async generator with no chunks


async def _of(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), CHUNK_SIZE):
        yield data[start : start + CHUNK_SIZE]


class ContentReader:
    """A document's content in chunks: ``async for chunk in doc.open()`` in an async
    function, ``for chunk in doc.open()`` in a plain one (it runs in a worker thread)."""

    def __init__(self, source: ContentSource | None, data: bytes | None) -> None:
        self._source = source
        self._data = data

    def __aiter__(self) -> AsyncIterator[bytes]:
        if self._data is not None or self._source is None:
            return _of(self._data or b"")
        return self._source.chunks()

    def __iter__(self) -> Iterator[bytes]:
        if self._data is not None or self._source is None:
            data = self._data or b""
            yield from (data[i : i + CHUNK_SIZE] for i in range(0, len(data), CHUNK_SIZE))
            return
        chunks = self._source.chunks()
        try:
            while True:
                try:
                    yield self._source.run(anext(chunks))  # type: ignore[arg-type]
                except StopAsyncIteration:
                    return
        finally:
            self._source.run(chunks.aclose())  # type: ignore[attr-defined]

    def spool(self, max_memory: int = 8 * 1024 * 1024) -> IO[bytes]:
        """The content in a seekable file, for libraries that need one (pypdf): in memory
        up to ``max_memory`` bytes, on disk beyond. From a plain function."""
        out = tempfile.SpooledTemporaryFile(max_size=max_memory)  # noqa: SIM115 - returned
        for chunk in self:
            out.write(chunk)
        out.seek(0)
        return out


class ContentWriter:
    """Streams new content into the blob store; ``ref`` is its address once closed.

    In an async function::

        async with doc.writer() as out:
            async for chunk in doc.open():
                await out.write(transform(chunk))
        return doc.with_ref(out.ref)

    A plain function uses ``with`` and ``out.write_sync(...)``.
    """

    def __init__(self, source: ContentSource) -> None:
        self._source = source
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=4)
        self._put: asyncio.Future[Any] | None = None
        self.ref: Any = None
        """The stored content's address, set when the writer closes."""

    async def write(self, data: bytes) -> None:
        """Add ``data`` to the content (waits while the store is behind)."""
        if self._put is None:
            self._put = asyncio.ensure_future(self._source.blobs.put(self._drain()))
        await self._queue.put(bytes(data))

    async def close(self) -> Any:
        """Finish the content and return its address."""
        if self._put is None:
            self._put = asyncio.ensure_future(self._source.blobs.put(self._drain()))
        await self._queue.put(None)
        self.ref = await self._put
        return self.ref

    async def _drain(self) -> AsyncIterator[bytes]:
        while (chunk := await self._queue.get()) is not None:
            yield chunk

    async def __aenter__(self) -> ContentWriter:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            await self.close()
        elif self._put is not None:
            self._put.cancel()

    def write_sync(self, data: bytes) -> None:
        """:meth:`write` from a plain function (a worker thread)."""
        self._source.run(self.write(data))

    def __enter__(self) -> ContentWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._source.run(self.__aexit__(exc_type, exc, tb))
