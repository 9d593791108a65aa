"""``docstate worker``: serve the pipelines the settings name until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging
import threading

from docstate.config import Settings
from docstate.engine import run_worker
from docstate.observability.logs import configure_logging
from docstate.process import hard_exit, stop_on_signals

log = logging.getLogger("docstate.worker")

STOP_MARGIN = 10.0
"""Seconds a stopping worker gets, beyond ``shutdown_grace``, to confirm what it closed and
close its connections before it exits anyway."""


async def serve_worker(settings: Settings) -> int:
    """Run a worker; on SIGTERM/SIGINT stop taking work, let running transitions finish
    (``shutdown_grace``), then return 0. A drain that outlasts the grace period by
    :data:`STOP_MARGIN` (a transition that ignores its cancellation) ends the process with
    exit code 1 and one log line, so a supervisor's stop never hangs."""
    configure_logging(settings)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # the schema check is not news
    stop = asyncio.Event()
    stop_on_signals(stop)
    deadline = settings.shutdown_grace.total_seconds() + STOP_MARGIN
    watchdog = asyncio.create_task(_exit_if_stuck(stop, deadline))
    try:
        await run_worker(settings, stop)
    finally:
        watchdog.cancel()
    return 0


async def _exit_if_stuck(stop: asyncio.Event, seconds: float) -> None:
    await stop.wait()
    # A thread, not the event loop: what is stuck may be the loop itself.
    timer = threading.Timer(seconds, _give_up, args=(seconds,))
    timer.daemon = True
    timer.start()


def _give_up(seconds: float) -> None:
    log.error(
        "worker did not stop within %gs of the signal (a transition ignores its "
        "cancellation?); exiting",
        seconds,
    )
    hard_exit(1)
