"""The document as transition functions see it, and its status."""

from __future__ import annotations

import enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from docstate.content import ContentReader, ContentSource, ContentWriter
from docstate.errors import ContentError


class Status(enum.StrEnum):
    """Where a document stands, orthogonal to its state in the pipeline."""

    PENDING = "pending"
    RUNNING = "running"
    WAITING = "waiting"
    """A transition failed for good; the document waits for retry, skip or cancel."""
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def settled(self) -> bool:
        """True when nothing happens until someone acts (or ever again)."""
        return self in _SETTLED

    @property
    def closed(self) -> bool:
        """True when the document's workflow has ended."""
        return self in _CLOSED


_CLOSED = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED})
_SETTLED = _CLOSED | {Status.WAITING, Status.PAUSED}


class ContentRef(BaseModel):
    """Where a document's bytes live in the blob store: addressed by their sha256."""

    model_config = ConfigDict(frozen=True)

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)


class Document(BaseModel):
    """A document moving through a pipeline.

    Transition functions receive a ``Document`` and return the updated document
    (``model_copy(update=...)`` or :meth:`with_content`). They never set ``state``: the
    engine does. Large content is loaded only when the function reads ``content`` or
    ``text`` (or ``await doc.read()``), and can be streamed instead: ``doc.open()`` reads
    it in chunks, ``doc.writer()`` writes new content in chunks (:meth:`with_ref`).

    Attributes:
        id: Unique id; the document's workflow id derives from it.
        type: Name of the pipeline (``DocumentType``) that drives it.
        state: Current state in that pipeline (set by the engine).
        content: The bytes, when loaded. Large content travels through Temporal only as
            ``content_ref``.
        content_ref: Address of the content in the blob store.
        metadata: Free-form JSON metadata; transition rules (``when``) read it.
        parent_id: The document this one was derived from, if any.
        root_id: The original document of its lineage (itself for an original).
    """

    # Bytes travel as base64 in JSON: the default (UTF-8) cannot carry binary content.
    model_config = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")

    id: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:@/+=-]+$")
    type: str = Field(min_length=1)
    state: str = ""
    content: bytes | None = None
    content_ref: ContentRef | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    parent_id: str | None = None
    root_id: str | None = None
    # Set by the engine inside a transition; never serialised, so payloads are unchanged.
    _source: ContentSource | None = PrivateAttr(default=None)

    def __getattribute__(self, name: str) -> Any:
        # ``content`` by reference is read from the blob store on first access only.
        if name == "content":
            data = super().__getattribute__("__dict__").get("content")
            if data is None:
                # private attributes live in __pydantic_private__, not __dict__
                private = super().__getattribute__("__pydantic_private__") or {}
                source = private.get("_source")
                if source is not None and source.ref is not None:
                    data = self.__dict__["content"] = source.load()
            return data
        return super().__getattribute__(name)

    @property
    def text(self) -> str:
        """The content decoded as UTF-8 (empty when there is none)."""
        return (self.content or b"").decode("utf-8")

    async def read(self) -> bytes:
        """The whole content, loaded without blocking the event loop (async functions)."""
        data = self.__dict__.get("content")
        if data is None and self._source is not None and self._source.ref is not None:
            data = self.__dict__["content"] = await self._source.blobs.get_bytes(self._source.ref)
        return data or b""

    def open(self) -> ContentReader:
        """The content in chunks (hash-checked), without loading it whole:
        ``async for chunk in doc.open()``, or ``for`` in a plain function."""
        return ContentReader(self._source, self.__dict__.get("content"))

    def writer(self) -> ContentWriter:
        """A writer streaming new content into the blob store (inside a transition)::

        async with doc.writer() as out:
            await out.write(chunk)
        return doc.with_ref(out.ref)
        """
        if self._source is None:
            raise ContentError("doc.writer() works inside a transition only")
        return self._source.writer()

    def with_ref(self, ref: ContentRef | None, **metadata: Any) -> Document:
        """Return a copy whose content is the stored ``ref`` (from :meth:`writer`)."""
        copy = self.model_copy(
            update={"content": None, "content_ref": ref, "metadata": {**self.metadata, **metadata}}
        )
        if self._source is not None:
            copy._source = self._source.at(ref)
        return copy

    def derive(
        self,
        content: bytes | str | ContentRef | None = None,
        *,
        key: str | int,
        type: str | None = None,
        **metadata: Any,
    ) -> Document:
        """A new document derived from this one (a page of a PDF, a chunk of a page).

        Args:
            content: Its content (bytes or text), or stored content (a ``ContentRef`` from
                :meth:`writer`).
            key: Unique among this document's derived documents; the derived id is
                ``<this id>/<key>``, so re-running a transition derives the same ids.
            type: Its document type (pipeline); this document's type by default.
            **metadata: Its metadata.
        """
        ref = content if isinstance(content, ContentRef) else None
        data = content.encode("utf-8") if isinstance(content, str) else content
        return Document(
            id=f"{self.id}/{key}",
            type=type or self.type,
            content=None if ref else data,
            content_ref=ref,
            metadata=metadata,
            parent_id=self.id,
            root_id=self.root_id or self.id,
        )

    def with_content(self, content: bytes | str, **metadata: Any) -> Document:
        """Return a copy with new content (and metadata keys merged in)."""
        data = content.encode("utf-8") if isinstance(content, str) else content
        return self.model_copy(
            update={
                "content": data,
                "content_ref": None,
                "metadata": {**self.metadata, **metadata},
            }
        )


class TransitionResult(BaseModel):
    """What a transition function may return to emit derived documents.

    A function may also return the updated ``Document`` alone, ``None`` (unchanged), or a
    list of documents (all of them derived; the document itself unchanged).
    """

    document: Document | None = None
    derived: list[Document] = Field(default_factory=list)
