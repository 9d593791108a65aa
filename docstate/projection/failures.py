"""The projection database's failures, said in one line with what to do about them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from docstate.errors import ProjectionUnavailable

UPGRADE_HINT = "run `docstate db upgrade`"

# Words in the drivers' messages (asyncpg, aiosqlite) that tell the cases apart.
_NO_SCHEMA = ("no such table", "does not exist", "undefinedtable")


def shown_url(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(malformed URL)"


def describe(err: BaseException, url: str) -> ProjectionUnavailable | None:
    """The :class:`ProjectionUnavailable` that ``err`` means, or None when it is not a
    database failure (a bug is left as it is)."""
    if not isinstance(err, SQLAlchemyError | OSError):
        return None
    where = shown_url(url)
    cause = err.orig if isinstance(err, DBAPIError) and err.orig is not None else err
    name = type(cause).__name__
    detail = " ".join(str(cause).split()) or name
    lowered = f"{name} {detail}".lower()
    if "invalidcatalogname" in lowered or ("database" in lowered and "does not exist" in lowered):
        return ProjectionUnavailable(
            f"the projection database at {where} does not exist ({detail}): "
            f"create it (createdb), then {UPGRADE_HINT}"
        )
    if any(marker in lowered for marker in _NO_SCHEMA) and (
        "documents" in lowered or "document_events" in lowered or "alembic" in lowered
    ):
        return ProjectionUnavailable(
            f"the projection at {where} has no DocState tables ({detail}): {UPGRADE_HINT}"
        )
    if isinstance(cause, OSError) or "connect" in lowered or "closed" in lowered:
        return ProjectionUnavailable(
            f"cannot reach the projection database at {where} ({detail}): is it running? "
            f"Check DOCSTATE_DATABASE_URL; a new database needs `docstate db upgrade`"
        )
    return ProjectionUnavailable(f"the projection database at {where} failed: {detail}")


@contextlib.contextmanager
def database_errors(url: str) -> Iterator[None]:
    """Turn a database failure inside the block into :class:`ProjectionUnavailable`."""
    try:
        yield
    except (SQLAlchemyError, OSError) as err:
        translated = describe(err, url)
        if translated is None:
            raise
        raise translated from err
