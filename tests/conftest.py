"""Fixtures: a real Temporal dev server, real PostgreSQL and SQLite projections."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import Pool
from temporalio.client import Client as TemporalClient
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from docstate import Client, DocumentType, Registry, Settings
from docstate.blobs import BlobStore, make_blob_store
from docstate.devserver import DYNAMIC_CONFIG, SQLITE_PRAGMAS, free_port, temporal_binary
from docstate.engine import build_worker
from docstate.model import KeyLimits
from docstate.projection import (
    CoalescingWriter,
    ProjectionQueries,
    ProjectionWriter,
    Writer,
    create_database,
    create_engine,
    upgrade,
)
from docstate.projection.leases import KeyLeases
from docstate.projection.schema import metadata
from docstate.protocol import SEARCH_ATTRIBUTES
from docstate.temporal import connect_temporal

pytest_plugins = ["tests.api_support"]

POSTGRES_URL = os.environ.get(
    "DOCSTATE_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/docstate_test"
)


_checked_out: dict[int, str] = {}  # pool connection record -> its database connection


@event.listens_for(Pool, "checkout")
def _on_checkout(dbapi_conn: object, record: object, proxy: object) -> None:
    _checked_out[id(record)] = repr(dbapi_conn)


@event.listens_for(Pool, "checkin")
def _on_checkin(dbapi_conn: object, record: object) -> None:
    _checked_out.pop(id(record), None)


@event.listens_for(Pool, "close")
def _on_close(dbapi_conn: object, record: object) -> None:
    _checked_out.pop(id(record), None)


@pytest.fixture(autouse=True)
def no_connection_left_checked_out() -> Iterator[None]:
    """Every database connection a test takes is given back by the end of the test.

    One left out is only reported when the garbage collector finds it, during some later
    test, as an SAWarning; this names the test that leaked it.
    """
    before = set(_checked_out)
    yield
    leaked = [conn for key, conn in _checked_out.items() if key not in before]
    assert not leaked, f"database connections still checked out: {leaked}"


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    pragmas = [a for p in SQLITE_PRAGMAS for a in ("--sqlite-pragma", p)]
    # Suggest continue-as-new early, so every long-lived test document exercises it.
    pragmas += ["--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=120"]
    pragmas += [a for setting in DYNAMIC_CONFIG for a in ("--dynamic-config-value", setting)]
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_binary()),
        search_attributes=SEARCH_ATTRIBUTES,
        data_converter=pydantic_data_converter,
        dev_server_extra_args=pragmas,
    )
    yield env
    await env.shutdown()


@pytest.fixture
def temporal(temporal_env: WorkflowEnvironment) -> TemporalClient:
    return temporal_env.client


@pytest.fixture
def task_queue() -> str:
    return f"tq-{uuid.uuid4().hex}"


async def recreate_database(url: str) -> None:
    """A fresh, empty database: nothing an earlier run left there (rows, or a revision
    some other checkout migrated it to) can change this run."""
    target = make_url(url)
    admin = create_engine(target.set(database="postgres").render_as_string(hide_password=False))
    async with admin.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
    await admin.dispose()
    await create_database(url)


@pytest.fixture(scope="session")
async def postgres_url() -> str:
    await recreate_database(POSTGRES_URL)
    await upgrade(POSTGRES_URL)
    return POSTGRES_URL


async def _truncate(url: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            await conn.execute(table.delete())
    await engine.dispose()


@pytest.fixture
async def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'projection.db'}"
    await upgrade(url)
    return url


@pytest.fixture
async def pg_url(postgres_url: str) -> str:
    """The PostgreSQL projection, emptied for this test."""
    await _truncate(postgres_url)
    return postgres_url


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path, postgres_url: str) -> str:
    """A migrated, empty projection: the test runs once on each database."""
    if request.param == "postgresql":
        await _truncate(postgres_url)
        return postgres_url
    url = f"sqlite+aiosqlite:///{tmp_path / 'projection.db'}"
    await upgrade(url)
    return url


class Harness:
    """A DocState deployment for one test: its own task queue, projection and blobs."""

    def __init__(self, temporal: TemporalClient, settings: Settings) -> None:
        self.temporal = temporal
        self.settings = settings
        self.engine = create_engine(settings.database_url)
        self.writer = CoalescingWriter(ProjectionWriter(self.engine))
        self.queries = ProjectionQueries(self.engine)
        self.blobs = make_blob_store(settings)
        self.client = Client(temporal, settings, self.queries, self.blobs)

    @classmethod
    async def connect(cls, settings: Settings) -> Harness:
        """A harness whose Temporal client is built as every DocState process builds its
        own from ``settings`` (payload encryption, TLS, API key), at
        ``settings.temporal_address``."""
        return cls(await connect_temporal(settings), settings)

    async def close(self) -> None:
        """Close the writer's own connection, then the engine's pool: none is left open."""
        await self.writer.close()
        await self.engine.dispose()

    def new_worker(
        self,
        *types: DocumentType,
        writer: Writer | None = None,
        blobs: BlobStore | None = None,
        key_limits: KeyLimits | None = None,
    ) -> Worker:
        return build_worker(
            self.temporal,
            task_queue=self.settings.task_queue,
            registry=Registry(types),
            writer=writer or self.writer,
            blobs=blobs or self.blobs,
            inline_threshold=self.settings.inline_threshold,
            leases=KeyLeases(self.engine),
            key_limits=key_limits or self.settings.key_limits,
        )

    async def run_script(self, script: Path, *types: DocumentType) -> str:
        """Run a Python script against this deployment (a worker for ``types`` serving it)
        and return what it printed; it fails the test if the script does."""
        env = {
            "DOCSTATE_TEMPORAL_ADDRESS": self.temporal.service_client.config.target_host,
            "DOCSTATE_TASK_QUEUE": self.settings.task_queue,
            "DOCSTATE_DATABASE_URL": self.settings.database_url,
            "DOCSTATE_BLOB_DIR": str(self.settings.blob_dir),
        }
        async with self.worker(*types):
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                str(script),
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await asyncio.wait_for(proc.communicate(), 120)
        assert proc.returncode == 0, err.decode()
        return out.decode()

    @asynccontextmanager
    async def worker(
        self,
        *types: DocumentType,
        writer: Writer | None = None,
        blobs: BlobStore | None = None,
        key_limits: KeyLimits | None = None,
    ) -> AsyncIterator[Worker]:
        async with self.new_worker(
            *types, writer=writer, blobs=blobs, key_limits=key_limits
        ) as running:
            yield running


@asynccontextmanager
async def _harness(
    temporal: TemporalClient, task_queue: str, tmp_path: Path, url: str
) -> AsyncIterator[Harness]:
    settings = Settings(
        task_queue=task_queue,
        database_url=url,
        blob_dir=tmp_path / "blobs",
        inline_threshold=1024,
    )
    h = Harness(temporal, settings)
    yield h
    await h.close()


@pytest.fixture
async def harness(
    temporal: TemporalClient, task_queue: str, tmp_path: Path, pg_url: str
) -> AsyncIterator[Harness]:
    """A harness on PostgreSQL, the production projection (``any_harness``, the
    projection suite and the command-line tests cover SQLite as well)."""
    async with _harness(temporal, task_queue, tmp_path, pg_url) as h:
        yield h


@pytest.fixture
async def any_harness(
    temporal: TemporalClient, task_queue: str, tmp_path: Path, database_url: str
) -> AsyncIterator[Harness]:
    """A harness on each database in turn."""
    async with _harness(temporal, task_queue, tmp_path, database_url) as h:
        yield h


def process_env(temporal: TemporalClient, tmp: Path, pipelines: str) -> dict[str, str]:
    """Environment for a `docstate` or `worker.py` subprocess of one test deployment."""
    return {
        **os.environ,
        "DOCSTATE_TEMPORAL_ADDRESS": temporal.service_client.config.target_host,
        "DOCSTATE_TASK_QUEUE": f"tq-{uuid.uuid4().hex}",
        "DOCSTATE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'projection.db'}",
        "DOCSTATE_BLOB_DIR": str(tmp / "blobs"),
        "DOCSTATE_PIPELINES": pipelines,
        "PYTHONPATH": str(Path(__file__).parent.parent),
    }


def spawn(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    """A DocState process (``worker.py``, ``starter.py ...``) whose output, stdout and
    stderr together, the test reads line by line as it comes."""
    return subprocess.Popen(
        [sys.executable, *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "docstate-test",
    "AWS_SECRET_ACCESS_KEY": "docstate-test",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3 endpoint on loopback (moto's server), with a bucket named `docstate`."""
    from moto.server import ThreadedMotoServer

    saved = {k: os.environ.get(k) for k in S3_CREDENTIALS}
    os.environ.update(S3_CREDENTIALS)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    import boto3

    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="docstate")
    yield endpoint
    server.stop()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
