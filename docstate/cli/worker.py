"""``docstate worker``: serve the pipelines the settings name until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging

from docstate.config import Settings
from docstate.engine import run_worker
from docstate.observability.logs import configure_logging
from docstate.process import stop_on_signals


async def serve_worker(settings: Settings) -> int:
    """Run a worker; on SIGTERM/SIGINT stop taking work, let running transitions finish
    (``shutdown_grace``), then return 0."""
    configure_logging(settings)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # the schema check is not news
    stop = asyncio.Event()
    stop_on_signals(stop)
    await run_worker(settings, stop)
    return 0
