"""``docstate setup`` and ``docstate health``: what a deployment runs around its workers."""

from __future__ import annotations

from docstate.config import Settings
from docstate.projection import create_engine, ensure_current, upgrade
from docstate.projection.failures import shown_url
from docstate.provision import check_search_attributes, register_search_attributes
from docstate.temporal import connect_temporal


async def setup(settings: Settings) -> int:
    """Migrate the projection and register the search attributes (both idempotent)."""
    await upgrade(settings.database_url)
    temporal = await connect_temporal(settings)
    added = await register_search_attributes(temporal, settings.namespace)
    print(f"projection at {shown_url(settings.database_url)} is up to date")
    print(
        f"search attributes in namespace {settings.namespace!r}: "
        + (f"added {', '.join(added)}" if added else "already registered")
    )
    return 0


async def health(settings: Settings) -> int:
    """Check what a worker or API process needs: the projection (migrated), Temporal, and
    DocState's search attributes there.

    A failure raises a DocStateError, which the command prints as one line (exit 1).
    """
    engine = create_engine(settings.database_url)
    try:
        await ensure_current(engine)
    finally:
        await engine.dispose()
    temporal = await connect_temporal(settings)
    await temporal.service_client.check_health()
    await check_search_attributes(temporal, settings.namespace)
    print(
        f"ok: projection migrated, Temporal at {settings.temporal_address} answers, "
        "search attributes registered"
    )
    return 0
