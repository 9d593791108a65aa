"""Leases on a fairness key's slots: how many transitions of one key run at once.

A key limited to N has slots 0..N-1; a running transition holds one as a row of
``key_leases``. Every worker asks the same table, so the limit holds however many there
are (an in-process counter would not). A lease lapses at its expiry unless renewed: a
holder that ended without giving it back holds no slot for good.

Taking a slot is a conditional upsert: insert the slot's row, or take it over when its
lease has lapsed. Two takers of one slot meet on its primary key; the database lets one
win (PostgreSQL re-checks the condition on the row the other just wrote, SQLite runs one
writer at a time), and the loser tries the next free slot.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from docstate.projection.schema import key_leases as leases


class KeyLeases:
    """The lease table of one projection database.

    Args:
        engine: The projection's engine.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
        self._insert: Any = dialect.insert

    async def acquire(
        self, key: str, holder: str, limit: int, ttl: timedelta, now: datetime | None = None
    ) -> int | None:
        """Take one of ``key``'s ``limit`` slots for ``holder`` until ``now + ttl``.

        Idempotent: a holder that has a slot of ``key`` already keeps it (renewed), so a
        retried call takes no second one.

        Returns:
            The slot taken, or ``None`` when all of them are held.
        """
        now = now or datetime.now(UTC)
        expires = now + ttl
        async with self.engine.begin() as conn:
            held = await self._renew(conn, key, holder, expires, below=limit)
            if held is not None:
                return held
            busy = await conn.scalars(
                sa.select(leases.c.slot).where(
                    leases.c.key == key, leases.c.expires_at > now, leases.c.slot < limit
                )
            )
            taken = set(busy)
            for slot in (s for s in range(limit) if s not in taken):
                if await self._take(conn, key, slot, holder, expires, now):
                    return slot
        return None

    async def renew(self, key: str, holder: str, ttl: timedelta) -> bool:
        """Extend ``holder``'s lease on ``key`` by ``ttl`` from now; false when it has none."""
        async with self.engine.begin() as conn:
            expires = datetime.now(UTC) + ttl
            return await self._renew(conn, key, holder, expires) is not None

    async def release(self, key: str, holder: str) -> None:
        """Give back every slot of ``key`` that ``holder`` holds."""
        async with self.engine.begin() as conn:
            await conn.execute(
                sa.delete(leases).where(leases.c.key == key, leases.c.holder == holder)
            )

    async def holders(self, key: str, now: datetime | None = None) -> list[str]:
        """Who holds a live lease on ``key``, by slot."""
        now = now or datetime.now(UTC)
        async with self.engine.connect() as conn:
            rows = await conn.scalars(
                sa.select(leases.c.holder)
                .where(leases.c.key == key, leases.c.expires_at > now)
                .order_by(leases.c.slot)
            )
            return list(rows)

    async def expiry(self, key: str) -> datetime | None:
        """When the last of ``key``'s leases lapses unless renewed (``None``: none)."""
        async with self.engine.connect() as conn:
            latest: datetime | None = await conn.scalar(
                sa.select(sa.func.max(leases.c.expires_at)).where(leases.c.key == key)
            )
            return latest

    @staticmethod
    async def _renew(
        conn: AsyncConnection, key: str, holder: str, expires: datetime, below: int | None = None
    ) -> int | None:
        update = (
            sa.update(leases)
            .where(leases.c.key == key, leases.c.holder == holder)
            .values(expires_at=expires)
            .returning(leases.c.slot)
        )
        if below is not None:  # a lowered limit: a slot past it is not kept
            update = update.where(leases.c.slot < below)
        slots = list(await conn.scalars(update))
        return min(slots) if slots else None

    async def _take(
        self,
        conn: AsyncConnection,
        key: str,
        slot: int,
        holder: str,
        expires: datetime,
        now: datetime,
    ) -> bool:
        insert = self._insert(leases).values(key=key, slot=slot, holder=holder, expires_at=expires)
        upsert = insert.on_conflict_do_update(
            index_elements=[leases.c.key, leases.c.slot],
            set_={"holder": insert.excluded.holder, "expires_at": insert.excluded.expires_at},
            where=leases.c.expires_at <= now,  # only a lapsed lease is taken over
        ).returning(leases.c.slot)
        return (await conn.execute(upsert)).first() is not None
