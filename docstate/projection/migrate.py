"""Alembic, driven from code: ``docstate db upgrade`` and the worker's schema check."""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from docstate.errors import ConfigurationError
from docstate.projection.engine import create_engine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["database_url"] = url
    return config


async def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the projection at ``url`` to ``revision``."""
    # Alembic's env.py runs its own event loop; give it a thread without one.
    await asyncio.to_thread(command.upgrade, alembic_config(url), revision)


async def create_database(url: str) -> bool:
    """Create the PostgreSQL database ``url`` names, if missing (SQLite creates its own).

    Returns:
        Whether it was created.
    """
    target = make_url(url)
    if not target.drivername.startswith("postgresql"):
        return False
    admin = create_engine(target.set(database="postgres").render_as_string(hide_password=False))
    try:
        async with admin.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            exists = await conn.scalar(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :name"),
                {"name": target.database},
            )
            if not exists:
                await conn.execute(sa.text(f'CREATE DATABASE "{target.database}"'))
    finally:
        await admin.dispose()
    return not exists


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("")).get_current_head()


async def ensure_current(engine: AsyncEngine) -> None:
    """Fail early, and say what to do, when the schema is missing or out of date.

    Raises:
        ConfigurationError: when the database is not at the newest migration.
    """
    async with engine.connect() as conn:
        current = await conn.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )
    head = head_revision()
    if current != head:
        raise ConfigurationError(
            f"the projection schema at {engine.url.render_as_string()} is at revision "
            f"{current or 'none'}, expected {head}: run `docstate db upgrade`"
        )
