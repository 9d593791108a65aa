"""Every HTTP request measured: counted and timed by route template and status code, and,
with tracing on, a server span that is the parent of what the request does (the
workflow starts of a submit, and so the whole trace of its documents)."""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from docstate.observability.apimetrics import ApiMetrics

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer

UNMATCHED = "unmatched"
"""The route label of a request no route matched (not its path: no label per URL)."""


def route_of(scope: Scope) -> str:
    """The template of the route that served ``scope`` (``/jobs/{job_id}``)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


class RequestTelemetry:
    """ASGI middleware: :class:`ApiMetrics` of each request, and its span when ``tracer``.

    Args:
        app: The application it wraps.
        metrics: Where requests are counted and timed.
        tracer: DocState's tracer when tracing is on (see
            :func:`docstate.observability.tracing.docstate_tracer`), else None.
    """

    def __init__(self, app: ASGIApp, metrics: ApiMetrics, tracer: Tracer | None) -> None:
        self.app = app
        self.metrics = metrics
        self.tracer = tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        status = 500  # what the client gets when the app raises before answering

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = time.perf_counter()
        with self._span(scope) as span:
            try:
                await self.app(scope, receive, sending)
            finally:
                route = route_of(scope)
                self.metrics.request(method, route, status, time.perf_counter() - started)
                if span is not None:
                    _describe(span, method, route, status)

    def _span(self, scope: Scope) -> contextlib.AbstractContextManager[Span | None]:
        """The request's server span, current while the app runs (its parent is the
        caller's span when the request carries a ``traceparent`` header)."""
        if self.tracer is None:
            return contextlib.nullcontext()
        from opentelemetry.propagate import extract
        from opentelemetry.trace import SpanKind

        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        attributes: dict[str, Any] = {
            "http.request.method": scope["method"],
            "url.path": scope["path"],
        }
        return self.tracer.start_as_current_span(
            scope["method"], context=extract(headers), kind=SpanKind.SERVER, attributes=attributes
        )


def _describe(span: Span, method: str, route: str, status: int) -> None:
    """Name the span after its route (known once routed) and record the answer."""
    from opentelemetry.trace import StatusCode

    span.update_name(f"{method} {route}")
    span.set_attribute("http.route", route)
    span.set_attribute("http.response.status_code", status)
    if status >= 500:
        span.set_status(StatusCode.ERROR)
