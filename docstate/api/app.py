"""The FastAPI application: ``create_app(settings)``.

Stateless over Temporal and the projection: every answer is read from them, so any
number of API processes serve the same jobs, and a job submitted to one is followed,
streamed and cancelled through another.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from docstate.api import documents, errors, jobs, objects, sse, status
from docstate.api.deps import Services, require_key, require_metrics_key
from docstate.api.status import docstate_version
from docstate.api.telemetry import RequestMetrics
from docstate.api.watch import JobWatcher
from docstate.client import Client
from docstate.config import Settings
from docstate.observability.apimetrics import ApiMetrics
from docstate.observability.tracing import docstate_tracer

DESCRIPTION = """\
DocState's HTTP API: submit jobs of files and objects with operations, follow them (poll,
wait, or a Server-Sent Events stream), act on them (cancel, retry, skip, pause, resume),
and read any document's history, lineage and content.

Every error has one shape: `{"error": {"code", "message", "details"}}`. When API keys are
configured, every endpoint but `/health` needs an `X-Api-Key` header (`/metrics`, the
Prometheus metrics, also takes the key as `Authorization: Bearer`).
"""


def create_app(settings: Settings, client: Client | None = None) -> FastAPI:
    """The API for ``settings``.

    Args:
        settings: Temporal, database, blob store and ``api_*`` settings.
        client: An embedded client to serve with (the caller keeps it); by default the
            app connects one at startup and closes it at shutdown.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = client is None
        serving = client or await Client.connect(settings)
        jobs = JobWatcher(serving.queries.engine, on_read=metrics.job_read)
        app.state.services = Services(serving, settings, jobs)
        metrics.watch(serving.queries)
        serving.watcher.observer = metrics
        try:
            yield
        finally:
            serving.watcher.observer = None
            await jobs.close()
            if own:
                await serving.close()

    app = FastAPI(
        title="DocState",
        version=docstate_version(),
        description=DESCRIPTION,
        lifespan=lifespan,
        # served below, behind the key like everything but /health
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    errors.install(app)
    metrics = ApiMetrics(settings.metrics_interval.total_seconds())
    app.add_middleware(RequestMetrics, metrics=metrics)
    # With tracing on, the tracer provider is set before the first request: FastAPI then
    # traces every request itself, and the request's span is the parent of the workflow
    # starts it makes (the Temporal client carries the tracing interceptor).
    docstate_tracer(settings)
    keyed = [Depends(require_key)]

    @app.get("/metrics", include_in_schema=False, dependencies=[Depends(require_metrics_key)])
    async def prometheus_metrics() -> Response:
        return Response(await metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/openapi.json", include_in_schema=False, dependencies=keyed)
    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=keyed)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="DocState API")

    app.include_router(status.open_router)
    app.include_router(status.router)
    app.include_router(jobs.router, dependencies=keyed)
    # The stream's route first: /progress/{id:path} would also match ".../stream".
    app.include_router(sse.router, dependencies=keyed)
    app.include_router(objects.router, dependencies=keyed)
    app.include_router(documents.router, dependencies=keyed)
    return app
