"""Process plumbing shared by the command line and the worker."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import NoReturn


def hard_exit(code: int) -> NoReturn:
    """Exit with ``code`` without running interpreter finalisation.

    temporalio's Rust core can abort while the interpreter tears down a short-lived
    process (sdk-python issue 300, "PyGILState_Release"), turning success into a crash.
    Everything is flushed first; nothing else needs finalising.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def stop_on_signals(stop: asyncio.Event) -> None:
    """Set ``stop`` on SIGINT or SIGTERM (call from inside the running loop)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
