"""Transition functions of the ``file`` pipeline (``workflows/files.py``): files become
clean text. Each runs as a Temporal activity named ``file.<transition>``."""

from __future__ import annotations

import re
import unicodedata
from html.parser import HTMLParser

from pypdf import PdfReader
from pypdf.errors import PyPdfError

from activities.text import text_of
from docstate import Document, PermanentError


def detect(doc: Document) -> Document:
    """Name the content's format: pdf, html, markdown or text (from its first chunk: a
    large document is not loaded to be sniffed)."""
    chunks = iter(doc.open())
    try:
        data = next(chunks, b"")
    finally:
        chunks.close()  # type: ignore[attr-defined]
    name = str(doc.metadata.get("filename", "")).lower()
    head = data[:2048].lstrip().lower()
    if data.startswith(b"%PDF-") or name.endswith(".pdf"):
        kind = "pdf"
    elif head.startswith((b"<!doctype html", b"<html")) or name.endswith((".html", ".htm")):
        kind = "html"
    elif name.endswith((".md", ".markdown")):
        kind = "markdown"
    else:
        kind = "text"
    return doc.model_copy(update={"metadata": {**doc.metadata, "format": kind}})


def extract_pdf(doc: Document) -> Document:
    """The text of every page (pypdf, pure Python; runs in a worker thread)."""
    try:
        # streamed into a seekable file (on disk when large), not loaded whole
        reader = PdfReader(doc.open().spool())
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PyPdfError, ValueError, KeyError, TypeError) as err:
        raise PermanentError(f"corrupt PDF: {err}") from err
    return doc.with_content("\n\n".join(pages), pages=len(pages))


class _TextOfHtml(HTMLParser):
    SKIPPED = frozenset({"script", "style", "head", "template"})

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._skipping += tag in self.SKIPPED
        if tag in ("p", "br", "div", "li", "h1", "h2", "h3", "tr"):
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        self._skipping -= tag in self.SKIPPED and self._skipping > 0

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def extract_html(doc: Document) -> Document:
    """Visible text of an HTML page."""
    parser = _TextOfHtml()
    parser.feed(text_of(doc))
    parser.close()
    return doc.with_content("".join(parser.parts))


_MARKDOWN = [
    (re.compile(r"```.*?\n(.*?)```", re.S), r"\1"),  # fenced code: keep the code
    (re.compile(r"!\[([^\]]*)\]\([^)]*\)"), r"\1"),  # images: keep alt text
    (re.compile(r"\[([^\]]*)\]\([^)]*\)"), r"\1"),  # links: keep the label
    (re.compile(r"^\s{0,3}(#{1,6}|>|[-*+]|\d+\.)\s+", re.M), ""),  # headings, quotes, lists
    (re.compile(r"(\*\*|__|\*|_|`)(.+?)\1"), r"\2"),  # emphasis, inline code
]


def extract_markdown(doc: Document) -> Document:
    """Markdown without its markup."""
    text = text_of(doc)
    for pattern, replacement in _MARKDOWN:
        text = pattern.sub(replacement, text)
    return doc.with_content(text)


def extract_text(doc: Document) -> Document:
    """Plain text, checked to be UTF-8."""
    return doc.with_content(text_of(doc))


def normalize(doc: Document) -> Document:
    """NFKC, one space between words, no blank-line runs; counts words."""
    text = unicodedata.normalize("NFKC", text_of(doc))
    lines = [" ".join(line.split()) for line in text.splitlines()]
    clean = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"
    return doc.with_content(clean, words=len(clean.split()), chars=len(clean))
