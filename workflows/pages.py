"""Pipelines with derived documents: a PDF becomes pages, a page becomes chunks.

    pdf:   received --split_pages--> paged        (one `page` document per page)
    page:  new      --chunk-------> chunked      (one `chunk` document per ~60 words)
    chunk: new      --index-------> indexed      (word count and top terms)

Every page and chunk is its own document: its own workflow (a child of its parent's in
the Temporal web UI), its own row in the projection, linked by parent_id and root_id.
The functions are in ``activities/pages.py``.
"""

from __future__ import annotations

from datetime import timedelta

from activities.pages import chunk, index, split_pages
from docstate import DocumentType, FanOut, Retry, State, Transition

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
