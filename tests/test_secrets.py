"""The stack run with known secret values: none of them appears in any log or output."""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

from sqlalchemy.engine import make_url

from docstate.devserver import free_port
from docstate.redact import safe_url
from tests.conftest import POSTGRES_URL, spawn
from tests.secure import appears, new_key

ROOT = Path(__file__).parent.parent


def test_no_secret_in_any_log_or_output(tmp_path: Path, postgres_url: str) -> None:
    key = new_key()
    api_key = f"apikey-{uuid.uuid4().hex}"
    token = f"token-{uuid.uuid4().hex}"
    password = f"pw-{uuid.uuid4().hex}"  # PostgreSQL trusts loopback: any password works
    database_url = make_url(POSTGRES_URL).set(password=password).render_as_string(False)
    secrets = {"key": key, "api key": api_key, "token": token, "password": password}
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DOCSTATE_")},
        "PYTHONPATH": str(ROOT),
        "DOCSTATE_ENCRYPTION_KEYS": f"k1:{key}",
        "DOCSTATE_TEMPORAL_API_KEY": api_key,
        "DOCSTATE_TEMPORAL_TLS": "false",  # the dev server is plain; the key still travels
        "DOCSTATE_CODEC_TOKENS": token,
        "DOCSTATE_DATABASE_URL": database_url,
        "DOCSTATE_BLOB_DIR": str(tmp_path / "blobs"),
    }
    cli = [sys.executable, str(ROOT / "starter.py")]
    data = tmp_path / "state"

    def run(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*cli, *args],
            env={**env, **extra},
            cwd=ROOT,  # the repository's pipelines and samples
            capture_output=True,
            text=True,
            timeout=240,
            stdin=subprocess.DEVNULL,
        )

    outputs: dict[str, str] = {}
    ports = ("--port", str(free_port()), "--ui-port", str(free_port()))
    dev = run("dev", "--demo", "--once", *ports, "--data-dir", str(data))
    assert dev.returncode == 0, dev.stdout + dev.stderr
    assert "codec server for the web UI: http://127.0.0.1:" in dev.stdout
    assert f"projection: {safe_url(database_url)}" in dev.stdout and "***" in dev.stdout
    outputs["dev"] = dev.stdout + dev.stderr
    upgrade = run("db", "upgrade")
    assert upgrade.returncode == 0 and "***" in upgrade.stdout
    outputs["db upgrade"] = upgrade.stdout + upgrade.stderr
    missing = run("status", "no-such-document")
    assert missing.returncode == 1 and missing.stderr.startswith("docstate: error:")
    outputs["status"] = missing.stdout + missing.stderr
    unreachable = run("list", DOCSTATE_TEMPORAL_ADDRESS=f"127.0.0.1:{free_port()}")
    outputs["list, no server"] = unreachable.stdout + unreachable.stderr
    # A malformed key: named, never echoed.
    short = base64.b64encode(os.urandom(31)).decode()
    bad = run("list", DOCSTATE_ENCRYPTION_KEYS=f"k1:{short}")
    assert bad.returncode == 1 and "DOCSTATE_ENCRYPTION_KEYS: key 'k1'" in bad.stderr
    assert short not in bad.stderr
    outputs["bad key"] = bad.stdout + bad.stderr
    invalid = run("list", DOCSTATE_TEMPORAL_TLS="sometimes")
    assert invalid.returncode == 1 and invalid.stderr.count("\n") == 1
    assert "DOCSTATE_TEMPORAL_TLS" in invalid.stderr and "is invalid" in invalid.stderr

    codec_port = free_port()
    codec = spawn([*cli[1:], "codec-server", "--port", str(codec_port)], env, tmp_path)
    assert codec.stdout is not None
    banner = codec.stdout.readline()
    # the banner comes once it listens (and handles signals): a client may connect now
    socket.create_connection(("127.0.0.1", codec_port), timeout=5).close()
    codec.send_signal(signal.SIGINT)
    rest, _ = codec.communicate(timeout=30)
    assert banner.startswith("codec server at http://127.0.0.1:") and "1 token(s)" in banner
    outputs["codec-server"] = banner + rest

    for log in data.rglob("*.log"):
        outputs[str(log)] = log.read_text(errors="replace")
    assert any("worker ready" in text for text in outputs.values())
    for where, text in outputs.items():
        for what, secret in secrets.items():
            assert not appears(secret, text), f"the {what} appears in {where}"


def codec_server(
    tmp_path: Path, flags: list[str], **settings: str
) -> subprocess.CompletedProcess[str]:
    """``docstate codec-server`` with ``flags`` and only the DOCSTATE_ settings given."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DOCSTATE_")},
        "PYTHONPATH": str(ROOT),
        **settings,
    }
    return subprocess.run(
        [sys.executable, str(ROOT / "starter.py"), "codec-server", *flags],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_codec_server_refuses_to_serve_unprotected(tmp_path: Path) -> None:
    keyed = {"DOCSTATE_ENCRYPTION_KEYS": f"k1:{new_key()}"}
    cases: list[tuple[dict[str, str], list[str], str]] = [
        ({}, [], "the codec server needs DOCSTATE_ENCRYPTION_KEYS"),
        (keyed, [], "DOCSTATE_CODEC_TOKENS is not set"),
        (keyed, ["--no-auth", "--host", "0.0.0.0"], "not on 0.0.0.0, only on a loopback"),
    ]
    for settings, flags, message in cases:
        result = codec_server(tmp_path, flags, **settings)
        assert result.returncode == 1, result.stderr
        assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr


def test_codec_server_on_a_taken_port_says_so(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = codec_server(
            tmp_path,
            ["--no-auth", "--port", str(port)],
            DOCSTATE_ENCRYPTION_KEYS=f"k1:{new_key()}",
        )
    assert result.returncode == 1, result.stderr
    said = f"docstate: error: the codec server could not listen on 127.0.0.1:{port}"
    assert result.stderr.strip().splitlines()[-1] == f"{said} (is the port taken?)"
    assert "Traceback" not in result.stderr
