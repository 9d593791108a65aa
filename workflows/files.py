"""The ``file`` pipeline: files on disk become clean text.

    received --detect--> detected --extract_pdf|html|markdown|text--> extracted
             --normalize--> normalized

``detect`` sniffs the format into ``metadata["format"]``; the ``when`` rules pick the
extractor. A corrupt PDF fails ``extract_pdf`` for good, so the document goes to
``waiting`` (skippable: an operator may move it on without text). The functions are in
``activities/files.py``.
"""

from __future__ import annotations

from datetime import timedelta

from activities.files import (
    detect,
    extract_html,
    extract_markdown,
    extract_pdf,
    extract_text,
    normalize,
)
from docstate import DocumentType, Retry, State, Transition

FAST_RETRY = Retry(initial_interval=timedelta(milliseconds=500), max_attempts=3)

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
