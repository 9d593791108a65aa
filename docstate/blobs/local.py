"""The local blob store: content as files under a directory (the embedded default)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import BinaryIO

from docstate.blobcrypt import Tally, seal, unseal
from docstate.blobs.base import BlobStore, chunks_of, verified
from docstate.document import ContentRef
from docstate.errors import BlobStoreError, ContentError
from docstate.keys import KeyRing


class LocalBlobStore(BlobStore):
    """Blobs as files under a directory: ``<root>/<sha[:2]>/<sha>``, private to the user
    (folders 0700, files 0600).

    With ``keys``, blobs are written encrypted (``<sha>.enc``, see
    :mod:`docstate.blobcrypt`), still addressed by the sha256 of their plaintext; blobs
    stored before encryption was turned on still read.
    """

    def __init__(self, root: Path, keys: KeyRing | None = None) -> None:
        self.root = root
        self.keys = keys

    def path(self, sha256: str, *, sealed: bool | None = None) -> Path:
        sealed = self.keys is not None if sealed is None else sealed
        return self.root / sha256[:2] / (f"{sha256}.enc" if sealed else sha256)

    async def put(self, chunks: AsyncIterable[bytes]) -> ContentRef:
        tally = Tally()
        stream = tally.through(chunks)
        if self.keys is not None:
            stream = seal(self.keys, stream)
        try:
            await asyncio.to_thread(self.root.mkdir, mode=0o700, parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(dir=self.root, prefix=".incoming-")  # mode 0600
        except OSError as err:
            raise self._cannot_store(err) from err
        try:
            with os.fdopen(fd, "wb") as tmp:
                async for piece in stream:
                    await asyncio.to_thread(tmp.write, piece)
            ref = ContentRef(sha256=tally.digest.hexdigest(), size=tally.size)
            await asyncio.to_thread(self._commit, Path(tmp_name), ref)
        except OSError as err:  # the store's own files: a full disk, a read-only folder
            raise self._cannot_store(err) from err
        finally:  # gone after a commit; left over after a failure or a duplicate
            await asyncio.to_thread(Path(tmp_name).unlink, missing_ok=True)
        return ref

    def _cannot_store(self, err: OSError) -> BlobStoreError:
        # Said as the blob store's fault, not the database's (OSError is also what a
        # database connection raises, and would otherwise be reported as one).
        return BlobStoreError(
            f"cannot store content under {self.root}: {err.strerror or err} "
            "(check DOCSTATE_BLOB_DIR)"
        )

    def _commit(self, tmp: Path, ref: ContentRef) -> None:
        final = self.path(ref.sha256)
        if final.exists():
            return  # the same bytes are already stored
        final.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.replace(tmp, final)  # atomic: readers never see a half-written blob

    async def put_bytes(self, data: bytes) -> ContentRef:
        # Fast path for the common case of small content produced by a transition.
        ref = ContentRef(sha256=hashlib.sha256(data).hexdigest(), size=len(data))
        if not await asyncio.to_thread(self.path(ref.sha256).exists):
            await super().put_bytes(data)
        return ref

    async def delete(self, sha256: str) -> None:
        await asyncio.to_thread(self.path(sha256).unlink, missing_ok=True)

    async def open(self, ref: ContentRef) -> AsyncIterator[bytes]:
        # Either form may be there: written before or after encryption was turned on.
        for sealed in (True, False):
            path = self.path(ref.sha256, sealed=sealed)
            try:
                handle: BinaryIO = await asyncio.to_thread(path.open, "rb")
                break
            except FileNotFoundError:
                continue
        else:
            raise ContentError(f"blob {ref.sha256} is missing from {self.root}")
        try:
            chunks = chunks_of(handle)
            if sealed:
                chunks = unseal(self.keys, chunks, f"blob {ref.sha256}")
            async for chunk in verified(ref, chunks):
                yield chunk
        finally:
            handle.close()
