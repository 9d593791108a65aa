"""Fetching a document's content from a URL, streamed in chunks."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from docstate.blobstore import CHUNK_SIZE
from docstate.errors import ContentError


def is_url(value: str) -> bool:
    """Whether ``value`` is an http(s) URL (rather than text content)."""
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and " " not in value


def url_filename(url: str) -> str:
    parts = urlsplit(url)
    return parts.path.rstrip("/").rsplit("/", 1)[-1] or parts.netloc


async def fetch(url: str, timeout: float = 60) -> AsyncIterator[bytes]:
    """The body at ``url``, a chunk at a time.

    Raises:
        ContentError: naming the URL and what went wrong (HTTP status, unreachable host).
    """
    try:
        response = await asyncio.to_thread(urllib.request.urlopen, url, timeout=timeout)
    except urllib.error.HTTPError as err:
        raise ContentError(f"cannot fetch {url}: HTTP {err.code} {err.reason}") from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise ContentError(f"cannot fetch {url}: {reason}") from None
    try:
        while chunk := await asyncio.to_thread(response.read, CHUNK_SIZE):
            yield chunk
    finally:
        response.close()
