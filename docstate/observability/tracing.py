"""OpenTelemetry traces: a document's life as one trace, from the submit to each
transition and its projection write.

With ``DOCSTATE_TRACING=true``, every client and worker DocState builds carries the
Temporal SDK's ``TracingInterceptor`` (spans ``StartWorkflow``, ``RunWorkflow``,
``StartActivity``, ``RunActivity``, linked across processes through workflow headers),
and the projection writes of a transition are a span of their own with the document id
as an attribute. The transitions a local run takes together get a ``RunActivity`` span
each, as if each were its own activity. In the HTTP API, FastAPI traces each request (a
server span), the ancestor of the workflow starts it makes. Spans go to the tracer
provider the process has; if it has none, DocState installs one exporting OTLP over
HTTP, configured by the standard ``OTEL_*`` variables (``OTEL_EXPORTER_OTLP_ENDPOINT``,
``OTEL_SERVICE_NAME``, ...).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from docstate.config import Settings
from docstate.errors import ConfigurationError
from docstate.projection.records import ProjectionWrite
from docstate.projection.writer import Writer

try:  # the `tracing` extra: DocState runs without OpenTelemetry installed
    from opentelemetry import trace
    from opentelemetry.trace import Tracer
    from temporalio.contrib.opentelemetry import TracingInterceptor
except ImportError:  # pragma: no cover - exercised only where the extra is absent
    trace = None  # type: ignore[assignment]

TRACER_NAME = "docstate"


def tracing_interceptors(settings: Settings) -> list[TracingInterceptor]:
    """The interceptors a Temporal client or worker needs for tracing (none when off).

    Raises:
        ConfigurationError: when tracing is on but OpenTelemetry is not installed.
    """
    tracer = docstate_tracer(settings)
    return [] if tracer is None else [TracingInterceptor(tracer)]


def docstate_tracer(settings: Settings) -> Tracer | None:
    """DocState's tracer (the interceptors' and the projection writes'), or None when off;
    sets up the process's tracer provider when it has none.

    Raises:
        ConfigurationError: when tracing is on but OpenTelemetry is not installed.
    """
    if not settings.tracing:
        return None
    if trace is None:
        raise ConfigurationError(
            "DOCSTATE_TRACING is on but OpenTelemetry is not installed: "
            "pip install 'docstate[tracing]'"
        )
    _ensure_provider()
    return trace.get_tracer(TRACER_NAME)


def _ensure_provider() -> None:
    from opentelemetry.sdk.trace import TracerProvider

    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return  # the application configured its own: use it
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "docstate"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)


@contextmanager
def traced_attempt(activity_name: str, document_id: str) -> Iterator[None]:
    """A span for one transition attempt that shares its activity (a local run's), named
    as the interceptor names an activity's; only when that activity is traced."""
    if trace is None or not trace.get_current_span().is_recording():
        yield
        return
    with trace.get_tracer(TRACER_NAME).start_as_current_span(
        f"RunActivity:{activity_name}", attributes={"docstate.document_id": document_id}
    ):
        yield


class TracedWriter:
    """A projection writer whose every batch is a span naming the documents it writes."""

    def __init__(self, writer: Writer) -> None:
        self.writer = writer
        self.tracer = trace.get_tracer(TRACER_NAME)

    async def apply(self, writes: Sequence[ProjectionWrite]) -> None:
        ids = sorted({w.document_id for w in writes})
        with self.tracer.start_as_current_span(
            "docstate.projection.write",
            attributes={"docstate.document_id": ids[0] if len(ids) == 1 else ",".join(ids)},
        ):
            await self.writer.apply(writes)

    async def close(self) -> None:
        await self.writer.close()
