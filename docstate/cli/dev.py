"""``docstate dev``: Temporal dev server + worker + HTTP API + SQLite projection on one
machine, and the demo that pushes sample files through them."""

from __future__ import annotations

import argparse
import asyncio
import subprocess
from contextlib import AsyncExitStack
from pathlib import Path

from docstate.cli.codec import dev_codec_server
from docstate.cli.devstack import (
    api_answering,
    check_ours,
    exports,
    start_process,
    stop_process,
)
from docstate.cli.render import table
from docstate.client import Client
from docstate.config import Settings
from docstate.devserver import DevServer, start_dev_server
from docstate.document import Status
from docstate.errors import ConfigurationError, DocStateError
from docstate.ports import require_free
from docstate.process import stop_on_signals
from docstate.projection import upgrade
from docstate.projection.records import DocumentRecord
from docstate.redact import safe_url

DEFAULT_SAMPLES = Path("workflows/samples")
"""Where ``--demo`` finds files when ``--samples`` is not given (working directory)."""


async def run_demo(
    ds: Client, samples: Path, type_name: str, worker: subprocess.Popen[bytes], log: Path
) -> list[DocumentRecord]:
    files = await asyncio.to_thread(lambda: sorted(p for p in samples.iterdir() if p.is_file()))
    if not files:
        raise ConfigurationError(f"no sample files in {samples}")
    ids = [(await ds.submit(path, type=type_name)).id for path in files]
    print(f"submitted {len(ids)} sample documents from {samples}", flush=True)
    records = []
    for doc_id in ids:
        while True:
            if worker.poll() is not None:
                raise DocStateError(f"the worker exited with code {worker.returncode}; see {log}")
            try:
                records.append(await ds.wait(doc_id, timeout=1))
                break
            except TimeoutError:
                continue
    return records


def print_results(records: list[DocumentRecord]) -> None:
    rows = [
        [
            r.id,
            r.metadata.get("filename"),
            r.state,
            r.status.value,
            r.metadata.get("words"),
            r.error,
        ]
        for r in records
    ]
    print(table(("ID", "FILE", "STATE", "STATUS", "WORDS", "ERROR"), rows))
    waiting = [r.id for r in records if r.status is Status.WAITING]
    if waiting:
        print(f"\n{len(waiting)} waiting for a decision: docstate retry|skip|cancel {waiting[0]}")


async def dev(settings: Settings, args: argparse.Namespace) -> int:
    data = Path(args.data_dir)
    # Keep everything of this dev stack under --data-dir unless set explicitly.
    if "database_url" not in settings.model_fields_set:
        settings = settings.model_copy(
            update={"database_url": f"sqlite+aiosqlite:///{data / 'docstate.db'}"}
        )
    if "blob_dir" not in settings.model_fields_set:
        settings = settings.model_copy(update={"blob_dir": data / "blobs"})
    require_free(args.port, "Temporal gRPC", "--port")
    require_free(args.ui_port, "Temporal web UI", "--ui-port")
    require_free(settings.api_port, "HTTP API", "--api-port")
    await upgrade(settings.database_url)
    async with AsyncExitStack() as stack:
        codec = None
        if settings.encryption_on:  # the web UI decrypts through a codec server
            codec = await stack.enter_async_context(dev_codec_server(settings, args.ui_port))
            print(f"codec server for the web UI: {codec} (loopback only, no token)")
        server: DevServer = await start_dev_server(
            data / "temporal.db", port=args.port, ui_port=args.ui_port, ui_codec_endpoint=codec
        )
        check_ours(server, args.port)
        return await _run(settings, args, server, data)


async def _run(settings: Settings, args: argparse.Namespace, server: DevServer, data: Path) -> int:
    settings = settings.model_copy(update={"temporal_address": server.address})
    worker_log = data / "worker.log"
    worker = start_process(settings, worker_log, "worker")
    api = start_process(settings, data / "api.log", "api")
    try:
        print(f"Temporal dev server at {server.address} (state in {data / 'temporal.db'})")
        print(f"worker running ({', '.join(settings.pipelines)}); log in {worker_log}")
        print(f"projection: {safe_url(settings.database_url)}", flush=True)
        url = await api_answering(settings, api, data / "api.log")
        print(f"HTTP API at {url} (OpenAPI docs: {url}/docs); log in {data / 'api.log'}")
        print("\nFor `docstate` commands on this stack in another terminal:")
        print("\n".join(exports(settings)) + "\n", flush=True)
        if args.demo:
            async with await Client.connect(settings) as ds:
                samples = Path(args.samples) if args.samples else DEFAULT_SAMPLES
                if not samples.is_dir():
                    raise ConfigurationError(f"no samples folder {samples}: pass --samples DIR")
                print_results(await run_demo(ds, samples, args.type, worker, worker_log))
        ui = f"{server.ui_url}/namespaces/{settings.namespace}/workflows"
        print(f"\nTemporal web UI: {ui}", flush=True)
        if not args.once:
            print("Ctrl-C stops.", flush=True)
            stop = asyncio.Event()
            stop_on_signals(stop)
            await stop.wait()
    finally:
        stop_process(api)
        stop_process(worker)
        server.stop()
    return 0
