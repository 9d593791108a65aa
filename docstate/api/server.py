"""Serving the API with uvicorn: ``docstate api [--host H] [--port P] [--workers N]``."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from docstate.api.app import create_app
from docstate.config import Settings

# uvicorn closes idle connections after 5 s by default; a client reusing one just then
# sees it reset. Longer keeps a long-polling client's connection alive between polls.
KEEP_ALIVE = 75


def app_from_environment() -> FastAPI:
    """The app for uvicorn's worker processes, which build their settings themselves."""
    return create_app(Settings())


def serve(settings: Settings) -> None:
    """Run the API until SIGINT or SIGTERM (blocking)."""
    if settings.api_workers > 1:
        # Worker processes import the app by name and read DOCSTATE_* themselves (the
        # command exported the settings it was given).
        uvicorn.run(
            "docstate.api.server:app_from_environment",
            factory=True,
            host=settings.api_host,
            port=settings.api_port,
            workers=settings.api_workers,
            log_level="info",
            timeout_keep_alive=KEEP_ALIVE,
        )
        return
    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_level="info",
        timeout_keep_alive=KEEP_ALIVE,
    )
