"""The derived-documents manifest: how a transition's derived documents travel.

A transition may derive thousands of documents; Temporal payloads must stay small. So
the transition activity writes them to the blob store as one manifest (JSON lines, one
lean document each, content by reference) and only the manifest's reference travels.
The workflow reads it back a page at a time as it starts child workflows.
"""

from __future__ import annotations

from collections import OrderedDict

from docstate.blobs import BlobStore
from docstate.document import ContentRef, Document

MANIFESTS_CACHED = 8
"""Manifests a worker keeps parsed: a few fan-outs in flight per worker."""


async def write_manifest(blobs: BlobStore, derived: list[Document]) -> ContentRef:
    """Store each derived document's content, then the manifest listing them all."""
    lines = []
    for child in derived:
        ref = child.content_ref
        if child.content is not None:
            ref = await blobs.put_bytes(child.content)
        # Derived documents always travel by reference: a page of 200 of them must fit
        # in one payload whatever their size.
        lean = child.model_copy(update={"content": None, "content_ref": ref})
        lines.append(lean.model_dump_json())
    return await blobs.put_bytes(("\n".join(lines) + "\n").encode())


class ManifestReader:
    """Pages of manifests, each read from the blob store once while it is in use."""

    def __init__(self, blobs: BlobStore) -> None:
        self.blobs = blobs
        self._lines: OrderedDict[str, list[str]] = OrderedDict()

    async def page(self, manifest: ContentRef, offset: int, limit: int) -> list[Document]:
        """Derived documents ``offset`` to ``offset + limit`` of ``manifest``."""
        sha = manifest.sha256
        if sha not in self._lines:
            data = await self.blobs.get_bytes(manifest)
            self._lines[sha] = data.decode().splitlines()
            while len(self._lines) > MANIFESTS_CACHED:
                self._lines.popitem(last=False)
        lines = self._lines[sha][offset : offset + limit]
        return [Document.model_validate_json(line) for line in lines]
