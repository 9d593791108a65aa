"""Blob content encrypted at rest with the payload keys, a record at a time.

A sealed blob is a header (magic, key id) and records, each at most ``RECORD`` bytes of
plaintext sealed with AES-256-GCM and a random nonce. Every record's associated data
holds its index and whether it is the last, so records cannot be reordered, dropped or
cut off without the read failing. Content streams through in records both ways: a large
blob never sits whole in memory, sealed or not.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import AsyncIterable, AsyncIterator

from docstate.errors import ContentError, EncryptionKeyError
from docstate.keys import KeyRing

MAGIC = b"DSBLOB1\n"
RECORD = 1024 * 1024
CONTEXT = b"docstate-blob-v1:"
_LENGTH = struct.Struct(">I")


class Tally:
    """Hashes and counts the plaintext passing through (content is addressed by it)."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.size = 0

    async def through(self, chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        async for chunk in chunks:
            self.digest.update(chunk)
            self.size += len(chunk)
            yield chunk


def _context(index: int, last: bool) -> bytes:
    return CONTEXT + struct.pack(">Q?", index, last)


async def _pieces(chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    """``chunks`` re-cut into pieces of at most ``RECORD`` bytes."""
    async for chunk in chunks:
        for start in range(0, len(chunk), RECORD):
            yield chunk[start : start + RECORD]


async def seal(keys: KeyRing, chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    """``chunks`` as a sealed blob, encrypted with the current key."""
    key_id = keys.current_id.encode()
    yield MAGIC + bytes([len(key_id)]) + key_id
    index = 0
    pending: bytes | None = None
    async for piece in _pieces(chunks):
        if pending is not None:  # one piece behind, to know which record is the last
            yield _record(keys, pending, index, last=False)
            index += 1
        pending = piece
    yield _record(keys, pending or b"", index, last=True)


def _record(keys: KeyRing, piece: bytes, index: int, *, last: bool) -> bytes:
    _, sealed = keys.seal(piece, _context(index, last))
    return _LENGTH.pack(len(sealed)) + sealed


class _Reader:
    """Exact-size reads over a stream of chunks of any size."""

    def __init__(self, chunks: AsyncIterable[bytes]) -> None:
        self._chunks = aiter(chunks)
        self._buffer = bytearray()

    async def read(self, size: int) -> bytes:
        while len(self._buffer) < size:
            chunk = await anext(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data


async def unseal(
    keys: KeyRing | None, chunks: AsyncIterable[bytes], what: str
) -> AsyncIterator[bytes]:
    """The plaintext of a sealed blob, a record at a time.

    Raises:
        EncryptionKeyError: when its key is missing here, or a record does not decrypt.
        ContentError: when it is not a sealed blob, or is cut short.
    """
    reader = _Reader(chunks)
    head = await reader.read(len(MAGIC) + 1)
    if len(head) < len(MAGIC) + 1 or head[: len(MAGIC)] != MAGIC:
        raise ContentError(f"{what} is not a DocState encrypted blob")
    key_id = (await reader.read(head[-1])).decode(errors="replace")
    if keys is None:
        raise EncryptionKeyError(
            f"{what} is encrypted with key {key_id!r}, but this process has no keys "
            "(set DOCSTATE_ENCRYPTION_KEYS or DOCSTATE_ENCRYPTION_KEYS_FILE)"
        )
    keys.cipher(key_id, what)  # a missing key is named before any record is read
    index = 0
    record = await _next_record(reader, what)
    while record is not None:
        following = await _next_record(reader, what)
        yield keys.unseal(key_id, record, _context(index, following is None), what)
        index += 1
        record = following
    if index == 0:
        raise ContentError(f"{what} is cut short: no records")


async def _next_record(reader: _Reader, what: str) -> bytes | None:
    length = await reader.read(_LENGTH.size)
    if not length:
        return None
    if len(length) < _LENGTH.size:
        raise ContentError(f"{what} is cut short")
    (size,) = _LENGTH.unpack(length)
    record = await reader.read(size)
    if len(record) < size:
        raise ContentError(f"{what} is cut short")
    return record
