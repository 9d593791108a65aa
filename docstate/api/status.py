"""Service status, liveness, readiness, and the published document types."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from docstate.api.deps import Services, ServicesDep, require_key
from docstate.api.errors import RESPONSES
from docstate.api.models import Health, ServiceStatus, TypeOut
from docstate.errors import ApiError

open_router = APIRouter(tags=["status"])
router = APIRouter(tags=["status"], responses=RESPONSES, dependencies=[Depends(require_key)])

CHECK_TIMEOUT = 5.0


def docstate_version() -> str:
    try:
        return version("docstate")
    except PackageNotFoundError:  # running from a checkout without an install
        return "unknown"


async def reachable(services: Services) -> tuple[bool, bool]:
    """Whether Temporal and the projection database answer (each within 5 s)."""

    async def temporal() -> bool:
        return await services.client.temporal.service_client.check_health()

    async def database() -> bool:
        async with services.client.queries.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
        return True

    async def within(check: Coroutine[Any, Any, bool]) -> bool:
        try:
            return await asyncio.wait_for(check, CHECK_TIMEOUT)
        except Exception:  # unreachable, refused, timed out: all mean "not ready"
            return False

    t, d = await asyncio.gather(within(temporal()), within(database()))
    return t, d


@open_router.get("/health", response_model=Health)
async def health() -> Health:
    """Liveness: the process answers (no key needed)."""
    return Health(status="ok")


@router.get("/ready", response_model=Health, responses={503: {"model": Health}})
async def ready(services: ServicesDep) -> JSONResponse:
    """Readiness: Temporal and the database answer; 503 otherwise."""
    temporal, database = await reachable(services)
    ok = temporal and database
    body = Health(status="ok" if ok else "unavailable", temporal=temporal, database=database)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@router.get("/api/v1/status", response_model=ServiceStatus)
async def status(services: ServicesDep) -> ServiceStatus:
    """Documents by type and status, Temporal and database reachability, version."""
    temporal, database = await reachable(services)
    counts: dict[str, dict[str, int]] = {}
    if database:
        for (type_name, _, state_status), n in (
            await services.client.queries.status_counts()
        ).items():
            by_status = counts.setdefault(type_name, {})
            by_status[state_status.value] = by_status.get(state_status.value, 0) + n
    return ServiceStatus(
        version=docstate_version(), temporal=temporal, database=database, counts=counts
    )


@router.get("/api/v1/types", response_model=list[TypeOut])
async def types(services: ServicesDep) -> list[TypeOut]:
    """The document types workers have published, with their state graphs."""
    return [TypeOut(**t.model_dump()) for t in (await services.types()).values()]


@router.get("/api/v1/types/{name}", response_model=TypeOut)
async def one_type(name: str, services: ServicesDep) -> TypeOut:
    """One published document type."""
    found = (await services.types()).get(name)
    if found is None:
        known = ", ".join((await services.types()).keys()) or "none"
        raise ApiError(404, "not_found", f"no published type {name!r}; known: {known}")
    return TypeOut(**found.model_dump())
