"""Is a loopback port free, and if not, which process holds it (Linux: from /proc)."""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path

from docstate.errors import ConfigurationError

_LISTEN = "0A"  # the TCP state LISTEN in /proc/net/tcp


def listening_inodes(port: int) -> set[str]:
    """Socket inodes listening on ``port`` (any address), from /proc/net/tcp and tcp6."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state == _LISTEN and int(local.rsplit(":", 1)[1], 16) == port:
                    inodes.add(inode)
    return inodes


def port_holder(port: int) -> tuple[int, str] | None:
    """The pid and command line of the process listening on ``port``, when it can be
    found (Linux, and a process this user may inspect)."""
    inodes = {f"socket:[{i}]" for i in listening_inodes(port)}
    if not inodes:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) in inodes:
                    raw = (proc / "cmdline").read_bytes().replace(b"\0", b" ").strip()
                    return int(proc.name), raw.decode(errors="replace")[:120]
    return None


def describe_holder(port: int) -> str:
    """``pid 123 (temporal server start-dev ...)``, or ``another process``."""
    holder = port_holder(port)
    return f"pid {holder[0]} ({holder[1]})" if holder else "another process"


def require_free(port: int, what: str, flag: str, host: str = "127.0.0.1") -> None:
    """Refuse a taken port, naming what holds it.

    Raises:
        ConfigurationError: when something listens on ``host:port`` already.
    """
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            raise ConfigurationError(
                f"port {port} ({what}) is taken by {describe_holder(port)}: stop it, or pass "
                f"{flag} with a free port"
            ) from None
