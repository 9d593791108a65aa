"""``docstate api``: check the surroundings, then serve the HTTP API."""

from __future__ import annotations

import asyncio
import os

from docstate.cli.existing import require_projection
from docstate.client import Client
from docstate.config import Settings
from docstate.ports import require_free
from docstate.projection import ensure_current


async def check(settings: Settings) -> None:
    """Fail with one clear line, before uvicorn starts, when Temporal or the projection
    is unreachable or not migrated."""
    require_projection(settings.database_url)
    async with await Client.connect(settings) as ds:
        await ensure_current(ds.queries.engine)


def export(settings: Settings) -> None:
    """Hand explicitly set settings to uvicorn's worker processes, which read
    ``DOCSTATE_*`` themselves."""
    for name in settings.model_fields_set:
        value = getattr(settings, name)
        if isinstance(value, list):
            text = ",".join(getattr(v, "get_secret_value", lambda v=v: str(v))() for v in value)
        else:
            text = str(value)
        os.environ[f"DOCSTATE_{name.upper()}"] = text


def serve_api(settings: Settings) -> int:
    """Serve until SIGINT/SIGTERM; 0 after a clean stop."""
    from docstate.api.server import serve  # the web stack loads only for this command

    # uvicorn would say it in six lines and exit 3, after its start-up lines
    require_free(settings.api_port, "HTTP API", "--port", host=settings.api_host)
    asyncio.run(check(settings))
    export(settings)
    serve(settings)
    return 0
