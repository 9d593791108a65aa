"""Every HTTP request counted and timed by route template and status code.

Its trace span is FastAPI's own (FastAPI 0.142 and later trace every request once a
tracer provider is set, as ``DOCSTATE_TRACING`` does): a ``SERVER`` span named
``<method> <route>`` with ``http.route`` and ``http.response.status_code``, the ancestor
of the workflow starts the request makes.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from docstate.observability.apimetrics import ApiMetrics

UNMATCHED = "unmatched"
"""The route label of a request no route matched (not its path: no label per URL)."""


def route_of(scope: Scope) -> str:
    """The template of the route that served ``scope`` (``/jobs/{job_id}``)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


class RequestMetrics:
    """ASGI middleware recording each HTTP request in :class:`ApiMetrics`.

    Args:
        app: The application it wraps.
        metrics: Where requests are counted and timed.
    """

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what the client gets when the app raises before answering

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, sending)
        finally:
            # the router has put the matched route in the scope by now
            elapsed = time.perf_counter() - started
            self.metrics.request(scope["method"], route_of(scope), status, elapsed)
