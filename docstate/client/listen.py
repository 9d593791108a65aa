"""PostgreSQL push for the watcher: LISTEN on the projection's change channel."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import asyncpg
from sqlalchemy.engine import URL

log = logging.getLogger(__name__)

CHANNEL = "docstate_documents"
"""Notified (by triggers, migrations 0005 and 0007) when a statement writes document
rows; since 0007 the payload is their ids, comma-separated (empty: too many to name)."""


class Listener:
    """One asyncpg connection of its own that LISTENs and calls ``notify`` on each
    notification, with the document ids it names (``None``: read everything).

    It is not a pool connection: it lives as long as something is watched. When it drops
    (database restarted, backend terminated), :meth:`ensure` opens a new one, at most once
    per ``retry`` seconds; meanwhile the watcher ticks, so nothing is missed, only later.
    """

    def __init__(
        self, url: URL, notify: Callable[[Iterable[str] | None], None], retry: float = 1.0
    ) -> None:
        self._dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._notify = notify
        self._retry = retry
        self._conn: asyncpg.Connection[Any] | None = None
        self._tried = -float("inf")
        self.notifications = 0
        """Notifications received so far."""
        self.connections = 0
        """LISTEN connections opened so far (more than one: it dropped and came back)."""

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    @property
    def server_pid(self) -> int | None:
        """The backend process of the LISTEN connection, while there is one."""
        return self._conn.get_server_pid() if self.connected and self._conn else None

    async def ensure(self) -> bool:
        """Listen if not listening (and not tried in the last ``retry`` seconds).

        Returns:
            Whether a LISTEN connection is up. A new one also calls ``notify``: whatever
            was committed while none was up must be read now.
        """
        if self.connected:
            return True
        await self.close()
        if time.monotonic() - self._tried < self._retry:
            return False
        self._tried = time.monotonic()
        try:
            conn = await asyncpg.connect(self._dsn, timeout=5)
            await conn.add_listener(CHANNEL, self._on_notification)
            # a dropped connection wakes the watcher at once: it ticks, and reconnects
            conn.add_termination_listener(lambda _conn: self._notify(None))
        except (OSError, asyncpg.PostgresError, TimeoutError) as err:
            log.warning("watcher cannot LISTEN (ticking instead): %s", err)
            return False
        self._conn = conn
        self.connections += 1
        self._notify(None)
        return True

    def _on_notification(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        self.notifications += 1
        self._notify(payload.split(",") if payload else None)

    async def stop(self) -> None:
        """Stop listening (nothing is watched); the next :meth:`ensure` connects at once."""
        await self.close()
        self._tried = -float("inf")

    async def close(self) -> None:
        """Close the connection, if any."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)
