"""Helpers of the security tests: finding a secret in any form, the real `temporal` CLI,
a codec server on a real uvicorn."""

from __future__ import annotations

import asyncio
import base64
import binascii
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from docstate import Settings
from docstate.cli.codec import serving
from docstate.codec_server import codec_app
from docstate.devserver import free_port, temporal_binary


def new_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def forms(secret: str) -> list[bytes]:
    """``secret`` as it could appear in a text or a file: raw, or inside base64 text at any
    byte alignment (standard and URL-safe alphabets)."""
    raw = secret.encode()
    found = [raw]
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw)
        start, end = -(-offset * 8 // 6), (offset + len(raw)) * 8 // 6
        inner = encoded[start:end]
        found += [inner, inner.replace(b"+", b"-").replace(b"/", b"_")]
    return found


BASE64_RUN = re.compile(rb"[A-Za-z0-9+/_-]{12,}={0,2}")


def _unwrapped(data: bytes, depth: int) -> Iterator[bytes]:
    """``data``, and what every base64 run in it decodes to, ``depth`` levels down (JSON
    payloads show as base64, and bytes inside them as base64 again)."""
    yield data
    if depth == 0:
        return
    for run in BASE64_RUN.findall(data):
        text = run.rstrip(b"=")
        padded = text + b"=" * (-len(text) % 4)
        try:
            decoded = base64.b64decode(padded.replace(b"-", b"+").replace(b"_", b"/"))
        except binascii.Error:
            continue
        yield from _unwrapped(decoded, depth - 1)


def appears(secret: str, haystack: bytes | str) -> bool:
    """Whether ``secret`` is in ``haystack`` in any readable form (see :func:`forms`),
    base64 layers included."""
    data = haystack.encode() if isinstance(haystack, str) else haystack
    wanted = forms(secret)
    return any(form in layer for layer in _unwrapped(data, 3) for form in wanted)


def database_files(db_file: Path) -> bytes:
    """Everything the dev server's SQLite database holds on disk (WAL included)."""
    return b"".join(p.read_bytes() for p in db_file.parent.glob(db_file.name + "*"))


async def temporal_cli(*args: str) -> tuple[int, str, str]:
    """Run the real `temporal` CLI; returns (exit code, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        str(temporal_binary()),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def show_history(address: str, workflow_id: str, *codec: str) -> str:
    """``temporal workflow show --output json`` of one workflow (through a codec server
    when ``codec`` flags are given)."""
    code, out, err = await temporal_cli(
        "workflow", "show", "--address", address, "-w", workflow_id, "--output", "json", *codec
    )
    assert code == 0, err
    return out


def codec_server(settings: Settings, *, anonymous: bool = False) -> Any:
    """The codec server of ``settings`` on a real uvicorn, on a free loopback port (an
    async context manager yielding its URL)."""
    return serving(codec_app(settings, anonymous=anonymous), "127.0.0.1", free_port())
