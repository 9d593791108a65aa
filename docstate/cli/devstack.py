"""The processes of ``docstate dev``: where they listen, how to start, find and stop them."""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

from docstate.config import Settings
from docstate.devserver import DevServer
from docstate.errors import ConfigurationError, DocStateError
from docstate.ports import describe_holder, port_holder


def stack_environment(settings: Settings) -> dict[str, str]:
    """The variables that point a process at this dev stack, paths made absolute so they
    hold from any directory."""
    url = settings.database_url
    prefix = "sqlite+aiosqlite:///"
    if url.startswith(prefix) and not Path(url.removeprefix(prefix)).is_absolute():
        url = prefix + str(Path(url.removeprefix(prefix)).resolve())
    return {
        "DOCSTATE_TEMPORAL_ADDRESS": settings.temporal_address,
        "DOCSTATE_NAMESPACE": settings.namespace,
        "DOCSTATE_TASK_QUEUE": settings.task_queue,
        "DOCSTATE_DATABASE_URL": url,
        "DOCSTATE_BLOB_DIR": str(Path(settings.blob_dir).resolve()),
        "DOCSTATE_PIPELINES": ",".join(settings.pipelines),
        "DOCSTATE_API_HOST": settings.api_host,
        "DOCSTATE_API_PORT": str(settings.api_port),
    }


def exports(settings: Settings) -> list[str]:
    """``export NAME=value`` lines, quoted for a POSIX shell. A database URL with a
    password is not printed (a secret): the terminal that set it has it already."""
    lines = []
    for name, value in stack_environment(settings).items():
        if name == "DOCSTATE_DATABASE_URL" and _has_password(value):
            lines.append(f"# {name}: as set here (not shown: it holds a password)")
        else:
            lines.append(f"export {name}={shlex.quote(value)}")
    return lines


def _has_password(url: str) -> bool:
    try:
        return make_url(url).password is not None
    except Exception:  # a malformed URL is refused elsewhere; here, show nothing of it
        return True


def check_ours(server: DevServer, port: int) -> None:
    """Make sure the server answering on ``port`` is the one just started, not another
    that held the port first (our own would then have failed to bind)."""
    holder = port_holder(port)
    if server.process.poll() is not None or (holder and holder[0] != server.process.pid):
        server.stop()
        raise ConfigurationError(
            f"port {port} is answered by {describe_holder(port)}, not by the dev server "
            "started here: stop it, or pass --port with a free port"
        )


def start_process(settings: Settings, log_file: Path, command: str) -> subprocess.Popen[bytes]:
    """``docstate <command>`` (worker, api) on this stack, its output in ``log_file``."""
    env = {**os.environ, **stack_environment(settings)}
    with log_file.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "docstate", command],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def stop_process(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # drains: running transitions finish
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def api_answering(settings: Settings, api: subprocess.Popen[bytes], log: Path) -> str:
    """The API's address, once its ``/health`` answers.

    Raises:
        DocStateError: when the API process exits (its log says why) or does not answer.
    """
    url = f"http://{settings.api_host}:{settings.api_port}"
    async with httpx.AsyncClient(timeout=2) as http:
        for _ in range(300):
            if api.poll() is not None:
                raise DocStateError(f"the API exited with code {api.returncode}; see {log}")
            try:
                if (await http.get(f"{url}/health")).status_code == 200:
                    return url
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise DocStateError(f"the API at {url} does not answer; see {log}")
