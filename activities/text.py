"""Text steps take text: content that is not UTF-8 is a permanent failure, said clearly.

Retrying cannot make binary content readable, so the document goes to ``waiting`` at
once with the reason, instead of crashing with ``UnicodeDecodeError`` three times.
"""

from __future__ import annotations

from docstate import Document, PermanentError


def text_of(doc: Document) -> str:
    """The content as UTF-8 text.

    Raises:
        PermanentError: naming the first undecodable byte and what the content looks like.
    """
    data = doc.content or b""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        kind = "a PDF" if data.startswith(b"%PDF-") else "binary content"
        raise PermanentError(
            f"content is not UTF-8 text but {kind} (undecodable byte at {err.start}); "
            "a text step cannot read it"
        ) from err
