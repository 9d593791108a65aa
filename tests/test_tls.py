"""TLS, mutual TLS and server-name override against a Temporal server reachable only
over TLS (a TLS-terminating proxy on loopback in front of the dev server)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from docstate import ConfigurationError, Settings, Status, TemporalUnavailable
from docstate.temporal import connect_temporal
from tests import pipelines as p
from tests.conftest import Harness, spawn
from tests.tlsproxy import Authority, Issued, tls_proxy

ROOT = Path(__file__).parent.parent


@dataclass
class Pki:
    ca: Authority
    other: Authority
    server: Issued
    named: Issued
    client: Issued


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca = Authority(folder, "DocState test CA")
    return Pki(
        ca=ca,
        other=Authority(folder / "other", "Somebody else's CA"),
        server=ca.issue("server", server_names=["127.0.0.1", "localhost"]),
        named=ca.issue("named", server_names=["temporal.internal"]),
        client=ca.issue("client"),
    )


def upstream(env: WorkflowEnvironment) -> str:
    return env.client.service_client.config.target_host


async def test_tls_with_a_custom_ca_runs_documents(
    temporal_env: WorkflowEnvironment, pki: Pki, tmp_path: Path, pg_url: str
) -> None:
    ca = pki.ca
    async with tls_proxy(upstream(temporal_env), pki.server) as address:
        settings = Settings(
            temporal_address=address,
            temporal_tls_ca_file=ca.issued.cert,
            temporal_api_key="api-key-sent-over-tls",
            task_queue=f"tq-{uuid.uuid4().hex}",
            database_url=pg_url,
            blob_dir=tmp_path / "blobs",
        )
        client = await connect_temporal(settings)
        assert client.api_key == "api-key-sent-over-tls"
        h = Harness(client, settings)
        try:
            doc_id = f"tls-{uuid.uuid4().hex[:8]}"
            async with h.worker(*p.ALL):
                await h.client.submit(b"over tls", type="basic", id=doc_id)
                assert (await h.client.wait(doc_id, timeout=60)).status is Status.COMPLETED
        finally:
            await h.close()

        with pytest.raises(TemporalUnavailable, match=f"cannot reach Temporal at {address}"):
            await connect_temporal(Settings(temporal_address=address))  # plain: refused
        # An API key alone turns TLS on (its certificate is then checked against the
        # system's CAs, which do not know the test's own).
        with pytest.raises(TemporalUnavailable, match="not signed by a CA this system trusts"):
            await connect_temporal(Settings(temporal_address=address, temporal_api_key="k"))
        wrong_ca = Settings(temporal_address=address, temporal_tls_ca_file=pki.other.issued.cert)
        with pytest.raises(TemporalUnavailable, match="not signed by the CA in DOCSTATE_TEMPORAL"):
            await connect_temporal(wrong_ca)


async def test_server_name_override(temporal_env: WorkflowEnvironment, pki: Pki) -> None:
    ca = pki.ca.issued.cert
    async with tls_proxy(upstream(temporal_env), pki.named) as address:
        with pytest.raises(TemporalUnavailable, match="set DOCSTATE_TEMPORAL_TLS_SERVER_NAME"):
            await connect_temporal(Settings(temporal_address=address, temporal_tls_ca_file=ca))
        named = Settings(
            temporal_address=address,
            temporal_tls_ca_file=ca,
            temporal_tls_server_name="temporal.internal",
        )
        client = await connect_temporal(named)
        assert (await client.count_workflows()).count >= 0


async def test_mutual_tls_worker_and_command_line(
    temporal_env: WorkflowEnvironment, pki: Pki, tmp_path: Path
) -> None:
    ca, client = pki.ca, pki.client
    async with tls_proxy(upstream(temporal_env), pki.server, client_ca=ca.issued.cert) as address:
        without_cert = Settings(temporal_address=address, temporal_tls_ca_file=ca.issued.cert)
        with pytest.raises(
            TemporalUnavailable, match="if the server requires a client certificate"
        ):
            await connect_temporal(without_cert)
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "DOCSTATE_TEMPORAL_ADDRESS": address,
            "DOCSTATE_TEMPORAL_TLS_CA_FILE": str(ca.issued.cert),
            "DOCSTATE_TEMPORAL_TLS_CERT_FILE": str(client.cert),
            "DOCSTATE_TEMPORAL_TLS_KEY_FILE": str(client.key),
            "DOCSTATE_TASK_QUEUE": f"tq-{uuid.uuid4().hex}",
            "DOCSTATE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'projection.db'}",
            "DOCSTATE_BLOB_DIR": str(tmp_path / "blobs"),
            "DOCSTATE_PIPELINES": "tests.pipelines",
        }
        cli = [sys.executable, str(ROOT / "starter.py")]

        def run(*args: str, drop: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [*cli, *args],
                env={k: v for k, v in env.items() if k not in drop},
                capture_output=True,
                text=True,
                timeout=120,
                cwd=tmp_path,
            )

        (tmp_path / "letter.txt").write_text("sent over mutual TLS")

        assert (await asyncio.to_thread(run, "db", "upgrade")).returncode == 0
        worker = spawn([str(ROOT / "worker.py")], env, tmp_path)  # stopped in the finally
        try:
            done = await asyncio.to_thread(
                run, "submit", "--type", "basic", "--id", "mtls-doc", "--wait", "letter.txt"
            )
        finally:
            worker.send_signal(signal.SIGTERM)
            out, _ = await asyncio.to_thread(worker.communicate, timeout=60)
        assert done.returncode == 0, (done.stdout, done.stderr, out)
        assert "worker ready" in out
        # The command line without its client certificate: one clear line, exit 1 (a
        # command that needs Temporal: reading the projection does not).
        refused = await asyncio.to_thread(
            run,
            "submit",
            "--type",
            "basic",
            "--id",
            "mtls-refused",
            "letter.txt",
            drop=("DOCSTATE_TEMPORAL_TLS_CERT_FILE", "DOCSTATE_TEMPORAL_TLS_KEY_FILE"),
        )
        assert refused.returncode == 1
        assert (
            refused.stderr.count("\n") == 1
            and "docstate: error: cannot reach Temporal" in refused.stderr
        )
        assert (
            "if the server requires a client certificate, set DOCSTATE_TEMPORAL_TLS_CERT"
            in refused.stderr
        )


def test_tls_settings_problems_name_the_setting(tmp_path: Path) -> None:
    from docstate.tls import temporal_tls

    with pytest.raises(ConfigurationError, match="DOCSTATE_TEMPORAL_TLS_CERT_FILE is set without"):
        temporal_tls(Settings(temporal_tls_cert_file=tmp_path / "c.pem"))
    with pytest.raises(ConfigurationError, match="DOCSTATE_TEMPORAL_TLS_CA_FILE: cannot read"):
        temporal_tls(Settings(temporal_tls_ca_file=tmp_path / "absent.pem"))
    with pytest.raises(ConfigurationError, match="DOCSTATE_TEMPORAL_TLS=false, but"):
        temporal_tls(Settings(temporal_tls=False, temporal_tls_server_name="x"))
    assert temporal_tls(Settings()) is None  # the demo: plain on loopback
    assert temporal_tls(Settings(temporal_tls=True)) is True
