"""``multipart/form-data`` read as it arrives: each file goes straight into the blob store.

The request body is parsed chunk by chunk (python-multipart's push parser); the bytes of
a file part flow through a small bounded queue into ``BlobStore.put``, so an upload is
never held whole, in memory or on a spool file, and the size cap stops it early.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from docstate.blobs import BlobStore
from docstate.document import ContentRef
from docstate.errors import ApiError

FIELD_LIMIT = 64 * 1024  # a form field that is not a file (type, metadata...)


@dataclass
class UploadedFile:
    """A file part, stored."""

    filename: str
    content_type: str | None
    ref: ContentRef


@dataclass
class Form:
    """The form: its files (stored) and its other fields (text)."""

    files: list[UploadedFile] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)


def too_large(limit: int) -> ApiError:
    return ApiError(413, "too_large", f"the upload is larger than {limit} bytes", {"limit": limit})


def _malformed(message: str) -> ApiError:
    return ApiError(422, "validation", f"body: {message}", {})


class _Part:
    def __init__(self) -> None:
        self.headers: dict[str, bytes] = {}
        self.name = ""
        self.filename: str | None = None
        self.text = bytearray()
        self.queue: asyncio.Queue[bytes | None] | None = None
        self.stored: asyncio.Task[ContentRef] | None = None


async def _drain(queue: asyncio.Queue[bytes | None]) -> AsyncIterator[bytes]:
    while (chunk := await queue.get()) is not None:
        yield chunk


async def read_form(request: Request, blobs: BlobStore, limit: int) -> Form:
    """Parse the request's multipart body; every file part is stored as it arrives.

    Raises:
        ApiError: 413 over ``limit`` bytes, 422 for a body that is not multipart.
    """
    kind, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise _malformed("expected multipart/form-data with a boundary")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    form = Form()
    events: list[Callable[[], object]] = []  # parser callbacks, replayed asynchronously
    current: list[_Part] = []
    header: dict[str, bytearray] = {"field": bytearray(), "value": bytearray()}

    def on_header_end() -> None:
        # raw bytes: parse_options_header reads them; names and filenames are UTF-8
        current[-1].headers[header["field"].decode("latin-1").lower()] = bytes(header["value"])
        header["field"].clear()
        header["value"].clear()

    callbacks = {
        "on_part_begin": lambda: current.append(_Part()),
        "on_header_field": lambda d, s, e: header["field"].extend(d[s:e]),
        "on_header_value": lambda d, s, e: header["value"].extend(d[s:e]),
        "on_header_end": on_header_end,
        "on_headers_finished": lambda: events.append(_begin(current[-1], blobs)),
        "on_part_data": lambda d, s, e: events.append(_data(current[-1], bytes(d[s:e]))),
        "on_part_end": lambda: events.append(_end(current[-1], form)),
    }
    parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise too_large(limit)
            try:
                parser.write(chunk)
            except Exception as err:  # python-multipart raises its own and ValueErrors
                raise _malformed(f"not valid multipart: {err}") from None
            for event in events:
                result = event()
                if asyncio.iscoroutine(result):
                    await result
            events.clear()
        parser.finalize()
    except BaseException:
        stored = [part.stored for part in current if part.stored is not None]
        for task in stored:
            task.cancel()
        # wait for them: each removes its partial blob file as it ends, and the refusal
        # must not go out while one is still there
        await asyncio.gather(*stored, return_exceptions=True)
        raise
    return form


def _begin(part: _Part, blobs: BlobStore) -> Callable[[], None]:
    def begin() -> None:
        _, options = parse_options_header(part.headers.get("content-disposition", b""))
        part.name = options.get(b"name", b"").decode("utf-8", errors="replace")
        filename = options.get(b"filename")
        if filename is not None:
            part.filename = filename.decode("utf-8", errors="replace")
            part.queue = asyncio.Queue(maxsize=8)  # bounded: the reader waits for the store
            part.stored = asyncio.create_task(blobs.put(_drain(part.queue)))

    return begin


def _data(part: _Part, data: bytes) -> Callable[[], object]:
    async def apply() -> None:
        if part.queue is None or part.stored is None:
            part.text.extend(data)
            if len(part.text) > FIELD_LIMIT:
                raise ApiError(
                    413, "too_large", f"form field {part.name!r} is over {FIELD_LIMIT} bytes"
                )
            return
        await _feed(part.queue, part.stored, data)

    return apply


async def _feed(
    queue: asyncio.Queue[bytes | None], stored: asyncio.Task[ContentRef], data: bytes | None
) -> None:
    """Hand ``data`` to the store, or raise the store's error if it gave up meanwhile."""
    put = asyncio.ensure_future(queue.put(data))
    await asyncio.wait({put, stored}, return_when=asyncio.FIRST_COMPLETED)
    if not put.done():
        put.cancel()
        await stored  # it ended before taking everything: raises what stopped it
        raise ApiError(500, "internal", "the blob store stopped reading the upload")


def _end(part: _Part, form: Form) -> Callable[[], object]:
    async def end() -> None:
        if part.queue is None or part.stored is None:
            form.fields[part.name] = part.text.decode("utf-8", errors="replace")
            return
        await _feed(part.queue, part.stored, None)
        ref = await part.stored
        raw_type = part.headers.get("content-type")
        content_type = raw_type.decode("latin-1") if raw_type is not None else None
        form.files.append(UploadedFile(part.filename or "upload", content_type, ref))

    return end
