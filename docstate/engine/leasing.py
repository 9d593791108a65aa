"""The lease activities of the per-key limit (see :mod:`docstate.engine.limits`)."""

from __future__ import annotations

from temporalio import activity

from docstate.engine.limits import (
    ACQUIRE_ACTIVITY,
    RELEASE_ACTIVITY,
    RENEW_ACTIVITY,
    LeaseRequest,
)
from docstate.projection.leases import KeyLeases


class LeaseActivities:
    """Local activities a document workflow runs around a transition of a limited key.

    Args:
        leases: The projection's lease table.
    """

    def __init__(self, leases: KeyLeases) -> None:
        self.leases = leases

    @activity.defn(name=ACQUIRE_ACTIVITY)
    async def acquire(self, lease: LeaseRequest) -> bool:
        """Whether the holder got (or already had) a slot of its key."""
        slot = await self.leases.acquire(lease.key, lease.holder, lease.limit, lease.ttl)
        return slot is not None

    @activity.defn(name=RENEW_ACTIVITY)
    async def renew(self, lease: LeaseRequest) -> bool:
        """Whether the holder still held its slot (it is renewed)."""
        held = await self.leases.renew(lease.key, lease.holder, lease.ttl)
        if not held:
            activity.logger.warning(
                "%s's slot of key %r had lapsed: the key may run one more than its limit",
                lease.holder,
                lease.key,
            )
        return held

    @activity.defn(name=RELEASE_ACTIVITY)
    async def release(self, lease: LeaseRequest) -> bool:
        """Give the holder's slot back."""
        await self.leases.release(lease.key, lease.holder)
        return True
