"""Taking content in: bytes, text, files and URLs into the blob store, and new ids."""

from __future__ import annotations

import re
import unicodedata
import uuid
from pathlib import Path
from typing import Any

from docstate.blobs import BlobStore, Head, read_file
from docstate.document import ContentRef
from docstate.errors import InvalidDocumentId
from docstate.fetch import FetchPolicy, fetch, is_url, url_filename

Content = bytes | str | Path
"""What may be submitted: bytes, text, a file path, or an http(s) URL (as a string)."""


async def store_content(
    blobs: BlobStore,
    content: Content | None,
    meta: dict[str, Any],
    inline_threshold: int,
    policy: FetchPolicy | None = None,
) -> tuple[ContentRef | None, bytes | None]:
    """Write ``content`` to the blob store; also return it when small enough to inline.

    Files and URLs are streamed in, never held whole; their name goes into ``meta`` as
    ``filename`` (and a URL as ``url``) unless already there. A URL is fetched within
    ``policy`` (size cap, time limit, no private addresses unless it allows them).
    """
    if content is None:
        return None, None
    if isinstance(content, bytes) or (isinstance(content, str) and not is_url(content)):
        data = content.encode("utf-8") if isinstance(content, str) else content
        return await blobs.put_bytes(data), data if len(data) <= inline_threshold else None
    if isinstance(content, Path):
        meta.setdefault("filename", content.name)
        source = read_file(content)
    else:
        meta.setdefault("url", content)
        meta.setdefault("filename", url_filename(content))
        source = fetch(content, policy)
    head = Head(inline_threshold)  # small content is kept on the way, not read back
    return await blobs.put(head.through(source)), head.data


_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,200}$")
"""The id rule (the same as :class:`~docstate.Document`'s): ASCII, no spaces."""


def new_id(filename: str | None) -> str:
    """A new document id, readable when there is a file name: ``<stem>-<12 hex>``.

    Any file name gives a valid id: Latin letters are transliterated (``résumé`` becomes
    ``resume``, ``straße`` ``strasse``); a name in another script is Punycode-encoded
    (``日本語`` becomes ``xn-wgv71a119e``); spaces and other signs become ``-``.
    """
    suffix = uuid.uuid4().hex[:12]
    if not filename:
        return suffix
    stem = "".join(
        c
        for c in unicodedata.normalize("NFKD", Path(filename).stem.translate(_LATIN))
        if not unicodedata.combining(c)
    )
    if not stem.isascii():
        stem = "xn--" + stem.encode("punycode").decode("ascii")
    stem = re.sub(r"[^A-Za-z0-9_.]+", "-", stem).strip("-.")
    return f"{stem[:60]}-{suffix}" if stem else suffix


# Latin letters that Unicode does not decompose into a base letter and an accent.
_LATIN = str.maketrans(
    {"Æ": "AE", "æ": "ae", "ß": "ss", "Ø": "O", "ø": "o", "Œ": "OE", "œ": "oe", "Ł": "L",
     "ł": "l", "Đ": "D", "đ": "d", "Þ": "Th", "þ": "th", "\u0131": "i"}
)  # fmt: skip


def check_id(document_id: str) -> str:
    """``document_id`` when it follows the id rule.

    Raises:
        InvalidDocumentId: spelling the rule out.
    """
    if not _ID.match(document_id):
        raise InvalidDocumentId(document_id)
    return document_id
