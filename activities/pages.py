"""Transition functions of the ``pdf``, ``page`` and ``chunk`` pipelines
(``workflows/pages.py``): a PDF becomes pages, a page becomes chunks."""

from __future__ import annotations

import re
from collections import Counter

from pypdf import PdfReader
from pypdf.errors import PyPdfError

from activities.text import text_of
from docstate import Document, PermanentError

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
        # streamed into a seekable file (on disk when large), not loaded whole
        reader = PdfReader(doc.open().spool())
        texts = [page.extract_text() or "" for page in reader.pages]
    except (PyPdfError, ValueError, KeyError, TypeError) as err:
        raise PermanentError(f"corrupt PDF: {err}") from err
    return [
        doc.derive(text, key=number, type="page", page=number, pages=len(texts))
        for number, text in enumerate(texts, start=1)
    ]


def chunk(doc: Document) -> list[Document]:
    """Chunks of about CHUNK_WORDS words: the unit a search index or an LLM takes."""
    words = text_of(doc).split()
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
    terms = [w for w in re.findall(r"[a-z0-9]+", text_of(doc).lower()) if w not in STOP_WORDS]
    top = [term for term, _ in Counter(terms).most_common(5)]
    return doc.model_copy(
        update={"metadata": {**doc.metadata, "words": len(text_of(doc).split()), "terms": top}}
    )
