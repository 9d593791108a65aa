"""``docstate dev``: Temporal dev server + worker + SQLite projection on one machine."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import signal
import subprocess
import sys
from pathlib import Path

from docstate.cli.render import table
from docstate.client import Client
from docstate.config import Settings
from docstate.devserver import DevServer, start_dev_server
from docstate.document import Status
from docstate.errors import ConfigurationError, DocStateError
from docstate.process import stop_on_signals
from docstate.projection import upgrade
from docstate.projection.records import DocumentRecord


def _worker_module() -> str:
    # The worker lives in the DocState checkout (worker.py), not in the library.
    if importlib.util.find_spec("worker") is None:
        raise ConfigurationError(
            "`docstate dev` runs worker.py from a DocState checkout: run it from the repository "
            "after `pip install -e .`"
        )
    return "worker"


def default_samples() -> Path | None:
    spec = importlib.util.find_spec("workflows")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "samples"


def start_worker(settings: Settings, log_file: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DOCSTATE_TEMPORAL_ADDRESS": settings.temporal_address,
        "DOCSTATE_NAMESPACE": settings.namespace,
        "DOCSTATE_TASK_QUEUE": settings.task_queue,
        "DOCSTATE_DATABASE_URL": settings.database_url,
        "DOCSTATE_BLOB_DIR": str(settings.blob_dir),
        "DOCSTATE_PIPELINES": ",".join(settings.pipelines),
    }
    with log_file.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", _worker_module()],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def stop_worker(worker: subprocess.Popen[bytes], timeout: float = 30) -> None:
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)  # drains: running transitions finish
        try:
            worker.wait(timeout)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


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
    await upgrade(settings.database_url)
    server: DevServer = await start_dev_server(
        data / "temporal.db", port=args.port, ui_port=args.ui_port
    )
    settings = settings.model_copy(update={"temporal_address": server.address})
    worker_log = data / "worker.log"
    worker = start_worker(settings, worker_log)
    try:
        print(f"Temporal dev server at {server.address} (state in {data / 'temporal.db'})")
        print(f"worker running ({', '.join(settings.pipelines)}); log in {worker_log}")
        print(f"projection: {settings.database_url}", flush=True)
        if args.demo:
            async with await Client.connect(settings) as ds:
                samples = Path(args.samples) if args.samples else default_samples()
                if samples is None:
                    raise ConfigurationError("no samples folder: pass --samples DIR")
                print_results(await run_demo(ds, samples, args.type, worker, worker_log))
        ui = f"{server.ui_url}/namespaces/{settings.namespace}/workflows"
        print(f"\nTemporal web UI: {ui}", flush=True)
        if not args.once:
            print(
                f"Export DOCSTATE_TEMPORAL_ADDRESS={server.address} for other commands "
                "if it is not the default. Ctrl-C stops.",
                flush=True,
            )
            stop = asyncio.Event()
            stop_on_signals(stop)
            await stop.wait()
    finally:
        stop_worker(worker)
        server.stop()
    return 0
