"""Example pipeline with derived documents: a PDF becomes pages, a page becomes chunks.

    pdf:   received --split_pages--> paged        (one `page` document per page)
    page:  new      --chunk-------> chunked      (one `chunk` document per ~60 words)
    chunk: new      --index-------> indexed      (word count and top terms)

Every page and chunk is its own document: its own workflow (a child of its parent's in
the Temporal web UI), its own row in the projection, linked by parent_id and root_id.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from datetime import timedelta

from pypdf import PdfReader
from pypdf.errors import PyPdfError

from docstate import Document, DocumentType, FanOut, PermanentError, Retry, State, Transition

CHUNK_WORDS = 60
STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "in",
        "is",
        "it",
        "of",
        "on",
        "or",
        "that",
        "the",
        "to",
        "with",
    ]
)


def split_pages(doc: Document) -> list[Document]:
    """One `page` document per PDF page, carrying its text (pypdf, in a worker thread)."""
    try:
        reader = PdfReader(io.BytesIO(doc.content or b""))
        texts = [page.extract_text() or "" for page in reader.pages]
    except (PyPdfError, ValueError, KeyError, TypeError) as err:
        raise PermanentError(f"corrupt PDF: {err}") from err
    return [
        doc.derive(text, key=number, type="page", page=number, pages=len(texts))
        for number, text in enumerate(texts, start=1)
    ]


def chunk(doc: Document) -> list[Document]:
    """Chunks of about CHUNK_WORDS words: the unit a search index or an LLM takes."""
    words = doc.text.split()
    return [
        doc.derive(
            " ".join(words[i : i + CHUNK_WORDS]),
            key=f"c{i // CHUNK_WORDS}",
            type="chunk",
            page=doc.metadata.get("page"),
            first_word=i,
        )
        for i in range(0, len(words), CHUNK_WORDS)
    ]


def index(doc: Document) -> Document:
    """Word count and the most frequent terms of a chunk."""
    terms = [w for w in re.findall(r"[a-z0-9]+", doc.text.lower()) if w not in STOP_WORDS]
    top = [term for term, _ in Counter(terms).most_common(5)]
    return doc.model_copy(
        update={"metadata": {**doc.metadata, "words": len(doc.text.split()), "terms": top}}
    )


PDF = DocumentType(
    name="pdf",
    states=[State("received", initial=True), State("paged", final=True)],
    transitions=[
        Transition(
            name="split_pages",
            source="received",
            target="paged",
            run=split_pages,
            retry=Retry(initial_interval=timedelta(milliseconds=500), max_attempts=3),
            heartbeat=timedelta(seconds=10),
            fan_out=FanOut(window=50),
        )
    ],
)

PAGE = DocumentType(
    name="page",
    states=[State("new", initial=True), State("chunked", final=True)],
    transitions=[
        Transition(
            name="chunk", source="new", target="chunked", run=chunk, fan_out=FanOut(window=20)
        )
    ],
)

CHUNK = DocumentType(
    name="chunk",
    states=[State("new", initial=True), State("indexed", final=True)],
    transitions=[Transition(name="index", source="new", target="indexed", run=index)],
)
