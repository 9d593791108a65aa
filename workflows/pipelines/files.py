"""Example pipeline: files on disk become clean text.

    received --detect--> detected --extract_pdf|html|markdown|text--> extracted
             --normalize--> normalized

``detect`` sniffs the format into ``metadata["format"]``; the ``when`` rules pick the
extractor. A corrupt PDF fails ``extract_pdf`` for good, so the document goes to
``waiting`` (skippable: an operator may move it on without text).
"""

from __future__ import annotations

import io
import re
import unicodedata
from datetime import timedelta
from html.parser import HTMLParser

from pypdf import PdfReader
from pypdf.errors import PyPdfError

from docstate import Document, DocumentType, PermanentError, Retry, State, Transition

FAST_RETRY = Retry(initial_interval=timedelta(milliseconds=500), max_attempts=3)


def detect(doc: Document) -> Document:
    """Name the content's format: pdf, html, markdown or text."""
    data = doc.content or b""
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
        reader = PdfReader(io.BytesIO(doc.content or b""))
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
    parser.feed(_decode(doc))
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
    text = _decode(doc)
    for pattern, replacement in _MARKDOWN:
        text = pattern.sub(replacement, text)
    return doc.with_content(text)


def extract_text(doc: Document) -> Document:
    """Plain text, checked to be UTF-8."""
    return doc.with_content(_decode(doc))


def normalize(doc: Document) -> Document:
    """NFKC, one space between words, no blank-line runs; counts words."""
    text = unicodedata.normalize("NFKC", doc.text)
    lines = [" ".join(line.split()) for line in text.splitlines()]
    clean = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"
    return doc.with_content(clean, words=len(clean.split()), chars=len(clean))


def _decode(doc: Document) -> str:
    try:
        return (doc.content or b"").decode("utf-8")
    except UnicodeDecodeError as err:
        raise PermanentError(f"content is not UTF-8 text (byte {err.start})") from err


FILE = DocumentType(
    name="file",
    states=[
        State("received", initial=True),
        "detected",
        "extracted",
        State("normalized", final=True),
    ],
    transitions=[
        Transition(name="detect", source="received", target="detected", run=detect),
        Transition(
            name="extract_pdf",
            source="detected",
            target="extracted",
            when={"format": "pdf"},
            run=extract_pdf,
            retry=FAST_RETRY,
            heartbeat=timedelta(seconds=10),
            skippable=True,
        ),
        Transition(
            name="extract_html",
            source="detected",
            target="extracted",
            when={"format": "html"},
            run=extract_html,
        ),
        Transition(
            name="extract_markdown",
            source="detected",
            target="extracted",
            when={"format": "markdown"},
            run=extract_markdown,
        ),
        Transition(name="extract_text", source="detected", target="extracted", run=extract_text),
        Transition(name="normalize", source="extracted", target="normalized", run=normalize),
    ],
)
