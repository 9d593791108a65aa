"""Refusing a SQLite projection file that does not exist (instead of creating it empty)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from docstate.errors import ProjectionUnavailable


def require_projection(url: str) -> None:
    """Refuse a SQLite projection file that does not exist, instead of creating an empty
    one: it is almost always the wrong directory or a missing setting.

    Raises:
        ProjectionUnavailable: naming the resolved path and what to do.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        return  # not a URL at all: the engine's own check says so, in one line
    database = parsed.database  # without the query string (``?timeout=5``)
    if not parsed.drivername.startswith("sqlite") or database in (None, "", ":memory:"):
        return
    if parsed.query.get("uri") == "true":
        return  # an SQLite URI (``file:...?mode=ro``): the driver reads it, not a path
    path = Path(database)
    if not path.exists():
        raise ProjectionUnavailable(
            f"no projection at {path.resolve()}: set DOCSTATE_DATABASE_URL to the one "
            "in use (`docstate dev` prints it), or create it with `docstate db upgrade`"
        )
