"""``docstate codec-server``: the codec server for the Temporal web UI and CLI."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import uvicorn
from fastapi import FastAPI

from docstate.cli.arguments import OneLineParser, port_number
from docstate.codec_server import codec_app, parse_tokens
from docstate.config import Settings
from docstate.devserver import free_port
from docstate.errors import ConfigurationError
from docstate.keys import load_keys


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def add_parser(sub: argparse._SubParsersAction[OneLineParser], common: OneLineParser) -> None:
    p = sub.add_parser(
        "codec-server", help="decrypt payloads for the Temporal web UI and CLI", parents=[common]
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=port_number, default=8089, help="port (default 8089)")
    p.add_argument(
        "--no-auth",
        action="store_true",
        help="serve without DOCSTATE_CODEC_TOKENS (allowed on a loopback address only)",
    )


async def codec_server(settings: Settings, args: argparse.Namespace) -> int:
    """Serve until interrupted."""
    if args.no_auth and not is_loopback(args.host):
        raise ConfigurationError(
            f"--no-auth serves decrypted payloads to anyone: not on {args.host}, "
            "only on a loopback address; set DOCSTATE_CODEC_TOKENS instead"
        )
    app = codec_app(settings, anonymous=args.no_auth)
    keys = load_keys(settings)
    assert keys is not None  # codec_app refused to build without keys
    auth = "no authentication" if args.no_auth else f"{len(parse_tokens(settings))} token(s)"
    origins = ", ".join(settings.codec_cors_origins) or "none"
    _, serving_task = await _started(app, args.host, args.port)
    # Said once uvicorn listens, so its own Ctrl-C/SIGTERM handling is in place: a signal
    # sent as soon as this line shows (a supervisor, a test) stops it cleanly.
    print(
        f"codec server at http://{args.host}:{args.port} for namespace "
        f"{settings.namespace!r}: keys {', '.join(keys.ids)} (current {keys.current_id}), "
        f"{auth}, CORS origins: {origins}",
        flush=True,
    )
    await serving_task
    return 0


async def _started(app: FastAPI, host: str, port: int) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    """``app`` served by uvicorn in this event loop, once it listens.

    Raises:
        ConfigurationError: when it cannot start (the port is taken...).
    """
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))

    async def serve() -> None:
        try:
            await server.serve()
        except SystemExit:  # uvicorn exits the process when it cannot listen
            raise ConfigurationError(
                f"the codec server could not listen on {host}:{port} (is the port taken?)"
            ) from None

    task = asyncio.create_task(serve())
    while not server.started:
        if task.done():
            await task  # its error says why
            raise ConfigurationError(f"the codec server stopped before listening on {port}")
        await asyncio.sleep(0.02)
    return server, task


@asynccontextmanager
async def serving(app: FastAPI, host: str, port: int) -> AsyncIterator[str]:
    """Serve ``app`` on uvicorn in this event loop while the block runs; yields its URL.

    Raises:
        ConfigurationError: when it cannot start (the port is taken...).
    """
    server, task = await _started(app, host, port)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await task


def dev_codec_server(settings: Settings, ui_port: int) -> AbstractAsyncContextManager[str]:
    """The codec server ``docstate dev`` runs for its web UI: loopback, open to the UI's
    origin, without a token (the UI of the dev server cannot send one)."""
    origins = [f"http://127.0.0.1:{ui_port}", f"http://localhost:{ui_port}"]
    app = codec_app(settings.model_copy(update={"codec_cors_origins": origins}), anonymous=True)
    return serving(app, "127.0.0.1", free_port())
