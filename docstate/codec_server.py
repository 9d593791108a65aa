"""A Temporal codec server: the web UI and the ``temporal`` CLI decrypt through it.

It follows Temporal's remote codec protocol: ``POST /encode`` and ``POST /decode`` take
and return ``{"payloads": [...]}`` (payloads in protobuf JSON form), with the namespace in
the ``X-Namespace`` header. Every request needs ``Authorization: Bearer <token>`` with one
of the configured tokens. :func:`codec_router` is the protocol alone, to mount in another
FastAPI application; :func:`codec_app` adds CORS for the web UI's origin.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads
from temporalio.converter import PayloadCodec

from docstate.codec import EncryptionCodec
from docstate.config import Settings
from docstate.errors import ConfigurationError, EncryptionKeyError
from docstate.keys import load_keys


def parse_tokens(settings: Settings) -> list[str]:
    """The bearer tokens of ``DOCSTATE_CODEC_TOKENS`` (comma-separated)."""
    raw = settings.codec_tokens.get_secret_value() if settings.codec_tokens else ""
    return [t.strip() for t in raw.split(",") if t.strip()]


def _bearer_check(tokens: Sequence[str]) -> Any:
    accepted = [t.encode() for t in tokens]

    def check(authorization: Annotated[str | None, Header()] = None) -> None:
        scheme, _, given = (authorization or "").partition(" ")
        # Constant-time against every token, so timing tells nothing about any of them.
        matches = [hmac.compare_digest(given.strip().encode(), t) for t in accepted]
        if not accepted or scheme.lower() != "bearer" or not any(matches):
            raise HTTPException(
                401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"}
            )

    return check


def codec_router(codec: PayloadCodec, *, tokens: Sequence[str] | None, namespace: str) -> APIRouter:
    """``/encode`` and ``/decode`` for ``namespace``.

    Args:
        codec: The payload codec to run.
        tokens: Bearer tokens accepted; ``None`` serves without authentication (only
            for a server bound to loopback).
        namespace: The one namespace served; a request naming another is refused.
    """
    depends = [] if tokens is None else [Depends(_bearer_check(tokens))]
    router = APIRouter(dependencies=depends)

    async def run(request: Request, namespace_header: str | None, encode: bool) -> JSONResponse:
        if namespace_header and namespace_header != namespace:
            raise HTTPException(403, f"this codec server serves namespace {namespace!r}")
        try:
            body = await request.json()
            payloads = json_format.ParseDict(body, Payloads()).payloads
        except (ValueError, json_format.ParseError) as err:
            raise HTTPException(400, f"expected {{'payloads': [...]}}: {err}") from None
        try:
            out = await (codec.encode(payloads) if encode else codec.decode(payloads))
        except EncryptionKeyError as err:
            raise HTTPException(422, str(err)) from None
        return JSONResponse(json_format.MessageToDict(Payloads(payloads=out)))

    @router.post("/encode")
    async def encode(
        request: Request, x_namespace: Annotated[str | None, Header()] = None
    ) -> JSONResponse:
        return await run(request, x_namespace, encode=True)

    @router.post("/decode")
    async def decode(
        request: Request, x_namespace: Annotated[str | None, Header()] = None
    ) -> JSONResponse:
        return await run(request, x_namespace, encode=False)

    return router


def codec_app(settings: Settings, *, anonymous: bool = False) -> FastAPI:
    """The codec server of these settings (keys, tokens, namespace, CORS origins).

    Raises:
        ConfigurationError: when there are no keys, or no tokens and not ``anonymous``.
    """
    keys = load_keys(settings)
    if keys is None:
        raise ConfigurationError(
            "the codec server needs DOCSTATE_ENCRYPTION_KEYS or DOCSTATE_ENCRYPTION_KEYS_FILE"
        )
    tokens = parse_tokens(settings)
    if not tokens and not anonymous:
        raise ConfigurationError(
            "DOCSTATE_CODEC_TOKENS is not set: the codec server decrypts for anyone who can "
            "reach it; set a token, or pass --no-auth to serve loopback only"
        )
    app = FastAPI(title="DocState codec server", docs_url=None, redoc_url=None)
    app.include_router(
        codec_router(
            EncryptionCodec(keys),
            tokens=None if anonymous else tokens,
            namespace=settings.namespace,
        )
    )
    if settings.codec_cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.codec_cors_origins,
            allow_credentials=True,
            allow_methods=["POST"],
            allow_headers=["Authorization", "Content-Type", "X-Namespace"],
        )
    return app
