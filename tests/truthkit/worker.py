"""A `docstate worker` whose projection writes can be watched and cut short.

Runs the pipelines the settings name, like ``docstate worker``, with one difference: its
writer appends each applied write to ``$TRUTH_DIR/applied-<pid>``; with
``TRUTH_KILL_AFTER=<transition>`` the process SIGKILLs itself right after the projection
write of that transition's success, before the activity returns to Temporal; with
``TRUTH_KILL_BEFORE_CONFIRMING`` set, right before it confirms a closed status; with
``TRUTH_FREEZE_AT=<transition>`` it blocks right before that write (touching
``started``) until ``go`` exists.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Sequence
from pathlib import Path

from docstate import Settings
from docstate.blobs import make_blob_store
from docstate.engine import build_worker
from docstate.projection import CoalescingWriter, ProjectionWrite, ProjectionWriter, create_engine
from docstate.registry import Registry
from docstate.temporal import connect_temporal


def _succeeded(writes: Sequence[ProjectionWrite], transition: str | None) -> bool:
    return bool(transition) and any(w.transition == transition and not w.error for w in writes)


class WatchedWriter(CoalescingWriter):
    async def apply(self, writes: Sequence[ProjectionWrite]) -> None:
        here = Path(os.environ["TRUTH_DIR"])
        if os.environ.get("TRUTH_KILL_BEFORE_CONFIRMING") and any(w.confirmed for w in writes):
            os.kill(os.getpid(), signal.SIGKILL)
        if _succeeded(writes, os.environ.get("TRUTH_FREEZE_AT")):
            # Stop the whole process (the event loop too) right before the write, until
            # the test has frozen and resumed it and says go.
            (here / "started").touch()
            while not (here / "go").exists():
                time.sleep(0.05)  # noqa: ASYNC251 - blocking the loop is the point
        # The write goes on even if the activity is cancelled meanwhile (a late write).
        inner = asyncio.ensure_future(super().apply(writes))
        try:
            await asyncio.shield(inner)
        finally:
            if not inner.done():
                await asyncio.wait({inner})
            with (here / f"applied-{os.getpid()}").open("a") as out:
                for w in writes:
                    out.write(f"{w.document_id} {w.version} {w.transition} {w.error is None}\n")
        kill_after = os.environ.get("TRUTH_KILL_AFTER")
        if _succeeded(writes, kill_after):
            os.kill(os.getpid(), signal.SIGKILL)


async def main() -> None:
    settings = Settings()
    engine = create_engine(settings.database_url)
    writer = WatchedWriter(ProjectionWriter(engine))
    client = await connect_temporal(settings)
    worker = build_worker(
        client,
        task_queue=settings.task_queue,
        registry=Registry.from_modules(settings.pipelines),
        writer=writer,
        blobs=make_blob_store(settings),
    )
    async with worker:
        (Path(os.environ["TRUTH_DIR"]) / f"ready-{os.getpid()}").touch()
        await asyncio.Event().wait()  # until killed or stopped


if __name__ == "__main__":
    asyncio.run(main())
