"""Async engines for the projection: PostgreSQL (asyncpg) or SQLite (aiosqlite)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from docstate.errors import ConfigurationError

SUPPORTED = ("postgresql+asyncpg", "sqlite+aiosqlite")


def create_engine(url: str) -> AsyncEngine:
    """An engine for ``url``, tuned for the projection's many small writes.

    Raises:
        ConfigurationError: when the URL is malformed or names an unsupported driver.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as err:
        raise ConfigurationError(f"database URL {url!r} is malformed: {err}") from None
    if parsed.drivername not in SUPPORTED:
        raise ConfigurationError(
            f"database URL driver {parsed.drivername!r} is not supported; "
            f"use one of {', '.join(SUPPORTED)}"
        )
    try:
        if parsed.drivername.startswith("sqlite"):
            return _sqlite_engine(url, parsed.database)
        return create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
    except NoSuchModuleError as err:  # pragma: no cover - drivers are dependencies
        raise ConfigurationError(str(err)) from None


def _sqlite_engine(url: str, database: str | None) -> AsyncEngine:
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, connect_args={"timeout": 30})

    @sa.event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        # WAL lets readers (CLI, API) run beside the worker's writes; busy_timeout makes
        # concurrent writers wait their turn instead of failing.
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    return engine
