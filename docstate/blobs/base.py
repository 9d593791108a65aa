"""Content storage addressed by sha256: the same bytes are stored once.

Content moves in chunks both ways, so a large file never sits whole in memory on its
way in or out. Reads verify the hash: a damaged or substituted blob is reported, never
returned silently.
"""

from __future__ import annotations

import asyncio
import hashlib
from abc import ABC, abstractmethod
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import BinaryIO

from docstate.document import ContentRef
from docstate.errors import ContentError

CHUNK_SIZE = 1024 * 1024


class BlobStore(ABC):
    """Where document content lives; the projection stores only size and hash."""

    @abstractmethod
    async def put(self, chunks: AsyncIterable[bytes]) -> ContentRef:
        """Store a stream of chunks; return its address."""

    @abstractmethod
    def open(self, ref: ContentRef) -> AsyncIterator[bytes]:
        """Stream the content at ``ref`` in chunks, verifying its hash at the end.

        Raises:
            ContentError: when the blob is missing or does not match ``ref``.
        """

    @abstractmethod
    async def delete(self, sha256: str) -> None:
        """Remove the blob ``sha256`` (nothing happens when it is absent)."""

    async def put_bytes(self, data: bytes) -> ContentRef:
        """Store ``data`` held in memory."""

        async def one_chunk() -> AsyncIterator[bytes]:
            yield data

        return await self.put(one_chunk())

    async def put_file(self, path: Path) -> ContentRef:
        """Store a file, streamed from disk."""
        return await self.put(read_file(path))

    async def get_bytes(self, ref: ContentRef) -> bytes:
        """The whole content at ``ref``; for content known to be small."""
        return b"".join([chunk async for chunk in self.open(ref)])


class Head:
    """Passes chunks through, keeping them while they add up to at most ``limit`` bytes:
    small content streamed into the store is at hand afterwards without reading it back."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._kept: list[bytes] | None = []
        self._size = 0

    async def through(self, chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        async for chunk in chunks:
            self._size += len(chunk)
            if self._kept is not None and self._size <= self.limit:
                self._kept.append(chunk)
            else:
                self._kept = None
            yield chunk

    @property
    def data(self) -> bytes | None:
        """All the content, when it was small enough; otherwise None."""
        return b"".join(self._kept) if self._kept is not None else None


async def read_file(path: Path) -> AsyncIterator[bytes]:
    """A file's content, a chunk at a time."""
    try:
        handle = await asyncio.to_thread(path.open, "rb")
    except OSError as err:
        raise ContentError(f"cannot read {path}: {err.strerror}") from err
    try:
        async for chunk in chunks_of(handle):
            yield chunk
    finally:
        handle.close()


async def chunks_of(handle: BinaryIO) -> AsyncIterator[bytes]:
    while chunk := await asyncio.to_thread(handle.read, CHUNK_SIZE):
        yield chunk


async def verified(ref: ContentRef, chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    """Pass ``chunks`` through, then fail if they were not the content ``ref`` names.

    Raises:
        ContentError: naming the blob, when its size or hash differ from ``ref``.
    """
    digest = hashlib.sha256()
    size = 0
    async for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
        yield chunk
    if digest.hexdigest() != ref.sha256 or size != ref.size:
        raise ContentError(
            f"blob {ref.sha256} is corrupt: read {size} bytes hashing to "
            f"{digest.hexdigest()}, expected {ref.size} bytes"
        )
